// The SQLite MetadataStore: every method, its documented errors, persistence, and the schema
// version check on open.

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/sqlite/sqlite.h"
#include "backends/sqlite/sqlite_connection.h"
#include "sddb/error.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;

using testutil::TempDir;

std::shared_ptr<MetadataStore> open_meta(const std::string& path) {
  return detail::make_sqlite_metadata(detail::open_sqlite(path, "sqlite://" + path));
}

ComponentRecord record(std::string type, std::string id, std::int64_t version,
                       Value body = Value::object()) {
  ComponentRecord r;
  r.type_id = std::move(type);
  r.identifier = std::move(id);
  r.version = version;
  r.body = std::move(body);
  return r;
}

using testutil::code_of;

TEST(SqliteMetadata, ComponentsAndVersions) {
  auto m = open_meta(":memory:");
  EXPECT_FALSE(m->latest_version("model", "m").has_value());
  m->create_component(record("model", "m", 0, json(R"({"k": 1})")));
  m->create_component(record("model", "m", 1, json(R"({"k": 2})")));
  m->create_component(record("model", "a", 0));
  m->create_component(record("listener", "l", 0));
  EXPECT_EQ(code_of([&] { m->create_component(record("model", "m", 1)); }),
            ErrorCode::already_exists);

  ComponentRecord latest = m->get_component("model", "m");
  EXPECT_EQ(latest.version, 1);
  EXPECT_EQ(latest.body, json(R"({"k": 2})"));
  EXPECT_GT(latest.created_at_ms, 0);
  EXPECT_EQ(m->get_component("model", "m", 0).body, json(R"({"k": 1})"));
  EXPECT_EQ(*m->latest_version("model", "m"), 1);
  EXPECT_EQ(m->show_components("model"), (std::vector<std::string>{"a", "m"}));
  EXPECT_EQ(m->show_versions("model", "m"), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(m->show_types(), (std::vector<std::string>{"listener", "model"}));

  m->replace_component(record("model", "m", 0, json(R"({"k": 9})")));
  EXPECT_EQ(m->get_component("model", "m", 0).body, json(R"({"k": 9})"));
  EXPECT_EQ(code_of([&] { m->replace_component(record("model", "m", 7)); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { m->get_component("model", "m", 7); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { m->get_component("model", "zzz"); }), ErrorCode::not_found);
}

TEST(SqliteMetadata, HiddenVersions) {
  auto m = open_meta(":memory:");
  m->create_component(record("model", "m", 0));
  m->create_component(record("model", "m", 1));
  m->hide_component("model", "m", 1);
  // Hidden: not the latest visible, not shown, only returned with allow_hidden.
  EXPECT_EQ(m->get_component("model", "m").version, 0);
  EXPECT_EQ(code_of([&] { m->get_component("model", "m", 1); }), ErrorCode::not_found);
  ComponentRecord hidden = m->get_component("model", "m", 1, /*allow_hidden=*/true);
  EXPECT_TRUE(hidden.hidden);
  EXPECT_EQ(m->show_versions("model", "m"), (std::vector<std::int64_t>{0}));
  // The latest version counts hidden ones, so a new version never reuses a number.
  EXPECT_EQ(*m->latest_version("model", "m"), 1);
  m->hide_component("model", "m", 0);
  EXPECT_TRUE(m->show_components("model").empty());
  EXPECT_TRUE(m->show_types().empty());
  EXPECT_EQ(code_of([&] { m->get_component("model", "m"); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { m->hide_component("model", "m", 5); }), ErrorCode::not_found);
}

TEST(SqliteMetadata, DeleteRemovesVersionAndLinks) {
  auto m = open_meta(":memory:");
  m->create_component(record("model", "m", 0));
  m->create_component(record("listener", "l", 0));
  m->create_parent_child("listener/l/0", "model/m/0");
  m->create_parent_child("listener/l/0", "model/m/0");  // idempotent
  m->create_parent_child("listener/l/0", "encoder/e/0");
  EXPECT_EQ(m->children_of("listener/l/0"), (std::vector<std::string>{"encoder/e/0", "model/m/0"}));
  EXPECT_EQ(m->parents_of("model/m/0"), (std::vector<std::string>{"listener/l/0"}));
  m->delete_component("model", "m", 0);
  EXPECT_EQ(code_of([&] { m->get_component("model", "m", 0, true); }), ErrorCode::not_found);
  EXPECT_TRUE(m->parents_of("model/m/0").empty());
  EXPECT_EQ(m->children_of("listener/l/0"), (std::vector<std::string>{"encoder/e/0"}));
  EXPECT_EQ(code_of([&] { m->delete_component("model", "m", 0); }), ErrorCode::not_found);
}

TEST(SqliteMetadata, Jobs) {
  auto m = open_meta(":memory:");
  JobRecord j;
  j.kind = "listener_backfill";
  j.args = json(R"({"listener": "l"})");
  const std::string first = m->create_job(j);
  EXPECT_FALSE(first.empty());
  j.id = "fixed-id";
  EXPECT_EQ(m->create_job(j), "fixed-id");
  EXPECT_EQ(code_of([&] { m->create_job(j); }), ErrorCode::already_exists);

  JobRecord got = m->get_job(first);
  EXPECT_EQ(got.kind, "listener_backfill");
  EXPECT_EQ(got.args, json(R"({"listener": "l"})"));
  EXPECT_EQ(got.status, JobStatus::pending);
  EXPECT_GT(got.created_at_ms, 0);

  got.status = JobStatus::failed;
  got.progress = 0.5;
  got.error = "model crashed";
  m->update_job(got);
  JobRecord again = m->get_job(first);
  EXPECT_EQ(again.status, JobStatus::failed);
  EXPECT_DOUBLE_EQ(again.progress, 0.5);
  EXPECT_EQ(again.error, "model crashed");
  EXPECT_GE(again.updated_at_ms, again.created_at_ms);

  // Newest first.
  std::vector<JobRecord> all = m->list_jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "fixed-id");
  EXPECT_EQ(all[1].id, first);
  std::vector<JobRecord> failed = m->list_jobs(JobStatus::failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].id, first);
  EXPECT_TRUE(m->list_jobs(JobStatus::running).empty());

  EXPECT_EQ(code_of([&] { m->get_job("nope"); }), ErrorCode::not_found);
  JobRecord ghost;
  ghost.id = "nope";
  EXPECT_EQ(code_of([&] { m->update_job(ghost); }), ErrorCode::not_found);
}

TEST(SqliteMetadata, MetaKeyValues) {
  auto m = open_meta(":memory:");
  EXPECT_FALSE(m->get_meta("k").has_value());
  m->set_meta("k", json(R"({"a": [1, 2.5, "x"]})"));
  EXPECT_EQ(*m->get_meta("k"), json(R"({"a": [1, 2.5, "x"]})"));
  m->set_meta("k", Value("replaced"));
  EXPECT_EQ(*m->get_meta("k"), Value("replaced"));
}

TEST(SqliteMetadata, PersistsAcrossReopen) {
  TempDir dir;
  const std::string path = (dir.path() / "meta.db").string();
  {
    auto m = open_meta(path);
    m->create_component(record("model", "m", 0, json(R"({"x": 1})")));
    m->set_meta("k", Value(3));
    JobRecord j;
    j.id = "job1";
    j.kind = "k";
    m->create_job(j);
  }
  auto m = open_meta(path);
  EXPECT_EQ(m->get_component("model", "m").body, json(R"({"x": 1})"));
  EXPECT_EQ(*m->get_meta("k"), Value(3));
  EXPECT_EQ(m->get_job("job1").kind, "k");
}

TEST(SqliteMetadata, NewerSchemaIsRefused) {
  TempDir dir;
  const std::string path = (dir.path() / "future.db").string();
  {
    auto conn = detail::open_sqlite(path, "sqlite://" + path);
    auto m = detail::make_sqlite_metadata(conn);
    auto lock = conn->lock();
    conn->exec("PRAGMA user_version = " + std::to_string(detail::kSqliteSchemaVersion + 1));
  }
  try {
    detail::open_sqlite(path, "sqlite://" + path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::failed_precondition);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(SqliteMetadata, SeveralThreads) {
  TempDir dir;
  auto m = open_meta((dir.path() / "t.db").string());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int v = 0; v < 20; ++v) {
        m->create_component(record("model", "m" + std::to_string(t), v));
        JobRecord j;
        j.kind = "k";
        std::string id = m->create_job(j);
        j.id = id;
        j.status = JobStatus::success;
        m->update_job(j);
        (void)m->get_component("model", "m" + std::to_string(t));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(m->show_components("model").size(), 4u);
  EXPECT_EQ(m->list_jobs(JobStatus::success).size(), 80u);
}

}  // namespace
}  // namespace sddb
