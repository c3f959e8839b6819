// load_config: defaults -> TOML file -> SDDB_* environment variables -> explicit arguments.
//
// Decisions:
// - The file holds the keys at its top level only (`data_backend = "sqlite://x.db"`). A [sddb]
//   table is not read: one accepted form means one place to look and no rule for a key given in
//   both; `[sddb]` is reported as an unknown key with a hint. Tables for later sections (a
//   [server] table, say) can be added as known keys when they exist.
// - Relative paths inside URIs stay relative to the current folder, not to the config file, so
//   that SDDB_DATA_BACKEND=sqlite://x.db and the same line in sddb.toml mean the same file.
// - An empty environment variable counts as unset (shells make unsetting awkward); an empty
//   string in the file or in an argument is a value, e.g. metadata_store = "" asks for the
//   default explicitly.

#include "sddb/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "sddb/error.h"

namespace sddb {

namespace {

struct Field {
  const char* key;
  const char* env;
  std::string Config::*member;
  std::optional<std::string> ConfigOverrides::*override_member;
};

const Field kFields[] = {
    {"data_backend", "SDDB_DATA_BACKEND", &Config::data_backend, &ConfigOverrides::data_backend},
    {"metadata_store", "SDDB_METADATA_STORE", &Config::metadata_store,
     &ConfigOverrides::metadata_store},
    {"artifact_store", "SDDB_ARTIFACT_STORE", &Config::artifact_store,
     &ConfigOverrides::artifact_store},
    {"vector_search", "SDDB_VECTOR_SEARCH", &Config::vector_search,
     &ConfigOverrides::vector_search},
    {"compute", "SDDB_COMPUTE", &Config::compute, &ConfigOverrides::compute},
    {"embeddings_url", "SDDB_EMBEDDINGS_URL", &Config::embeddings_url,
     &ConfigOverrides::embeddings_url},
    {"embeddings_model", "SDDB_EMBEDDINGS_MODEL", &Config::embeddings_model,
     &ConfigOverrides::embeddings_model},
    {"embeddings_api_key", "SDDB_EMBEDDINGS_API_KEY", &Config::embeddings_api_key,
     &ConfigOverrides::embeddings_api_key},
};

constexpr const char* kKnownKeys =
    "data_backend, metadata_store, artifact_store, vector_search, compute, embeddings_url, "
    "embeddings_model, embeddings_api_key";
constexpr std::string_view kDefaultFile = "sddb.toml";
// A config file is a handful of lines; anything this large is the wrong file.
constexpr off_t kMaxFileBytes = 1 << 20;

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// `named_by` says who chose the file ("named by SDDB_CONFIG", ...), for the message.
[[noreturn]] void unreadable(const std::string& path, const std::string& named_by,
                             const std::string& why) {
  throw Error(ErrorCode::invalid_argument,
              "config file '" + path + "' (" + named_by + "): cannot read it: " + why);
}

std::string read_file(const std::string& path, const std::string& named_by) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) unreadable(path, named_by, errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) unreadable(path, named_by, errno_text(errno));
  if (S_ISDIR(st.st_mode)) unreadable(path, named_by, "it is a folder");
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      unreadable(path, named_by, errno_text(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (static_cast<off_t>(text.size()) > kMaxFileBytes) {
      unreadable(path, named_by, "it is larger than 1 MiB, which no sddb config is");
    }
  }
  return text;
}

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "a value of no TOML type";
  }
}

std::string where(const std::string& path, const toml::source_region& src) {
  return "config file '" + path + "', line " + std::to_string(src.begin.line);
}

