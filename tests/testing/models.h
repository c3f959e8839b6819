// Small deterministic models for the AI-layer tests (registered as C++ callables), shared by the
// SQLite and PostgreSQL suites so that both run the same listeners.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "sddb/value.h"

namespace sddb::testutil {

// [length, number of 'a', 1]: similar texts get similar vectors.
inline std::vector<std::vector<float>> text_features(const std::vector<Value>& in) {
  std::vector<std::vector<float>> out;
  for (const Value& v : in) {
    const std::string& s = v.as_string();
    out.push_back({static_cast<float>(s.size()),
                   static_cast<float>(std::count(s.begin(), s.end(), 'a')), 1.0f});
  }
  return out;
}

// The input array itself (for vectors given in documents).
inline std::vector<std::vector<float>> identity3(const std::vector<Value>& in) {
  std::vector<std::vector<float>> out;
  for (const Value& v : in) {
    std::vector<float> f;
    for (const Value& x : v.as_array()) f.push_back(static_cast<float>(x.as_double()));
    out.push_back(f);
  }
  return out;
}

}  // namespace sddb::testutil
