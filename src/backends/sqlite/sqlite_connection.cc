#include "backends/sqlite/sqlite_connection.h"

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
  conn_->fail(rc, "running a statement");
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

SqliteConnection::SqliteConnection(const std::string& path, const std::string& uri)
    : path_(path), uri_(uri) {
  const bool memory = path == ":memory:";
  if (!memory) {
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
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw Error(code_for(rc) == ErrorCode::internal ? ErrorCode::io_error : code_for(rc),
                "cannot open the SQLite database '" + path + "' (" + uri + "): " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  try {
    // The busy timeout lets another process's short write finish instead of failing ours.
    sqlite3_busy_timeout(db_, 5000);
    register_sql_functions(db_);
    if (!memory) exec("PRAGMA journal_mode=WAL");
    // FULL: the WAL is synced at every commit, so an acknowledged write survives a power loss,
    // not only a process crash.
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=ON");
    // Reading the schema version also proves the file is a database (NOTADB otherwise).
    Stmt s = prepare("PRAGMA user_version");
    s.step();
    const std::int64_t version = s.column_int(0);
    if (version > kSqliteSchemaVersion) {
      throw Error(ErrorCode::failed_precondition,
                  "the SQLite database '" + path + "' has schema version " +
                      std::to_string(version) + ", newer than the " +
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

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, c] : cache_) sqlite3_finalize(c.stmt);
  if (db_) sqlite3_close_v2(db_);
}

void SqliteConnection::fail(int rc, std::string_view what) {
  std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  // Errors raised by our own SQL functions carry their code in the message.
  if (msg.rfind(kInvalidArgumentPrefix, 0) == 0) {
    throw Error(ErrorCode::invalid_argument, msg.substr(kInvalidArgumentPrefix.size()));
  }
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

Stmt SqliteConnection::prepare_owned(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc, "preparing a statement");
  return Stmt(this, stmt, /*owned=*/true);
}

void SqliteConnection::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    fail(rc, "running '" + sql.substr(0, 60) + "'");
  }
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(SqliteConnection& conn) : conn_(conn) { conn_.exec("BEGIN IMMEDIATE"); }

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

std::shared_ptr<SqliteConnection> open_sqlite(const std::string& path, const std::string& uri) {
  return std::make_shared<SqliteConnection>(path, uri);
}

}  // namespace sddb::detail
