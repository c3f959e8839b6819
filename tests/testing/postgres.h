#pragma once
// A PostgreSQL schema of its own for one test, on the server named by SDDB_TEST_POSTGRES_URI
// (scripts/postgres_test_server.sh starts a throwaway one for `make test` and .ci/run). The
// schema is dropped, with everything in it, when the PgTestSchema goes out of scope, so tests
// stay hermetic and may run in parallel against one server.
//
// Without the variable, tests skip with the reason; under CI=true they fail instead, since CI
// always starts a server and a skip there would hide that nothing ran:
//
//   SDDB_REQUIRE_POSTGRES();
//   sddb::testutil::PgTestSchema schema;
//   auto db = sddb::superduper(schema.uri());

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "testing/backends.h"

namespace sddb::testutil {

inline std::string postgres_test_uri() {
  const char* uri = std::getenv("SDDB_TEST_POSTGRES_URI");
  return uri ? uri : "";
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

#define SDDB_REQUIRE_POSTGRES()                                                                \
  do {                                                                                         \
    if (::sddb::testutil::postgres_test_uri().empty()) {                                       \
      if (::sddb::testutil::running_in_ci()) {                                                 \
        FAIL() << "CI=true but SDDB_TEST_POSTGRES_URI is unset (.ci/run starts the server)";   \
      }                                                                                        \
      GTEST_SKIP() << "needs PostgreSQL: SDDB_TEST_POSTGRES_URI is unset (`make test` starts " \
                      "a server; see scripts/postgres_test_server.sh)";                        \
    }                                                                                          \
  } while (0)

// Runs SQL on the test server outside sddb (setup, teardown, sabotage). Throws on failure.
inline void postgres_exec(const std::string& uri, const std::string& sql) {
  PGconn* c = PQconnectdb(uri.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to " + uri + ": " + msg);
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  std::string msg = ok ? "" : PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error(sql + ": " + msg);
}

class PgTestSchema {
 public:
  PgTestSchema() : base_(postgres_test_uri()) {
    static std::atomic<int> counter{0};
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    name_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(static_cast<unsigned long long>(now) % 1000000007ULL);
    uri_ = base_ + (base_.find('?') == std::string::npos ? "?" : "&") + "schema=" + name_;
  }
  ~PgTestSchema() {
    try {
      postgres_exec(base_, "DROP SCHEMA IF EXISTS \"" + name_ + "\" CASCADE");
    } catch (const std::exception&) {
      // The server may be gone (a test that stops it); nothing to clean then.
    }
  }
  PgTestSchema(const PgTestSchema&) = delete;
  PgTestSchema& operator=(const PgTestSchema&) = delete;

  // The server's URI with schema=NAME: what superduper() takes.
  const std::string& uri() const { return uri_; }
  // The server's URI without it, for postgres_exec.
  const std::string& base() const { return base_; }
  const std::string& name() const { return name_; }

 private:
  std::string base_;
  std::string name_;
  std::string uri_;
};

}  // namespace sddb::testutil

namespace sddb::testutil {

// A schema of its own on the test server (see PgTestSchema).
class PgTestDatabase : public TestDatabase {
 public:
  const std::string& uri() const override { return schema_.uri(); }

 private:
  PgTestSchema schema_;
};

inline void require_postgres() { SDDB_REQUIRE_POSTGRES(); }

// PostgreSQL for the shared suites: skips (fails under CI=true) without SDDB_TEST_POSTGRES_URI.
inline TestBackend postgres_test_backend() {
  return {"postgres",
          []() -> std::unique_ptr<TestDatabase> {
            require_postgres();
            if (postgres_test_uri().empty()) return nullptr;
            return std::make_unique<PgTestDatabase>();
          },
          true};
}

}  // namespace sddb::testutil
