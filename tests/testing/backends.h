#pragma once
// The backends that shared test suites run on, as values for a value-parameterized fixture
// (INSTANTIATE_TEST_SUITE_P over them). SQLite's is here; PostgreSQL's is in testing/postgres.h,
// which needs libpq, so that only the PostgreSQL test targets link it.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "testing/temp_dir.h"

namespace sddb::testutil {

// One test's database: empty when made, removed with everything in it when destroyed. It
// outlives the DBs opened on it, so a test can close and reopen it, or kill a writer and reopen.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  // What superduper() takes; the same for every open.
  virtual const std::string& uri() const = 0;
};

struct TestBackend {
  // The test's parameter name: "sqlite", "postgres".
  std::string name;
  // A new, empty database. When the backend cannot run here it skips or fails the current test
  // (GTEST_SKIP / FAIL, saying why) and returns nullptr; the fixture's SetUp then stops there.
  std::function<std::unique_ptr<TestDatabase>()> make;
  // Whether the artifact store defaults to the data backend itself (PostgreSQL) rather than
  // files beside it (SQLite).
  bool artifacts_in_database = false;
};

// What gtest prints for the parameter (a failure names the backend).
inline void PrintTo(const TestBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string backend_name(const ::testing::TestParamInfo<TestBackend>& info) {
  return info.param.name;
}

// A SQLite file in a folder of its own (artifacts in file:// beside it).
class SqliteTestDatabase : public TestDatabase {
 public:
  SqliteTestDatabase() : uri_("sqlite://" + (dir_.path() / "db.sqlite").string()) {}
  const std::string& uri() const override { return uri_; }

 private:
  TempDir dir_;
  std::string uri_;
};

inline TestBackend sqlite_test_backend() {
  return {"sqlite", [] { return std::unique_ptr<TestDatabase>(new SqliteTestDatabase); }, false};
}

}  // namespace sddb::testutil
