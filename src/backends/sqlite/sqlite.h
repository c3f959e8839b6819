#pragma once
// The SQLite backend: documents (DataBackend) and metadata (MetadataStore) in one SQLite file.
// Both parts opened on one path share one connection, so "sqlite://:memory:" holds data and
// metadata in the same in-memory database.
//
// Cursors. On a file, an unsorted find() reads on a read-only handle of its own (pooled) inside
// a read transaction begun by find(): a WAL snapshot, so the cursor returns the data as of
// find() whatever is written before or during its iteration, and it never waits for the
// connection's lock. While it is open, checkpoints cannot go past its snapshot, so the WAL
// grows; finish or destroy cursors. A :memory: database has no second handle: its cursors run
// on the shared connection, leave out documents inserted after find() (rowid above the largest
// at that moment), and may or may not see other writes made during their iteration. Sorted
// finds are read completely by find() on either.

#include <memory>
#include <string>

#include "sddb/data_backend.h"
#include "sddb/metadata_store.h"

namespace sddb::detail {

class SqliteConnection;

// Opens (creating if needed) a SQLite database at `path`, or ":memory:". Sets WAL mode and
// synchronous=FULL so that an acknowledged write survives a crash. `uri` is kept for messages.
// Opening writes nothing to a file that already has sddb's schema, so it works while another
// process holds the write lock. A file without write permission, or any file when `read_only`,
// is opened read-only: reads work, writes fail with Error(failed_precondition).
// Error(io_error) naming the path when it cannot be opened; Error(invalid_argument) for a '?' in
// the path (query options are not supported).
std::shared_ptr<SqliteConnection> open_sqlite(const std::string& path, const std::string& uri,
                                              bool read_only = false);

std::shared_ptr<DataBackend> make_sqlite_backend(std::shared_ptr<SqliteConnection> conn);
std::shared_ptr<MetadataStore> make_sqlite_metadata(std::shared_ptr<SqliteConnection> conn);

}  // namespace sddb::detail
