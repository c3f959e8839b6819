#include "core/uri.h"

#include <cctype>

#include "sddb/error.h"

namespace sddb::detail {

Uri parse_uri(std::string_view text, std::string_view key) {
  const auto sep = text.find("://");
  bool ok = sep != std::string_view::npos && sep > 0;
  for (std::size_t i = 0; ok && i < sep; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    ok = std::isalnum(c) || c == '+' || c == '-' || c == '.';
  }
  if (!ok) {
    throw Error(ErrorCode::invalid_argument,
                std::string(key) + ": '" + std::string(text) +
                    "' is not a URI; expected scheme://..., e.g. sqlite://./data.db");
  }
  Uri uri;
  uri.text = std::string(text);
  for (std::size_t i = 0; i < sep; ++i) {
    uri.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
  }
  uri.rest = std::string(text.substr(sep + 3));
  return uri;
}

}  // namespace sddb::detail
