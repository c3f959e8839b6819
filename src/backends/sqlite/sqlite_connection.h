#pragma once
// SqliteConnection: the one sqlite3 handle that the data backend and the metadata store of one
// database share, with the mutex that serializes every use of it, a cache of prepared
// statements, a pool of read-only handles for cursors, and the translation of SQLite result
// codes into sddb::Error.
//
// Threading: SQLite is built serialized on Debian, but a connection still has one transaction
// state, so every caller takes lock() for the whole of one logical operation (a statement, or a
// transaction). Cursors on a file run on a reader handle of their own and never take the lock;
// cursors on :memory: hold their own statement and take the lock once per step. Either way a
// live cursor never blocks other calls made by the same thread between two steps.

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sddb/value.h"

namespace sddb::detail {

// Schema version this build writes and understands (PRAGMA user_version). A file with a higher
// version was written by a newer sddb and is refused.
inline constexpr int kSqliteSchemaVersion = 1;

class SqliteConnection;

// A prepared statement. From the cache (reset, not finalized, when it goes out of scope) or owned
// (finalized). Must be used only while the connection's lock is held.
class Stmt {
 public:
  // `in_use` (cached statements only) is the cache's flag, cleared when this is destroyed.
  Stmt(SqliteConnection* conn, sqlite3_stmt* stmt, bool owned, bool* in_use = nullptr)
      : conn_(conn), stmt_(stmt), owned_(owned), in_use_(in_use) {}
  Stmt(Stmt&& o) noexcept : conn_(o.conn_), stmt_(o.stmt_), owned_(o.owned_), in_use_(o.in_use_) {
    o.stmt_ = nullptr;
    o.in_use_ = nullptr;
  }
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  // Binds parameters 1..n. Values: null, bool (as 0/1), int, double, string; arrays and objects
  // are bound as their JSON text.
  void bind(int index, const Value& v);
  void bind_text(int index, std::string_view s);
  // Binds without a copy: `s` must stay unchanged until the statement is stepped and reset.
  void bind_text_static(int index, std::string_view s);
  void bind_int(int index, std::int64_t v);
  void bind_all(const std::vector<Value>& params, int first = 1);

  // Steps once: true when a row is available, false when done. Errors throw sddb::Error.
  bool step();
  // Steps a statement that returns no rows (or whose rows are not needed).
  void run();

  std::int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  double column_double(int i) const { return sqlite3_column_double(stmt_, i); }
  bool column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::string column_text(int i) const;

  sqlite3_stmt* raw() const { return stmt_; }

 private:
  SqliteConnection* conn_;
  sqlite3_stmt* stmt_;
  bool owned_;
  bool* in_use_;
};

class SqliteConnection {
 public:
  // Use open_sqlite() (sqlite.h).
  SqliteConnection(const std::string& path, const std::string& uri, bool read_only = false);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  const std::string& path() const { return path_; }
  const std::string& uri() const { return uri_; }
  // True when the file was opened read-only (asked for, or no write permission on it).
  bool read_only() const { return read_only_; }
  // PRAGMA user_version as read when the file was opened (0: no sddb schema yet).
  std::int64_t schema_version() const { return schema_version_; }

  // Recursive so that a helper that locks may be called from a caller that already holds it.
  std::unique_lock<std::recursive_mutex> lock() {
    return std::unique_lock<std::recursive_mutex>(mu_);
  }

  // A statement from the cache (prepared on first use). Caller holds lock().
  Stmt prepare(const std::string& sql);
  // A statement owned by the caller (for cursors, which outlive one call). Caller holds lock(),
  // or passes the reader handle `db` (acquire_reader) to prepare it there.
  Stmt prepare_owned(const std::string& sql, sqlite3* db = nullptr);
  // Runs SQL text without parameters (DDL, PRAGMA, BEGIN/COMMIT). Caller holds lock(), or
  // passes the reader handle `db` to run it there.
  void exec(const std::string& sql, sqlite3* db = nullptr);

  // Throws the sddb::Error for a SQLite result code; `what` says what was being done. `db` is
  // the handle the error happened on when it is not this connection's own (a reader's).
  [[noreturn]] void fail(int rc, std::string_view what, sqlite3* db = nullptr);
  // Throws Error(failed_precondition) when the file was opened read-only; `what` names the write.
  void check_writable(std::string_view what) const;

  sqlite3* handle() const { return db_; }

  // A read-only handle on the same file for one cursor, so that the cursor reads one WAL
  // snapshot whatever is written meanwhile (also by this connection). Null for :memory:, whose
  // data no other handle can see. Any thread; give it back with release_reader() once no
  // statement of it is alive. Pooled: opening a handle costs far more than a query.
  sqlite3* acquire_reader();
  void release_reader(sqlite3* reader);

 private:
  sqlite3* open_handle(bool read_only);

  std::string path_;
  std::string uri_;
  bool memory_ = false;
  bool read_only_ = false;
  std::int64_t schema_version_ = 0;
  sqlite3* db_ = nullptr;
  std::mutex readers_mu_;
  std::vector<sqlite3*> idle_readers_;
  std::recursive_mutex mu_;
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;  // a Stmt holds it; never finalized or handed out twice meanwhile
  };
  std::map<std::string, Cached, std::less<>> cache_;
};

// One transaction (BEGIN IMMEDIATE, so that the write lock is taken up front and a busy database
// fails at the start rather than at the first write). Rolls back unless commit() is called.
// Caller holds the connection's lock for the transaction's whole life.
class Transaction {
 public:
  explicit Transaction(SqliteConnection& conn);
  ~Transaction();
  void commit();

 private:
  SqliteConnection& conn_;
  bool done_ = false;
};

// Quotes an SQL identifier ("name", with '"' doubled).
std::string quote_identifier(std::string_view name);
// Quotes an SQL string literal ('text', with '\'' doubled).
std::string quote_literal(std::string_view text);

std::int64_t now_ms();

}  // namespace sddb::detail
