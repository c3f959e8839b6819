// The one registry of URI schemes (STYLE.md: explicit, no static-initializer magic). To add a
// backend, add a row to the table of the part it implements.

#include <filesystem>
#include <map>
#include <string>

#include "artifacts/stores.h"
#include "backends/sqlite/sqlite.h"
#ifdef SDDB_WITH_POSTGRES
#include "backends/postgres/postgres.h"
#endif
#include "core/uri.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "vector/inmemory.h"

namespace sddb {

namespace {

// Connections opened while building one DB, so that parts naming the same database share it
// (required for sqlite://:memory:, cheaper for files).
struct OpenConnections {
  std::map<std::string, std::shared_ptr<detail::SqliteConnection>> sqlite;
#ifdef SDDB_WITH_POSTGRES
  std::map<std::string, std::shared_ptr<detail::PgPool>> postgres;

  std::shared_ptr<detail::PgPool> postgres_for(const detail::Uri& uri) {
    auto& pool = postgres[uri.text];
    if (!pool) pool = detail::open_postgres(uri.text);
    return pool;
  }
#endif

  std::shared_ptr<detail::SqliteConnection> sqlite_for(const detail::Uri& uri) {
    auto& conn = sqlite[uri.rest];
    if (!conn) conn = detail::open_sqlite(uri.rest, uri.text);
    return conn;
  }
};

std::string key_with_source(const Config& cfg, const std::string& key) {
  auto it = cfg.sources.find(key);
  return key + " (from " + (it == cfg.sources.end() ? std::string("default") : it->second) + ")";
}

[[noreturn]] void unknown_scheme(const detail::Uri& uri, const std::string& key,
                                 const std::string& known) {
  throw Error(ErrorCode::invalid_argument, key + ": unknown scheme '" + uri.scheme + "' in '" +
                                               uri.text + "'; this build knows " + known);
}

bool is_postgres(const detail::Uri& uri) {
  return uri.scheme == "postgresql" || uri.scheme == "postgres";
}

#ifdef SDDB_WITH_POSTGRES
constexpr bool kWithPostgres = true;
constexpr const char* kDataSchemes = "sqlite:// and postgresql://";
#else
constexpr bool kWithPostgres = false;
constexpr const char* kDataSchemes = "sqlite:// (built without PostgreSQL: SDDB_WITH_POSTGRES=OFF)";
#endif

void check_sqlite_path(const detail::Uri& uri, const std::string& key) {
  if (uri.rest.empty()) {
    throw Error(ErrorCode::invalid_argument,
                key + ": '" + uri.text + "' names no file; use sqlite://PATH or sqlite://:memory:");
  }
}

// Each check_* accepts only a URI its open_* can open, so build_datalayer can refuse a bad
// value of any part before the first part creates a file.
detail::Uri check_data(const Config& cfg) {
  const std::string key = key_with_source(cfg, "data_backend");
  detail::Uri uri = detail::parse_uri(cfg.data_backend, key);
  if (kWithPostgres && is_postgres(uri)) return uri;
  if (uri.scheme != "sqlite") unknown_scheme(uri, key, kDataSchemes);
  check_sqlite_path(uri, key);
  return uri;
}

std::shared_ptr<DataBackend> open_data(const detail::Uri& uri, OpenConnections& conns) {
#ifdef SDDB_WITH_POSTGRES
  if (is_postgres(uri)) return detail::make_postgres_backend(conns.postgres_for(uri));
#endif
  return detail::make_sqlite_backend(conns.sqlite_for(uri));
}

// The metadata lives in a database of the data backend's kind: its records and the data they
// describe (outputs, collections) are written by one engine.
detail::Uri check_metadata(const Config& cfg, const detail::Uri& data) {
  const std::string key = key_with_source(cfg, "metadata_store");
  detail::Uri uri = detail::parse_uri(cfg.resolved_metadata_store(), key);
  if (kWithPostgres && is_postgres(uri)) {
    if (!is_postgres(data)) {
      throw Error(ErrorCode::invalid_argument,
                  key + ": '" + uri.text + "' is a postgresql metadata store, but the data " +
                      "backend is '" + data.text + "'; the metadata lives in a database of " +
                      "the data backend's kind");
    }
    return uri;
  }
  if (uri.scheme != "sqlite") unknown_scheme(uri, key, kDataSchemes);
  check_sqlite_path(uri, key);
  if (is_postgres(data)) {
    throw Error(ErrorCode::invalid_argument,
                key + ": '" + uri.text + "' is a sqlite metadata store, but the data backend " +
                    "is '" + data.text + "'; the metadata lives in a database of the data " +
                    "backend's kind");
  }
  return uri;
}

std::shared_ptr<MetadataStore> open_metadata(const detail::Uri& uri, OpenConnections& conns) {
#ifdef SDDB_WITH_POSTGRES
  if (is_postgres(uri)) return detail::make_postgres_metadata(conns.postgres_for(uri));
#endif
  return detail::make_sqlite_metadata(conns.sqlite_for(uri));
}

detail::Uri check_artifacts(const Config& cfg) {
  const std::string key = key_with_source(cfg, "artifact_store");
  detail::Uri uri = detail::parse_uri(cfg.resolved_artifact_store(), key);
  if (uri.scheme == "file" && uri.rest.empty()) {
    throw Error(ErrorCode::invalid_argument, key + ": '" + uri.text + "' names no folder");
  }
  if (kWithPostgres && is_postgres(uri)) return uri;
  if (uri.scheme != "file" && uri.scheme != "memory") {
    unknown_scheme(
        uri, key, kWithPostgres ? "file://, memory:// and postgresql://" : "file:// and memory://");
  }
  return uri;
}

std::shared_ptr<ArtifactStore> open_artifacts(const detail::Uri& uri,
                                              [[maybe_unused]] OpenConnections& conns) {
#ifdef SDDB_WITH_POSTGRES
  if (is_postgres(uri)) return detail::make_postgres_artifacts(conns.postgres_for(uri));
#endif
  if (uri.scheme == "file") return detail::make_file_store(uri.rest, uri.text);
  return detail::make_memory_store();
}

void check_vector_search(const Config& cfg) {
  const std::string key = key_with_source(cfg, "vector_search");
  detail::Uri uri = detail::parse_uri(cfg.vector_search, key);
  if (uri.scheme != "inmemory") unknown_scheme(uri, key, "inmemory://");
}

void check_compute(const Config& cfg) {
  const std::string& c = cfg.compute;
  if (c == "inline" || c == "workers") return;
  if (c.rfind("threads://", 0) == 0) {
    const std::string n = c.substr(10);
    if (!n.empty() && n.size() < 4 && n.find_first_not_of("0123456789") == std::string::npos &&
        std::stoi(n) > 0) {
      return;
    }
  }
  throw Error(ErrorCode::invalid_argument,
              key_with_source(cfg, "compute") + ": '" + c +
                  "' is not one of inline, threads://N (N from 1 to 999), workers");
}

}  // namespace

std::unique_ptr<DB> build_datalayer(const Config& cfg) {
  // Check everything before opening anything, so a bad key creates no files.
  const detail::Uri data_uri = check_data(cfg);
  const detail::Uri metadata_uri = check_metadata(cfg, data_uri);
  const detail::Uri artifacts_uri = check_artifacts(cfg);
  check_vector_search(cfg);
  check_compute(cfg);

  OpenConnections conns;
  auto data = open_data(data_uri, conns);
  auto metadata = open_metadata(metadata_uri, conns);
  auto artifacts = open_artifacts(artifacts_uri, conns);
  return std::make_unique<DB>(std::move(data), std::move(metadata), std::move(artifacts),
                              detail::make_inmemory_vector_search());
}

std::unique_ptr<DB> superduper(std::string_view uri) {
  ConfigOverrides overrides;
  if (!uri.empty()) overrides.data_backend = std::string(uri);
  return build_datalayer(load_config(overrides));
}

}  // namespace sddb
