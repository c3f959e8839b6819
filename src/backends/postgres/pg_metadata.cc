// The PostgreSQL MetadataStore: tables _components, _parent_child, _jobs and _meta (created by
// open_postgres), beside the data.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/postgres/pg_connection.h"
#include "backends/postgres/postgres.h"
#include "sddb/db.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

// Doubles as text that reads back exactly.
std::string real_text(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

class PgMetadata : public MetadataStore {
 public:
  explicit PgMetadata(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  void create_component(const ComponentRecord& r) override {
    PgLease l = pool_->lease();
    try {
      l.exec(
          "INSERT INTO _components (type_id, identifier, version, hidden, body, created_at) "
          "VALUES ($1, $2, $3, $4, $5, $6)",
          {r.type_id, r.identifier, r.version, r.hidden ? "true" : "false", r.body.to_json(),
           now_millis()},
          "storing " + describe(r.type_id, r.identifier, r.version));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::already_exists) throw;
      throw Error(ErrorCode::already_exists,
                  describe(r.type_id, r.identifier, r.version) + " already exists");
    }
  }

  void replace_component(const ComponentRecord& r) override {
    PgLease l = pool_->lease();
    PgResult res = l.exec(
        "UPDATE _components SET body = $4 WHERE type_id = $1 AND identifier = $2 AND "
        "version = $3",
        {r.type_id, r.identifier, r.version, r.body.to_json()},
        "replacing " + describe(r.type_id, r.identifier, r.version));
    if (res.affected() == 0) {
      throw Error(ErrorCode::not_found,
                  describe(r.type_id, r.identifier, r.version) + " does not exist");
    }
  }

  ComponentRecord get_component(const std::string& type_id, const std::string& identifier,
                                std::optional<std::int64_t> version, bool allow_hidden) override {
    std::string sql =
        "SELECT type_id, identifier, version, hidden, body, created_at FROM _components "
        "WHERE type_id = $1 AND identifier = $2";
    std::vector<PgParam> p = {type_id, identifier};
    if (version) {
      sql += " AND version = $3";
      p.emplace_back(*version);
    }
    if (!allow_hidden) sql += " AND NOT hidden";
    sql += " ORDER BY version DESC LIMIT 1";
    PgLease l = pool_->lease();
    PgResult r = l.exec(sql, p, "reading " + describe(type_id, identifier, version));
    if (r.rows() == 0) {
      throw Error(ErrorCode::not_found,
                  version ? describe(type_id, identifier, version) + " not found" +
                                (allow_hidden ? "" : " (or hidden)")
                          : "no visible version of " + describe(type_id, identifier, {}));
    }
    ComponentRecord c;
    c.type_id = r.str(0, 0);
    c.identifier = r.str(0, 1);
    c.version = r.integer(0, 2);
    c.hidden = r.text(0, 3) == "t";
    c.body = Value::parse(r.text(0, 4), describe(c.type_id, c.identifier, c.version));
    c.created_at_ms = r.integer(0, 5);
    return c;
  }

  std::optional<std::int64_t> latest_version(const std::string& type_id,
                                             const std::string& identifier) override {
    PgLease l = pool_->lease();
    PgResult r =
        l.exec("SELECT max(version) FROM _components WHERE type_id = $1 AND identifier = $2",
               {type_id, identifier}, "reading " + describe(type_id, identifier, {}));
    if (r.is_null(0, 0)) return std::nullopt;
    return r.integer(0, 0);
  }

  std::vector<std::string> show_components(const std::string& type_id,
                                           bool include_hidden) override {
    return strings(include_hidden
                       ? "SELECT DISTINCT identifier FROM _components WHERE type_id = $1 "
                         "ORDER BY identifier"
                       : "SELECT DISTINCT identifier FROM _components WHERE type_id = $1 "
                         "AND NOT hidden ORDER BY identifier",
                   {type_id});
  }

  std::vector<std::int64_t> show_versions(const std::string& type_id,
                                          const std::string& identifier) override {
    PgLease l = pool_->lease();
    PgResult r = l.exec(
        "SELECT version FROM _components WHERE type_id = $1 AND identifier = $2 AND NOT hidden "
        "ORDER BY version",
        {type_id, identifier}, "reading " + describe(type_id, identifier, {}));
    std::vector<std::int64_t> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.integer(i, 0));
    return out;
  }

  std::vector<std::string> show_types() override {
    return strings("SELECT DISTINCT type_id FROM _components WHERE NOT hidden ORDER BY type_id",
                   {});
  }

  void hide_component(const std::string& type_id, const std::string& identifier,
                      std::int64_t version) override {
    PgLease l = pool_->lease();
    PgResult r = l.exec(
        "UPDATE _components SET hidden = true WHERE type_id = $1 AND identifier = $2 AND "
        "version = $3",
        {type_id, identifier, version}, "hiding " + describe(type_id, identifier, version));
    if (r.affected() == 0) {
      throw Error(ErrorCode::not_found, describe(type_id, identifier, version) + " not found");
    }
  }

  void delete_component(const std::string& type_id, const std::string& identifier,
                        std::int64_t version) override {
    const std::string what = "deleting " + describe(type_id, identifier, version);
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    PgResult r =
        l.exec("DELETE FROM _components WHERE type_id = $1 AND identifier = $2 AND version = $3",
               {type_id, identifier, version}, what);
    if (r.affected() == 0) {
      throw Error(ErrorCode::not_found, describe(type_id, identifier, version) + " not found");
    }
    l.exec("DELETE FROM _parent_child WHERE parent = $1 OR child = $1",
           {component_key(type_id, identifier, version)}, what);
    tx.commit();
  }

  void create_parent_child(const std::string& parent, const std::string& child) override {
    PgLease l = pool_->lease();
    // Idempotent: adding the same component twice links it twice.
    l.exec("INSERT INTO _parent_child (parent, child) VALUES ($1, $2) ON CONFLICT DO NOTHING",
           {parent, child}, "linking '" + parent + "' to '" + child + "'");
  }

  std::vector<std::string> parents_of(const std::string& child) override {
    return strings("SELECT parent FROM _parent_child WHERE child = $1 ORDER BY parent", {child});
  }

  std::vector<std::string> children_of(const std::string& parent) override {
    return strings("SELECT child FROM _parent_child WHERE parent = $1 ORDER BY child", {parent});
  }

  std::string create_job(const JobRecord& job) override {
    const std::string id = job.id.empty() ? new_id() : job.id;
    const std::int64_t now = now_millis();
    PgLease l = pool_->lease();
    try {
      l.exec(
          "INSERT INTO _jobs (id, kind, args, status, progress, error, created_at, updated_at) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
          {id, job.kind, job.args.to_json(), std::string(to_string(job.status)),
           real_text(job.progress), job.error, now},
          "storing job '" + id + "'");
    } catch (const Error& e) {
      if (e.code() != ErrorCode::already_exists) throw;
      throw Error(ErrorCode::already_exists, "job '" + id + "' already exists");
    }
    return id;
  }

  JobRecord get_job(const std::string& id) override {
    PgLease l = pool_->lease();
    PgResult r =
        l.exec(std::string(kJobColumns) + " WHERE id = $1", {id}, "reading job '" + id + "'");
    if (r.rows() == 0) throw Error(ErrorCode::not_found, "job '" + id + "' not found");
    return job_from(r, 0);
  }

  void update_job(const JobRecord& job) override {
    PgLease l = pool_->lease();
    PgResult r = l.exec(
        "UPDATE _jobs SET status = $2, progress = $3, error = $4, updated_at = $5 WHERE id = $1",
        {job.id, std::string(to_string(job.status)), real_text(job.progress), job.error,
         now_millis()},
        "updating job '" + job.id + "'");
    if (r.affected() == 0) throw Error(ErrorCode::not_found, "job '" + job.id + "' not found");
  }

  std::vector<JobRecord> list_jobs(std::optional<JobStatus> status) override {
    std::string sql = kJobColumns;
    std::vector<PgParam> p;
    if (status) {
      sql += " WHERE status = $1";
      p.emplace_back(std::string(to_string(*status)));
    }
    // Newest first; n breaks ties between jobs created in the same millisecond.
    sql += " ORDER BY created_at DESC, n DESC";
    PgLease l = pool_->lease();
    PgResult r = l.exec(sql, p, "listing jobs");
    std::vector<JobRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(job_from(r, i));
    return out;
  }

  std::optional<Value> get_meta(const std::string& key) override {
    PgLease l = pool_->lease();
    PgResult r =
        l.exec("SELECT value FROM _meta WHERE key = $1", {key}, "reading setting '" + key + "'");
    if (r.rows() == 0) return std::nullopt;
    return Value::parse(r.text(0, 0), "setting '" + key + "'");
  }

  void set_meta(const std::string& key, const Value& value) override {
    const std::string text = value.to_json();
    PgLease l = pool_->lease();
    l.exec(
        "INSERT INTO _meta (key, value) VALUES ($1, $2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {key, text}, "storing setting '" + key + "'");
  }

 private:
  static constexpr const char* kJobColumns =
      "SELECT id, kind, args, status, progress, error, created_at, updated_at FROM _jobs";

  std::vector<std::string> strings(const std::string& sql, std::vector<PgParam> p) {
    PgLease l = pool_->lease();
    PgResult r = l.exec(sql, p, "reading metadata");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
  }

  static JobRecord job_from(const PgResult& r, int i) {
    JobRecord j;
    j.id = r.str(i, 0);
    j.kind = r.str(i, 1);
    j.args = Value::parse(r.text(i, 2), "arguments of job '" + j.id + "'");
    j.status = parse_status(r.str(i, 3), j.id);
    j.progress = r.real(i, 4);
    j.error = r.str(i, 5);
    j.created_at_ms = r.integer(i, 6);
    j.updated_at_ms = r.integer(i, 7);
    return j;
  }

  std::shared_ptr<PgPool> pool_;
};

}  // namespace

std::shared_ptr<MetadataStore> make_postgres_metadata(std::shared_ptr<PgPool> pool) {
  return std::make_shared<PgMetadata>(std::move(pool));
}

}  // namespace sddb::detail
