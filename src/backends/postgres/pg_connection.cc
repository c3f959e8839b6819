#include "backends/postgres/pg_connection.h"

#include <libpq-events.h>
#include <poll.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

#include "sddb/error.h"

namespace sddb::detail {

namespace {

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Removes the password from "scheme://user:password@host..." for messages.
std::string hide_password(const std::string& uri) {
  const auto sep = uri.find("://");
  if (sep == std::string::npos) return uri;
  const auto at = uri.find('@', sep + 3);
  const auto slash = uri.find('/', sep + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  const auto colon = uri.find(':', sep + 3);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

bool valid_schema_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

void ignore_notice(void*, const char*) {}

// The names of the statements prepared on a connection, kept with it by libpq (the instance
// data of this event procedure), so they go when the connection does.
using Prepared = std::set<std::string>;
int prepared_events(PGEventId id, void* info, void*) {
  if (id == PGEVT_CONNDESTROY) {
    PGconn* c = static_cast<PGEventConnDestroy*>(info)->conn;
    delete static_cast<Prepared*>(PQinstanceData(c, prepared_events));
  }
  return 1;
}

// Pointers into `params` in the form libpq takes them; valid while `params` lives.
struct ParamArrays {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  explicit ParamArrays(const std::vector<PgParam>& params)
      : values(params.size()), lengths(params.size()), formats(params.size()) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const PgParam& p = params[i];
      values[i] = p.value ? p.value->data() : nullptr;
      lengths[i] = p.value ? static_cast<int>(p.value->size()) : 0;
      formats[i] = p.binary ? 1 : 0;
    }
  }
};

}  // namespace

namespace {
std::string quoted(std::string_view s, char quote) {
  std::string out(1, quote);
  for (char c : s) {
    if (c == quote) out += quote;
    out += c;
  }
  out += quote;
  return out;
}
}  // namespace

std::string pg_quote_identifier(std::string_view name) { return quoted(name, '"'); }

std::string pg_quote_literal(std::string_view text) { return quoted(text, '\''); }

std::int64_t PgResult::integer(int row, int col) const {
  std::string_view t = text(row, col);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) {
    throw Error(ErrorCode::corruption,
                "PostgreSQL returned '" + std::string(t) + "' where an integer was expected");
  }
  return v;
}

double PgResult::real(int row, int col) const {
  return std::strtod(std::string(text(row, col)).c_str(), nullptr);
}

std::int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

// --- pool ---

PgPool::PgPool(const std::string& uri) : shown_uri_(hide_password(uri)), schema_("public") {
  // Take schema= out of the query string; libpq would refuse an unknown parameter.
  std::string base = uri, query;
  if (auto q = uri.find('?'); q != std::string::npos) {
    base = uri.substr(0, q);
    query = uri.substr(q + 1);
  }
  std::string kept;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    std::size_t amp = query.find('&', start);
    std::string param = query.substr(start, amp == std::string::npos ? amp : amp - start);
    if (param.rfind("schema=", 0) == 0) {
      schema_ = param.substr(7);
      explicit_schema_ = true;
      if (!valid_schema_name(schema_)) {
        throw Error(ErrorCode::invalid_argument,
                    "'" + shown_uri_ + "': schema '" + schema_ +
                        "' is not 1-63 characters of [A-Za-z0-9_] starting with a letter or _");
      }
    } else if (!param.empty()) {
      kept += (kept.empty() ? "" : "&") + param;
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  conninfo_ = kept.empty() ? base : base + "?" + kept;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), &err);
  if (!opts) {
    std::string msg = err ? trim_newline(err) : "malformed";
    if (err) PQfreemem(err);
    throw Error(ErrorCode::invalid_argument,
                "'" + shown_uri_ + "' is not a valid PostgreSQL URI: " + msg);
  }
  PQconninfoFree(opts);
  PGconn* c = connect();
  if (explicit_schema_) {
    PgLease l(this, c);
    // Not IF NOT EXISTS alone: two processes creating it at once would race on the catalog.
    l.run("SELECT pg_advisory_lock(7312001)", "locking the schema setup");
    try {
      l.run("CREATE SCHEMA IF NOT EXISTS " + pg_quote_identifier(schema_),
            "creating schema '" + schema_ + "'");
    } catch (...) {
      l.run("SELECT pg_advisory_unlock(7312001)");
      throw;
    }
    l.run("SELECT pg_advisory_unlock(7312001)");
  } else {
    give_back(c);
  }
}

