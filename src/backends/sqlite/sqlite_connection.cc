#include "backends/sqlite/sqlite_connection.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "backends/sqlite/sql_compiler.h"
#include "backends/sqlite/sqlite.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

ErrorCode code_for(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_ABORT:   // a statement ended by a rollback
    case SQLITE_SCHEMA:  // another connection changed the schema under a statement
      return ErrorCode::conflict;
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return ErrorCode::unavailable;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOLFS:
      return ErrorCode::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::corruption;
    case SQLITE_CONSTRAINT:
      return ErrorCode::already_exists;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return ErrorCode::invalid_argument;
    default:
      return ErrorCode::internal;
  }
}

}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// ---------------------------------------------------------------------------------------------
// Stmt

Stmt::~Stmt() {
  if (!stmt_) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (in_use_) *in_use_ = false;
  }
}

void Stmt::bind(int index, const Value& v) {
  int rc = SQLITE_OK;
  switch (v.type()) {
    case Value::Type::null:
      rc = sqlite3_bind_null(stmt_, index);
      break;
    case Value::Type::boolean:
      rc = sqlite3_bind_int(stmt_, index, v.as_bool() ? 1 : 0);
      break;
    case Value::Type::integer:
      rc = sqlite3_bind_int64(stmt_, index, v.as_int());
      break;
    case Value::Type::real:
      rc = sqlite3_bind_double(stmt_, index, v.as_double());
      break;
    case Value::Type::string:
      bind_text(index, v.as_string());
      return;
    case Value::Type::array:
    case Value::Type::object:
      bind_text(index, v.to_json());
      return;
  }
  if (rc != SQLITE_OK) conn_->fail(rc, "binding a parameter");
}

void Stmt::bind_text(int index, std::string_view s) {
  int rc = sqlite3_bind_text64(stmt_, index, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) conn_->fail(rc, "binding a parameter");
}

void Stmt::bind_text_static(int index, std::string_view s) {
  int rc = sqlite3_bind_text64(stmt_, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) conn_->fail(rc, "binding a parameter");
}

void Stmt::bind_int(int index, std::int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, index, v);
  if (rc != SQLITE_OK) conn_->fail(rc, "binding a parameter");
}

void Stmt::bind_all(const std::vector<Value>& params, int first) {
  for (std::size_t i = 0; i < params.size(); ++i) bind(first + static_cast<int>(i), params[i]);
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // The statement must be reset before the next use even when the error is rethrown.
  sqlite3_reset(stmt_);
  conn_->fail(rc, "running a statement", sqlite3_db_handle(stmt_));
}

void Stmt::run() {
  while (step()) {
  }
}

std::string Stmt::column_text(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
  if (!p) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
}

// ---------------------------------------------------------------------------------------------
// SqliteConnection

SqliteConnection::SqliteConnection(const std::string& path, const std::string& uri, bool read_only)
    : path_(path), uri_(uri), memory_(path == ":memory:"), read_only_(read_only) {
  // SQLite is opened without SQLITE_OPEN_URI, so "x.db?mode=ro" would silently become a file of
  // that name. No query options are supported yet: refuse them instead.
  if (path.find('?') != std::string::npos) {
    throw Error(ErrorCode::invalid_argument,
                "'" + uri + "': a SQLite path may not contain '?' (URI query options such as " +
                    "?mode=ro are not supported)");
  }
  if (!memory_) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        throw Error(ErrorCode::io_error, "cannot create the folder '" + parent.string() +
                                             "' for the SQLite database of '" + uri +
                                             "': " + ec.message());
      }
    }
    // A file we may read but not write is opened read-only, so that reads work; writes then
    // fail with failed_precondition (see fail()).
    if (!read_only_ && ::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), W_OK) != 0) {
      read_only_ = true;
    }
  }
  db_ = open_handle(read_only_);
  try {
    if (!memory_ && !read_only_) {
      // Only a change of mode writes; a file already in WAL mode (every file sddb made) is
      // left alone, so opening does not wait for another process's write lock.
      bool wal = false;
      {
        Stmt m = prepare("PRAGMA journal_mode");
        wal = m.step() && m.column_text(0) == "wal";
      }
      if (!wal) exec("PRAGMA journal_mode=WAL");
    }
    // Reading the schema version also proves the file is a database (NOTADB otherwise).
    Stmt s = prepare("PRAGMA user_version");
    s.step();
    schema_version_ = s.column_int(0);
    if (schema_version_ > kSqliteSchemaVersion) {
      throw Error(ErrorCode::failed_precondition,
                  "the SQLite database '" + path + "' has schema version " +
                      std::to_string(schema_version_) + ", newer than the " +
                      std::to_string(kSqliteSchemaVersion) +
                      " this build of sddb knows; upgrade sddb to open it");
    }
  } catch (...) {
    for (auto& [sql, c] : cache_) sqlite3_finalize(c.stmt);
    cache_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

sqlite3* SqliteConnection::open_handle(bool read_only) {
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    throw Error(code_for(rc) == ErrorCode::internal ? ErrorCode::io_error : code_for(rc),
                "cannot open the SQLite database '" + path_ + "' (" + uri_ + "): " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  auto pragma = [&](const char* sql) {
    char* err = nullptr;
    int prc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (prc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(prc);
      sqlite3_free(err);
      sqlite3_close_v2(db);
      throw Error(code_for(prc) == ErrorCode::internal ? ErrorCode::io_error : code_for(prc),
                  "cannot set up the SQLite database '" + path_ + "' (" + uri_ + "): " + msg);
    }
  };
  // The busy timeout lets another process's short write finish instead of failing ours.
  sqlite3_busy_timeout(db, 5000);
  register_sql_functions(db);
  // FULL: the WAL is synced at every commit, so an acknowledged write survives a power loss,
  // not only a process crash.
  pragma("PRAGMA synchronous=FULL");
  pragma("PRAGMA foreign_keys=ON");
  // Reads through a memory map instead of read() into the page cache: index searches, which
  // jump between pages, ran about 25% faster in core_bench (find_indexed, 50k documents),
  // scans the same. The OS page cache is shared by all handles, unlike cache_size, which
  // gave nothing on top of this and costs memory per handle.
  pragma("PRAGMA mmap_size=268435456");
  return db;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, c] : cache_) sqlite3_finalize(c.stmt);
  for (sqlite3* r : idle_readers_) sqlite3_close_v2(r);
  if (db_) sqlite3_close_v2(db_);
}

