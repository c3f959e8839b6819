#pragma once
// The ErrorCode that a call throws, for tests that check which error bad input gets. A call that
// throws nothing is a test failure (and reads as `internal`, which no expectation uses).

#include <gtest/gtest.h>

#include <functional>

#include "sddb/error.h"

namespace sddb::testutil {

inline ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return ErrorCode::internal;
}

// The Error a call throws, for tests that check its message too.
inline Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no sddb::Error thrown";
  return Error(ErrorCode::internal, "none");
}

}  // namespace sddb::testutil
