#pragma once
// The one exception type of sddb. Every failure a caller can see is an sddb::Error carrying a
// code and a message that names the thing at fault (collection, path inside a document, config
// key, URI). Backends translate driver errors into these codes at their edge.

#include <stdexcept>
#include <string>
#include <string_view>

namespace sddb {

enum class ErrorCode {
  invalid_argument,     // bad input from the caller: a filter, a document, a URI, a config value
  not_found,            // the named thing does not exist
  already_exists,       // a duplicate _id, component version, ...
  failed_precondition,  // the operation is not allowed in the current state
  conflict,             // a concurrent change got in the way; retrying may succeed
  unavailable,          // a server or resource cannot be reached; retrying may succeed
  corruption,           // stored data fails a check (hash, checksum, schema)
  io_error,             // the operating system refused a read or write
  not_supported,        // valid request that this backend or build cannot serve
  internal,             // a bug in sddb
};

// Stable lowercase name of a code, e.g. "invalid_argument".
std::string_view to_string(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace sddb