PgPool::~PgPool() {
  for (PGconn* c : idle_) PQfinish(c);
}

PGconn* PgPool::connect() {
  PGconn* c = PQconnectdb(conninfo_.c_str());
  if (!c) throw Error(ErrorCode::unavailable, "cannot allocate a PostgreSQL connection");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = trim_newline(PQerrorMessage(c));
    PQfinish(c);
    throw Error(ErrorCode::unavailable,
                "cannot connect to PostgreSQL at '" + shown_uri_ + "': " + msg);
  }
  PQsetNoticeProcessor(c, ignore_notice, nullptr);
  // Without it, exec_prepared just runs its statements unprepared.
  if (PQregisterEventProc(c, prepared_events, "sddb prepared statements", nullptr)) {
    PQsetInstanceData(c, prepared_events, new Prepared);
  }
  // Every session reads and writes in the schema, with the settings the SQL relies on.
  // cursor_tuple_fraction: find()'s cursors are read to the end, so plan them for all rows (the
  // default, 0.1, trades a GIN index search for a scan that returns its first rows sooner).
  const std::string setup = "SET search_path TO " + pg_quote_identifier(schema_) +
                            "; SET client_encoding TO 'UTF8'; SET standard_conforming_strings "
                            "TO on; SET extra_float_digits TO 3; SET cursor_tuple_fraction TO 1";
  PGresult* r = PQexec(c, setup.c_str());
  const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string msg = ok ? "" : trim_newline(PQerrorMessage(c));
  if (r) PQclear(r);
  if (!ok) {
    PQfinish(c);
    throw Error(ErrorCode::unavailable,
                "cannot set up a PostgreSQL session at '" + shown_uri_ + "': " + msg);
  }
  return c;
}

PgLease PgPool::lease() {
  {
    std::lock_guard<std::mutex> g(mu_);
    while (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      // An idle session has nothing to say. One that is readable was ended by the server
      // while it sat in the pool (a restart, pg_terminate_backend: its goodbye or end of file
      // is waiting), so the statement goes to a new connection instead of failing on it.
      pollfd p{PQsocket(c), POLLIN, 0};
      if (PQstatus(c) == CONNECTION_OK && p.fd >= 0 && ::poll(&p, 1, 0) == 0) {
        return PgLease(this, c);
      }
      PQfinish(c);
    }
  }
  return PgLease(this, connect());
}

void PgPool::give_back(PGconn* c) {
  if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE) {
    PQfinish(c);
    return;
  }
  std::lock_guard<std::mutex> g(mu_);
  if (idle_.size() >= kMaxIdle) {
    PQfinish(c);
    return;
  }
  idle_.push_back(c);
}

// --- lease ---

PgLease::~PgLease() {
  if (conn_) pool_->give_back(conn_);
}

void PgLease::fail(PGresult* r, std::string_view what) {
  std::string msg = trim_newline(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (msg.empty()) msg = trim_newline(PQerrorMessage(conn_));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string detail;
  if (r) {
    if (const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) detail = d;
  }
  if (r) PQclear(r);
  const std::string prefix =
      (what.empty() ? std::string("PostgreSQL") : std::string(what)) + " (" + pool_->uri() + "): ";
  ErrorCode code = ErrorCode::io_error;
  if (PQstatus(conn_) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    code = ErrorCode::unavailable;
    msg = "the connection to the server was lost, the statement may not have completed: " + msg;
  } else if (sqlstate == "23505") {
    code = ErrorCode::already_exists;
  } else if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
    code = ErrorCode::conflict;
  } else if (sqlstate == "22P05" || sqlstate == "54000" || sqlstate == "54001") {
    code = ErrorCode::not_supported;  // \u0000 in jsonb, too large, too deep
  } else if (sqlstate == "22P02" || sqlstate == "22023") {
    code = ErrorCode::invalid_argument;
  } else if (sqlstate.rfind("42", 0) == 0 || sqlstate.rfind("XX", 0) == 0) {
    code = ErrorCode::internal;
  } else if (sqlstate.rfind("53", 0) == 0 || sqlstate.rfind("58", 0) == 0) {
    code = ErrorCode::io_error;
  }
  // A broken connection must not go back to the pool (give_back checks the status too).
  if (code == ErrorCode::unavailable) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  throw Error(code, prefix + msg + (detail.empty() ? "" : " (" + detail + ")"));
}

