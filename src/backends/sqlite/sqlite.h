#pragma once
// The SQLite backend: documents (DataBackend) and metadata (MetadataStore) in one SQLite file.
// Both parts opened on one path share one connection, so "sqlite://:memory:" holds data and
// metadata in the same in-memory database.

#include <memory>
#include <string>

#include "sddb/data_backend.h"
#include "sddb/metadata_store.h"

namespace sddb::detail {

class SqliteConnection;

// Opens (creating if needed) a SQLite database at `path`, or ":memory:". Sets WAL mode and
// synchronous=FULL so that an acknowledged write survives a crash. `uri` is kept for messages.
// Error(io_error) naming the path when it cannot be opened.
std::shared_ptr<SqliteConnection> open_sqlite(const std::string& path, const std::string& uri);

std::shared_ptr<DataBackend> make_sqlite_backend(std::shared_ptr<SqliteConnection> conn);
std::shared_ptr<MetadataStore> make_sqlite_metadata(std::shared_ptr<SqliteConnection> conn);

}  // namespace sddb::detail