sqlite3* SqliteConnection::acquire_reader() {
  if (memory_) return nullptr;
  {
    std::lock_guard<std::mutex> g(readers_mu_);
    if (!idle_readers_.empty()) {
      sqlite3* r = idle_readers_.back();
      idle_readers_.pop_back();
      return r;
    }
  }
  return open_handle(/*read_only=*/true);
}

void SqliteConnection::release_reader(sqlite3* reader) {
  if (!reader) return;
  // A handle in a read transaction would pin its snapshot for the next cursor.
  if (!sqlite3_get_autocommit(reader)) sqlite3_exec(reader, "ROLLBACK", nullptr, nullptr, nullptr);
  std::lock_guard<std::mutex> g(readers_mu_);
  // Enough for a few cursors at once; more are opened on demand and closed when done.
  if (idle_readers_.size() < 4) {
    idle_readers_.push_back(reader);
  } else {
    sqlite3_close_v2(reader);
  }
}

void SqliteConnection::check_writable(std::string_view what) const {
  if (!read_only_) return;
  throw Error(ErrorCode::failed_precondition,
              "cannot " + std::string(what) + ": the SQLite database '" + path_ + "' (" + uri_ +
                  ") is open read-only (no write permission on the file)");
}

void SqliteConnection::fail(int rc, std::string_view what, sqlite3* db) {
  if (!db) db = db_;
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  // Errors raised by our own SQL functions carry their code in the message.
  if (msg.rfind(kInvalidArgumentPrefix, 0) == 0) {
    throw Error(ErrorCode::invalid_argument, msg.substr(kInvalidArgumentPrefix.size()));
  }
  if ((rc & 0xFF) == SQLITE_READONLY && read_only_) check_writable(what);
  ErrorCode code = code_for(rc);
  if (code == ErrorCode::already_exists) code = ErrorCode::internal;  // callers map their own
  throw Error(code, std::string(what) + " in the SQLite database '" + path_ + "': " + msg);
}

Stmt SqliteConnection::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && it->second.in_use) {
    // The same SQL is already held by a caller further up the stack; sharing it would rebind
    // a statement in the middle of its use.
    return prepare_owned(sql);
  }
  if (it == cache_.end()) {
    // The cache is bounded: filters with different shapes make different SQL, and an unbounded
    // cache would grow with every new shape. Statements in use stay.
    if (cache_.size() >= 256) {
      for (auto c = cache_.begin(); c != cache_.end();) {
        if (c->second.in_use) {
          ++c;
        } else {
          sqlite3_finalize(c->second.stmt);
          c = cache_.erase(c);
        }
      }
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, "preparing a statement");
    it = cache_.emplace(sql, Cached{stmt, false}).first;
  }
  it->second.in_use = true;
  return Stmt(this, it->second.stmt, /*owned=*/false, &it->second.in_use);
}

Stmt SqliteConnection::prepare_owned(const std::string& sql, sqlite3* db) {
  if (!db) db = db_;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc, "preparing a statement", db);
  return Stmt(this, stmt, /*owned=*/true);
}

void SqliteConnection::exec(const std::string& sql, sqlite3* db) {
  if (!db) db = db_;
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    fail(rc, "running '" + sql.substr(0, 60) + "'", db);
  }
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(SqliteConnection& conn) : conn_(conn) {
  conn_.check_writable("write");
  conn_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (done_) return;
  // A failed COMMIT may already have ended the transaction; only roll back an open one.
  if (!sqlite3_get_autocommit(conn_.handle())) {
    sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  conn_.exec("COMMIT");
  done_ = true;
}

// ---------------------------------------------------------------------------------------------

std::shared_ptr<SqliteConnection> open_sqlite(const std::string& path, const std::string& uri,
                                              bool read_only) {
  return std::make_shared<SqliteConnection>(path, uri, read_only);
}

}  // namespace sddb::detail