PgResult PgLease::exec(const std::string& sql, const std::vector<PgParam>& params,
                       std::string_view what, bool binary_results) {
  if (!conn_) {
    throw Error(ErrorCode::unavailable, "PostgreSQL (" + pool_->uri() + "): connection lost");
  }
  const ParamArrays a(params);
  PGresult* r =
      PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, a.values.data(),
                   a.lengths.data(), a.formats.data(), binary_results ? 1 : 0);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, what);
  return PgResult(r);
}

PgResult PgLease::exec_prepared(const std::string& name, const std::string& sql,
                                const std::vector<PgParam>& params, std::string_view what) {
  if (!conn_) {
    throw Error(ErrorCode::unavailable, "PostgreSQL (" + pool_->uri() + "): connection lost");
  }
  auto* prepared = static_cast<Prepared*>(PQinstanceData(conn_, prepared_events));
  if (!prepared) return exec(sql, params, what);
  if (prepared->count(name) == 0) {
    PGresult* r = PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) fail(r, what);
    PQclear(r);
    prepared->insert(name);
  }
  const ParamArrays a(params);
  PGresult* r = PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()),
                               a.values.data(), a.lengths.data(), a.formats.data(), 0);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, what);
  return PgResult(r);
}

void PgLease::run(const std::string& sql, std::string_view what) { exec(sql, {}, what); }

void PgLease::send(const std::string& sql, std::string_view what) {
  if (!conn_) {
    throw Error(ErrorCode::unavailable, "PostgreSQL (" + pool_->uri() + "): connection lost");
  }
  if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
    fail(nullptr, what);
  }
}

PgResult PgLease::receive(std::string_view what) {
  if (!conn_) {
    throw Error(ErrorCode::unavailable, "PostgreSQL (" + pool_->uri() + "): connection lost");
  }
  PGresult* r = PQgetResult(conn_);
  // One statement, one result, then none: reading to the end leaves the connection free.
  while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, what);
  return PgResult(r);
}

void PgLease::copy_in(const std::string& copy_sql, std::string_view data, std::string_view what) {
  if (!conn_) {
    throw Error(ErrorCode::unavailable, "PostgreSQL (" + pool_->uri() + "): connection lost");
  }
  PGresult* r = PQexec(conn_, copy_sql.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_IN) fail(r, what);
  PQclear(r);
  // Sent in pieces: PQputCopyData takes an int length.
  constexpr std::size_t kPiece = 1 << 20;
  for (std::size_t off = 0; off < data.size(); off += kPiece) {
    const std::size_t n = std::min(kPiece, data.size() - off);
    if (PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1) fail(nullptr, what);
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) fail(nullptr, what);
  PGresult* last = nullptr;
  PGresult* failed = nullptr;
  while ((last = PQgetResult(conn_)) != nullptr) {
    if (PQresultStatus(last) != PGRES_COMMAND_OK && !failed) {
      failed = last;
    } else {
      PQclear(last);
    }
  }
  if (failed) fail(failed, what);
}

// --- transaction ---

PgTransaction::PgTransaction(PgLease& lease, const char* begin) : lease_(lease) {
  lease_.run(begin, "starting a transaction");
}

PgTransaction::~PgTransaction() {
  if (done_ || !lease_.raw()) return;
  // A failed ROLLBACK leaves the connection outside PQTRANS_IDLE, and the pool closes it.
  PGresult* r = PQexec(lease_.raw(), "ROLLBACK");
  if (r) PQclear(r);
}

void PgTransaction::commit() {
  lease_.run("COMMIT", "committing");
  done_ = true;
}

}  // namespace sddb::detail
