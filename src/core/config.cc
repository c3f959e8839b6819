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
};

constexpr const char* kKnownKeys =
    "data_backend, metadata_store, artifact_store, vector_search, compute";
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

void apply_file(const std::string& path, const std::string& named_by, Config& cfg) {
  const std::string text = read_file(path, named_by);
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
  if (o.config_file)
    return std::pair{*o.config_file, std::string("named by the config_file argument")};
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
