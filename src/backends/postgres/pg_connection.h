#pragma once
// libpq underneath the PostgreSQL backend: a pool of connections to one database, results as
// RAII objects, and the translation of libpq and server errors into sddb::Error at one place.
//
// Connection loss. A lease whose statement fails because the connection broke throws
// Error(unavailable) for that statement (never a partial or wrong answer: a transaction that
// was open is rolled back by the server) and the broken connection is dropped instead of going
// back to the pool, so the next statement opens a new one.
//
// The URI is libpq's own ("postgresql://user:pass@host:port/db?param=..."), plus one sddb
// parameter, `schema=NAME`: every table of that DB lives in that schema (created when missing),
// so several sddb databases (and the tests, one per case) can share one PostgreSQL database.

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sddb::detail {

// Owns one PGresult.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept {
    if (this != &o) {
      if (r_) PQclear(r_);
      r_ = o.r_;
      o.r_ = nullptr;
    }
    return *this;
  }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult() {
    if (r_) PQclear(r_);
  }

  PGresult* raw() const { return r_; }
  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  std::int64_t integer(int row, int col) const;
  double real(int row, int col) const;
  // A bytea column read in binary format (exec with binary_results).
  std::string_view bytes(int row, int col) const { return text(row, col); }
  // Rows affected by an INSERT/UPDATE/DELETE.
  std::int64_t affected() const;

 private:
  PGresult* r_ = nullptr;
};

// A statement parameter: text, or NULL, or bytes sent in binary (for bytea).
struct PgParam {
  std::optional<std::string> value;
  bool binary = false;

  PgParam() = default;
  PgParam(std::string v) : value(std::move(v)) {}
  PgParam(const char* v) : value(std::string(v)) {}
  PgParam(std::int64_t v) : value(std::to_string(v)) {}
  static PgParam bytes(std::string_view b) {
    PgParam p;
    p.value = std::string(b);
    p.binary = true;
    return p;
  }
};

class PgPool;

// One connection taken from the pool, returned when the lease ends (or closed, when it broke or
// was left inside a transaction). Used by one thread at a time.
class PgLease {
 public:
  PgLease(PgPool* pool, PGconn* conn) : pool_(pool), conn_(conn) {}
  PgLease(PgLease&& o) noexcept : pool_(o.pool_), conn_(o.conn_) { o.conn_ = nullptr; }
  PgLease(const PgLease&) = delete;
  PgLease& operator=(const PgLease&) = delete;
  PgLease& operator=(PgLease&&) = delete;
  ~PgLease();

  // Runs one statement with parameters ($1, $2, ...). Results come as text unless
  // binary_results. Throws sddb::Error: `what` names the operation ("inserting into 'docs'").
  PgResult exec(const std::string& sql, const std::vector<PgParam>& params = {},
                std::string_view what = {}, bool binary_results = false);
  // exec() of a statement prepared under `name` on this connection the first time it runs here,
  // so that the statements every find runs are parsed and planned once per connection. A name
  // always goes with the same `sql`.
  PgResult exec_prepared(const std::string& name, const std::string& sql,
                         const std::vector<PgParam>& params, std::string_view what);
  // A statement without parameters and results (BEGIN, COMMIT, DDL).
  void run(const std::string& sql, std::string_view what = {});
  // A statement without parameters in two halves: send() returns once it is sent, so the
  // server works on it while the caller does something else; receive() waits for its result
  // (throwing as exec does). Nothing else may be sent in between; a result left unreceived is
  // read and dropped by the next exec (libpq waits for it first).
  void send(const std::string& sql, std::string_view what = {});
  PgResult receive(std::string_view what = {});

  // COPY ... FROM STDIN: `copy_sql` starts it, `data` is the whole text-format payload.
  void copy_in(const std::string& copy_sql, std::string_view data, std::string_view what);

  PGconn* raw() const { return conn_; }

 private:
  [[noreturn]] void fail(PGresult* r, std::string_view what);
  PgPool* pool_;
  PGconn* conn_;
};

// A transaction on a lease: BEGIN in the constructor, ROLLBACK unless commit() was called.
class PgTransaction {
 public:
  explicit PgTransaction(PgLease& lease, const char* begin = "BEGIN");
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();
  void commit();
  // Hands the open transaction to someone else (a cursor) who will end it.
  void release() { done_ = true; }

 private:
  PgLease& lease_;
  bool done_ = false;
};

// The connections of one database. Thread-safe. Keeps up to kMaxIdle idle connections; a lease
// asked for while none is idle opens a new one, so leases never wait for each other.
class PgPool : public std::enable_shared_from_this<PgPool> {
 public:
  static constexpr std::size_t kMaxIdle = 8;

  // Parses the URI (see the top of this file) and opens one connection to check that the
  // server answers, creating the schema if the URI names one. Error(invalid_argument) for a
  // malformed URI or schema name, Error(unavailable) naming the URI (without its password)
  // when the server cannot be reached.
  PgPool(const std::string& uri);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  PgLease lease();
  // The URI as given, for uri(); the password, if any, is replaced with "***".
  const std::string& uri() const { return shown_uri_; }
  // The schema the tables live in: the URI's schema= or "public".
  const std::string& schema() const { return schema_; }

 private:
  friend class PgLease;
  PGconn* connect();
  void give_back(PGconn* conn);

  std::string conninfo_;
  std::string shown_uri_;
  std::string schema_;
  bool explicit_schema_ = false;
  std::mutex mu_;
  std::vector<PGconn*> idle_;
};

// "identifier" with quotes doubled. The caller has validated the name.
std::string pg_quote_identifier(std::string_view name);

// 'literal' with quotes doubled, for the few places that take no parameters (index expressions,
// COMMENT). Exact because every connection sets standard_conforming_strings (backslashes are
// plain characters); the text must hold no NUL.
std::string pg_quote_literal(std::string_view text);

}  // namespace sddb::detail
