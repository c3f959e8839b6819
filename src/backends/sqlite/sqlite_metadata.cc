// The SQLite MetadataStore: tables _components, _parent_child, _jobs and _meta in the same file
// as the data, with the schema version in PRAGMA user_version (checked when the file is opened).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/sqlite/sqlite.h"
#include "backends/sqlite/sqlite_connection.h"
#include "sddb/db.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

std::string component_key(const std::string& type_id, const std::string& identifier,
                          std::int64_t version) {
  return type_id + "/" + identifier + "/" + std::to_string(version);
}

std::string describe(const std::string& type_id, const std::string& identifier,
                     std::optional<std::int64_t> version) {
  std::string s = "component " + type_id + " '" + identifier + "'";
  if (version) s += " version " + std::to_string(*version);
  return s;
}

JobStatus parse_status(const std::string& s, const std::string& id) {
  if (s == "pending") return JobStatus::pending;
  if (s == "running") return JobStatus::running;
  if (s == "success") return JobStatus::success;
  if (s == "failed") return JobStatus::failed;
  throw Error(ErrorCode::corruption, "job '" + id + "' has an unknown status '" + s + "'");
}

class SqliteMetadata : public MetadataStore {
 public:
  explicit SqliteMetadata(std::shared_ptr<SqliteConnection> conn) : conn_(std::move(conn)) {
    // Writes only when the schema is missing: an open that writes would wait for (and fail on)
    // another process's write lock, and could not open a read-only file at all.
    if (conn_->schema_version() == kSqliteSchemaVersion) return;
    auto lock = conn_->lock();
    if (conn_->read_only()) {
      throw Error(ErrorCode::failed_precondition,
                  "the SQLite database '" + conn_->path() + "' (" + conn_->uri() +
                      ") is open read-only and has no sddb metadata tables to read");
    }
    Transaction tx(*conn_);
    conn_->exec(
        "CREATE TABLE IF NOT EXISTS _components ("
        "type_id TEXT NOT NULL, identifier TEXT NOT NULL, version INTEGER NOT NULL, "
        "hidden INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, created_at INTEGER NOT NULL, "
        "PRIMARY KEY (type_id, identifier, version))");
    conn_->exec(
        "CREATE TABLE IF NOT EXISTS _parent_child ("
        "parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child))");
    conn_->exec("CREATE INDEX IF NOT EXISTS _parent_child_by_child ON _parent_child (child)");
    conn_->exec(
        "CREATE TABLE IF NOT EXISTS _jobs ("
        "id TEXT PRIMARY KEY, kind TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL, "
        "progress REAL NOT NULL, error TEXT NOT NULL, created_at INTEGER NOT NULL, "
        "updated_at INTEGER NOT NULL)");
    conn_->exec("CREATE INDEX IF NOT EXISTS _jobs_by_status ON _jobs (status, created_at)");
    conn_->exec("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    conn_->exec("PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion));
    tx.commit();
  }

  void create_component(const ComponentRecord& r) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "INSERT INTO _components (type_id, identifier, version, hidden, body, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    s.bind_text(1, r.type_id);
    s.bind_text(2, r.identifier);
    s.bind_int(3, r.version);
    s.bind_int(4, r.hidden ? 1 : 0);
    s.bind_text(5, r.body.to_json());
    s.bind_int(6, now_ms());
    int rc = sqlite3_step(s.raw());
    if (rc == SQLITE_DONE) return;
    if ((rc & 0xFF) == SQLITE_CONSTRAINT) {
      throw Error(ErrorCode::already_exists,
                  describe(r.type_id, r.identifier, r.version) + " already exists");
    }
    conn_->fail(rc, "storing " + describe(r.type_id, r.identifier, r.version));
  }

  void replace_component(const ComponentRecord& r) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "UPDATE _components SET body = ?4 WHERE type_id = ?1 AND identifier = ?2 AND "
        "version = ?3");
    s.bind_text(1, r.type_id);
    s.bind_text(2, r.identifier);
    s.bind_int(3, r.version);
    s.bind_text(4, r.body.to_json());
    s.run();
    if (sqlite3_changes(conn_->handle()) == 0) {
      throw Error(ErrorCode::not_found,
                  describe(r.type_id, r.identifier, r.version) + " does not exist");
    }
  }

  ComponentRecord get_component(const std::string& type_id, const std::string& identifier,
                                std::optional<std::int64_t> version, bool allow_hidden) override {
    auto lock = conn_->lock();
    std::string sql =
        "SELECT type_id, identifier, version, hidden, body, created_at FROM _components "
        "WHERE type_id = ?1 AND identifier = ?2";
    if (version) sql += " AND version = ?3";
    if (!allow_hidden) sql += " AND hidden = 0";
    sql += " ORDER BY version DESC LIMIT 1";
    Stmt s = conn_->prepare(sql);
    s.bind_text(1, type_id);
    s.bind_text(2, identifier);
    if (version) s.bind_int(3, *version);
    if (!s.step()) {
      throw Error(ErrorCode::not_found,
                  version ? describe(type_id, identifier, version) + " not found" +
                                (allow_hidden ? "" : " (or hidden)")
                          : "no visible version of " + describe(type_id, identifier, {}));
    }
    ComponentRecord r;
    r.type_id = s.column_text(0);
    r.identifier = s.column_text(1);
    r.version = s.column_int(2);
    r.hidden = s.column_int(3) != 0;
    r.body = Value::parse(s.column_text(4), describe(r.type_id, r.identifier, r.version));
    r.created_at_ms = s.column_int(5);
    return r;
  }

  std::optional<std::int64_t> latest_version(const std::string& type_id,
                                             const std::string& identifier) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "SELECT max(version) FROM _components WHERE type_id = ?1 AND identifier = ?2");
    s.bind_text(1, type_id);
    s.bind_text(2, identifier);
    s.step();
    if (s.column_is_null(0)) return std::nullopt;
    return s.column_int(0);
  }

  std::vector<std::string> show_components(const std::string& type_id,
                                           bool include_hidden) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(include_hidden
                                ? "SELECT DISTINCT identifier FROM _components WHERE type_id = ?1 "
                                  "ORDER BY identifier"
                                : "SELECT DISTINCT identifier FROM _components WHERE type_id = ?1 "
                                  "AND hidden = 0 ORDER BY identifier");
    s.bind_text(1, type_id);
    return strings(s);
  }

  std::vector<std::int64_t> show_versions(const std::string& type_id,
                                          const std::string& identifier) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "SELECT version FROM _components WHERE type_id = ?1 AND identifier = ?2 AND hidden = 0 "
        "ORDER BY version");
    s.bind_text(1, type_id);
    s.bind_text(2, identifier);
    std::vector<std::int64_t> out;
    while (s.step()) out.push_back(s.column_int(0));
    return out;
  }

  std::vector<std::string> show_types() override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "SELECT DISTINCT type_id FROM _components WHERE hidden = 0 ORDER BY type_id");
    return strings(s);
  }

  void hide_component(const std::string& type_id, const std::string& identifier,
                      std::int64_t version) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "UPDATE _components SET hidden = 1 WHERE type_id = ?1 AND identifier = ?2 AND "
        "version = ?3");
    s.bind_text(1, type_id);
    s.bind_text(2, identifier);
    s.bind_int(3, version);
    s.run();
    if (sqlite3_changes(conn_->handle()) == 0) {
      throw Error(ErrorCode::not_found, describe(type_id, identifier, version) + " not found");
    }
  }

  void delete_component(const std::string& type_id, const std::string& identifier,
                        std::int64_t version) override {
    auto lock = conn_->lock();
    Transaction tx(*conn_);
    {
      Stmt s = conn_->prepare(
          "DELETE FROM _components WHERE type_id = ?1 AND identifier = ?2 AND version = ?3");
      s.bind_text(1, type_id);
      s.bind_text(2, identifier);
      s.bind_int(3, version);
      s.run();
      if (sqlite3_changes(conn_->handle()) == 0) {
        throw Error(ErrorCode::not_found, describe(type_id, identifier, version) + " not found");
      }
    }
    Stmt links = conn_->prepare("DELETE FROM _parent_child WHERE parent = ?1 OR child = ?1");
    links.bind_text(1, component_key(type_id, identifier, version));
    links.run();
    tx.commit();
  }

  void create_parent_child(const std::string& parent, const std::string& child) override {
    auto lock = conn_->lock();
    // Idempotent: adding the same component twice links it twice.
    Stmt s = conn_->prepare("INSERT OR IGNORE INTO _parent_child (parent, child) VALUES (?1, ?2)");
    s.bind_text(1, parent);
    s.bind_text(2, child);
    s.run();
  }

  std::vector<std::string> parents_of(const std::string& child) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare("SELECT parent FROM _parent_child WHERE child = ?1 ORDER BY parent");
    s.bind_text(1, child);
    return strings(s);
  }

  std::vector<std::string> children_of(const std::string& parent) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare("SELECT child FROM _parent_child WHERE parent = ?1 ORDER BY child");
    s.bind_text(1, parent);
    return strings(s);
  }

  std::string create_job(const JobRecord& job) override {
    const std::string id = job.id.empty() ? new_id() : job.id;
    const std::int64_t now = now_ms();
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "INSERT INTO _jobs (id, kind, args, status, progress, error, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
    s.bind_text(1, id);
    s.bind_text(2, job.kind);
    s.bind_text(3, job.args.to_json());
    s.bind_text(4, to_string(job.status));
    s.bind(5, Value(job.progress));
    s.bind_text(6, job.error);
    s.bind_int(7, now);
    int rc = sqlite3_step(s.raw());
    if (rc == SQLITE_DONE) return id;
    if ((rc & 0xFF) == SQLITE_CONSTRAINT) {
      throw Error(ErrorCode::already_exists, "job '" + id + "' already exists");
    }
    conn_->fail(rc, "storing job '" + id + "'");
  }

  JobRecord get_job(const std::string& id) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(std::string(kJobColumns) + " WHERE id = ?1");
    s.bind_text(1, id);
    if (!s.step()) throw Error(ErrorCode::not_found, "job '" + id + "' not found");
    return job_from(s);
  }

  void update_job(const JobRecord& job) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "UPDATE _jobs SET status = ?2, progress = ?3, error = ?4, updated_at = ?5 WHERE id = ?1");
    s.bind_text(1, job.id);
    s.bind_text(2, to_string(job.status));
    s.bind(3, Value(job.progress));
    s.bind_text(4, job.error);
    s.bind_int(5, now_ms());
    s.run();
    if (sqlite3_changes(conn_->handle()) == 0) {
      throw Error(ErrorCode::not_found, "job '" + job.id + "' not found");
    }
  }

  std::vector<JobRecord> list_jobs(std::optional<JobStatus> status) override {
    auto lock = conn_->lock();
    std::string sql = kJobColumns;
    if (status) sql += " WHERE status = ?1";
    // Newest first; rowid breaks ties between jobs created in the same millisecond.
    sql += " ORDER BY created_at DESC, rowid DESC";
    Stmt s = conn_->prepare(sql);
    if (status) s.bind_text(1, to_string(*status));
    std::vector<JobRecord> out;
    while (s.step()) out.push_back(job_from(s));
    return out;
  }

  std::optional<Value> get_meta(const std::string& key) override {
    auto lock = conn_->lock();
    Stmt s = conn_->prepare("SELECT value FROM _meta WHERE key = ?1");
    s.bind_text(1, key);
    if (!s.step()) return std::nullopt;
    return Value::parse(s.column_text(0), "setting '" + key + "'");
  }

  void set_meta(const std::string& key, const Value& value) override {
    const std::string text = value.to_json();
    auto lock = conn_->lock();
    Stmt s = conn_->prepare(
        "INSERT INTO _meta (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    s.bind_text(1, key);
    s.bind_text(2, text);
    s.run();
  }

 private:
  static constexpr const char* kJobColumns =
      "SELECT id, kind, args, status, progress, error, created_at, updated_at FROM _jobs";

  static std::vector<std::string> strings(Stmt& s) {
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.column_text(0));
    return out;
  }

  static JobRecord job_from(Stmt& s) {
    JobRecord j;
    j.id = s.column_text(0);
    j.kind = s.column_text(1);
    j.args = Value::parse(s.column_text(2), "arguments of job '" + j.id + "'");
    j.status = parse_status(s.column_text(3), j.id);
    j.progress = s.column_double(4);
    j.error = s.column_text(5);
    j.created_at_ms = s.column_int(6);
    j.updated_at_ms = s.column_int(7);
    return j;
  }

  std::shared_ptr<SqliteConnection> conn_;
};

}  // namespace

std::shared_ptr<MetadataStore> make_sqlite_metadata(std::shared_ptr<SqliteConnection> conn) {
  return std::make_shared<SqliteMetadata>(std::move(conn));
}

}  // namespace sddb::detail