// toml++ 3.3 (Debian's) reaches __builtin_unreachable() -- undefined behaviour, found by
// config_fuzz -- on some non-ASCII characters where it tests for whitespace: between tokens, and
// after a line-ending backslash in a """ string (upstream marzer/tomlplusplus issues 190 and
// 295). TOML allows non-ASCII text only inside strings and comments, so rejecting it everywhere
// else first refuses no valid document; the one valid form refused is a non-ASCII character
// straight after a line-ending backslash, which no sddb setting needs. To agree with toml++ on
// where strings are, a quote must start a token (TOML has no other quotes outside strings).
void reject_what_toml_parser_mishandles(std::string_view text, const std::string& path) {
  enum class State { normal, comment, basic, literal, ml_basic, ml_literal };
  State state = State::normal;
  std::size_t line = 1;
  std::size_t line_start = 0;
  // The last character seen outside strings and comments, ignoring blanks; '\n' at a line start.
  char prev = '\n';
  auto fail = [&](std::size_t i, const char* what) {
    throw Error(ErrorCode::invalid_argument,
                "config file '" + path + "', line " + std::to_string(line) + ", column " +
                    std::to_string(i - line_start + 1) + ": TOML syntax error: " + what);
  };
  auto starts = [&](std::size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
  // A UTF-8 byte order mark, which some editors write, is allowed before the first token.
  const std::size_t start = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      if (state != State::ml_basic && state != State::ml_literal) {
        state = State::normal;
        prev = '\n';
      }
      continue;
    }
    switch (state) {
      case State::normal:
        if (static_cast<unsigned char>(c) >= 0x80) {
          fail(i, "non-ASCII character outside a string or comment");
        }
        if ((c == '"' || c == '\'') &&
            std::string_view("\n=[,{.").find(prev) == std::string_view::npos) {
          // toml++ reads on through such a quote as part of a bare value, so where its string
          // would end is not where it ends for toml++.
          fail(i, "quote in the middle of a key or value");
        }
        if (c != ' ' && c != '\t') prev = c;
        if (c == '#') {
          state = State::comment;
        } else if (c == '"') {
          state = starts(i, "\"\"\"") ? State::ml_basic : State::basic;
          if (state == State::ml_basic) i += 2;
        } else if (c == '\'') {
          state = starts(i, "\'\'\'") ? State::ml_literal : State::literal;
          if (state == State::ml_literal) i += 2;
        }
        break;
      case State::comment:
        break;
      case State::basic:
        if (c == '\\') {
          ++i;  // the escaped character (a newline here is a syntax error toml++ reports)
          if (i < text.size() && text[i] == '\n') --i;
        } else if (c == '"') {
          state = State::normal;
          prev = c;
        }
        break;
      case State::literal:
        if (c == '\'') {
          state = State::normal;
          prev = c;
        }
        break;
      case State::ml_basic:
        if (c == '\\') {
          std::size_t j = i + 1;
          while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) ++j;
          if (j < text.size() && text[j] == '\n') {
            // A line-ending backslash: what follows up to the next visible character is trimmed.
            while (j < text.size() &&
                   (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n')) {
              if (text[j] == '\n') {
                ++line;
                line_start = j + 1;
              }
              ++j;
            }
            if (j < text.size() && static_cast<unsigned char>(text[j]) >= 0x80) {
              fail(j, "non-ASCII character right after a line-ending backslash");
            }
            i = j - 1;
          } else if (j == i + 1) {
            ++i;  // an ordinary escape such as \" or \\ .
            if (i < text.size() && text[i] == '\n') --i;
          }
        } else if (starts(i, "\"\"\"")) {
          i += 2;
          // Up to two more quotes belong to the string: """a""""" is 'a""'.
          for (int extra = 0; extra < 2 && i + 1 < text.size() && text[i + 1] == '"'; ++extra) ++i;
          state = State::normal;
          prev = '"';
        }
        break;
      case State::ml_literal:
        if (starts(i, "\'\'\'")) {
          i += 2;
          for (int extra = 0; extra < 2 && i + 1 < text.size() && text[i + 1] == '\''; ++extra) {
            ++i;
          }
          state = State::normal;
          prev = '"';
        }
        break;
    }
  }
}

void apply_file(const std::string& path, const std::string& named_by, Config& cfg) {
  const std::string text = read_file(path, named_by);
  reject_what_toml_parser_mishandles(text, path);
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw Error(ErrorCode::invalid_argument,
                where(path, e.source()) + ", column " + std::to_string(e.source().begin.column) +
                    ": TOML syntax error: " + std::string(e.description()));
  }
  for (auto&& [key, node] : table) {
    const Field* field = nullptr;
    for (const Field& f : kFields) {
      if (key.str() == f.key) field = &f;
    }
    if (field == nullptr) {
      std::string hint;
      if (node.is_table()) hint = " (sddb reads its keys from the top level, not from a table)";
      throw Error(ErrorCode::invalid_argument, where(path, key.source()) + ": unknown key '" +
                                                   std::string(key.str()) + "'" + hint +
                                                   "; known keys are " + kKnownKeys);
    }
    const toml::value<std::string>* value = node.as_string();
    if (value == nullptr) {
      throw Error(ErrorCode::invalid_argument, where(path, node.source()) + ": key '" + field->key +
                                                   "' must be a string, not " + type_name(node));
    }
    cfg.*(field->member) = value->get();
    cfg.sources[field->key] = path;
  }
}

// The file to read and who named it, or nothing when there is none.
std::optional<std::pair<std::string, std::string>> config_file(const ConfigOverrides& o) {
  if (o.config_file) {
    return std::pair{*o.config_file, std::string("named by the config_file argument")};
  }
  if (auto path = env("SDDB_CONFIG")) return std::pair{*path, std::string("named by SDDB_CONFIG")};
  struct stat st;
  const std::string path(kDefaultFile);
  // Only an absent ./sddb.toml is silently skipped; one that is there but unreadable is
  // reported by read_file.
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return std::nullopt;
  return std::pair{path, std::string("found in the current folder")};
}

// The text before "://" and after it; an empty scheme when `uri` has none.
std::pair<std::string, std::string> split_uri(const std::string& uri) {
  const auto sep = uri.find("://");
  if (sep == std::string::npos) return {};
  std::string scheme = uri.substr(0, sep);
  for (char& c : scheme) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return {scheme, uri.substr(sep + 3)};
}

}  // namespace

std::string Config::resolved_metadata_store() const {
  return metadata_store.empty() ? data_backend : metadata_store;
}

std::string Config::resolved_artifact_store() const {
  if (!artifact_store.empty()) return artifact_store;
  const auto [scheme, rest] = split_uri(data_backend);
  if (scheme == "sqlite") {
    if (rest == ":memory:") return "memory://";
    // An empty path is reported against data_backend by the registry before this is opened.
    if (!rest.empty()) return "file://" + rest + ".artifacts";
  }
  // Server backends keep their artifacts in the database itself.
  return data_backend;
}

Config load_config(const ConfigOverrides& overrides) {
  Config cfg;
  for (const Field& f : kFields) cfg.sources[f.key] = "default";

  if (auto file = config_file(overrides)) apply_file(file->first, file->second, cfg);

  for (const Field& f : kFields) {
    if (auto v = env(f.env)) {
      cfg.*(f.member) = *v;
      cfg.sources[f.key] = f.env;
    }
  }
  for (const Field& f : kFields) {
    if (const auto& v = overrides.*(f.override_member)) {
      cfg.*(f.member) = *v;
      cfg.sources[f.key] = "argument";
    }
  }
  return cfg;
}

}  // namespace sddb
