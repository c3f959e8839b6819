#pragma once
// Configuration of a DB: which implementation serves each of the four parts.
//
// Precedence, lowest first (design §2):
//   built-in defaults -> sddb.toml in the current folder (or the file named by SDDB_CONFIG)
//   -> environment variables SDDB_DATA_BACKEND, SDDB_METADATA_STORE, SDDB_ARTIFACT_STORE,
//      SDDB_VECTOR_SEARCH, SDDB_COMPUTE, SDDB_EMBEDDINGS_URL, SDDB_EMBEDDINGS_MODEL,
//      SDDB_EMBEDDINGS_API_KEY -> explicit arguments.
// A bad value is Error(invalid_argument) naming the key and where it came from.

#include <map>
#include <optional>
#include <string>

namespace sddb {

struct Config {
  // Where the documents live. Default: the embedded SQLite file ".sddb/data.db".
  std::string data_backend = "sqlite://.sddb/data.db";
  // Empty: the data backend's own database.
  std::string metadata_store;
  // Empty: "file://" beside a SQLite file (PATH.artifacts), "memory://" for sqlite://:memory:,
  // or the data backend itself for a server backend.
  std::string artifact_store;
  std::string vector_search = "inmemory://";
  // "inline", "threads://N" or "workers".
  std::string compute = "inline";

  // The OpenAI-compatible embeddings server that Model::http_embeddings uses when its options
  // leave url, model or api_key empty (e.g. "http://127.0.0.1:11434", "nomic-embed-text").
  // Empty: none. The key is sent as "Authorization: Bearer KEY" and never stored in a database.
  std::string embeddings_url;
  std::string embeddings_model;
  std::string embeddings_api_key;

  // For each key, where its value came from: "default", "sddb.toml", "SDDB_DATA_BACKEND", ...
  std::map<std::string, std::string> sources;

  // The effective stores after defaults are resolved (never empty).
  std::string resolved_metadata_store() const;
  std::string resolved_artifact_store() const;
};

// Explicit arguments: the highest precedence. Unset fields leave the lower sources in force.
struct ConfigOverrides {
  std::optional<std::string> data_backend;
  std::optional<std::string> metadata_store;
  std::optional<std::string> artifact_store;
  std::optional<std::string> vector_search;
  std::optional<std::string> compute;
  std::optional<std::string> embeddings_url;
  std::optional<std::string> embeddings_model;
  std::optional<std::string> embeddings_api_key;
  // A config file to read instead of ./sddb.toml or $SDDB_CONFIG.
  std::optional<std::string> config_file;
};

// Builds a Config from all sources. Unknown keys in the file are an error naming the key.
Config load_config(const ConfigOverrides& overrides = {});

}  // namespace sddb
