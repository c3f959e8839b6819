#pragma once
// URIs that name a part: "scheme://rest". Only the split lives here; each implementation reads
// its own `rest` (a path for sqlite:// and file://, a libpq URI for postgresql://).

#include <string>
#include <string_view>

namespace sddb::detail {

struct Uri {
  std::string scheme;  // lowercase, e.g. "sqlite"
  std::string rest;    // everything after "://"
  std::string text;    // the whole URI as given
};

// Throws Error(invalid_argument) naming `key` (e.g. "data_backend (from SDDB_DATA_BACKEND)")
// when `text` has no "scheme://" prefix.
Uri parse_uri(std::string_view text, std::string_view key);

}  // namespace sddb::detail
