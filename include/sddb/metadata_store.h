#pragma once
// MetadataStore: the SPI of the store of components (models, listeners, vector indexes, ...),
// their versions, parent->child links, jobs and key-value settings. By default it lives in the
// same database as the data (tables _components, _parent_child, _jobs, _meta).
// Implementations must be safe to call from several threads at once.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sddb/value.h"

namespace sddb {

// One version of one component. `body` is the serialized component (its parameters, artifact
// references by sha256, child references); the store does not interpret it.
struct ComponentRecord {
  std::string type_id;     // "model", "listener", "vector_index", "encoder", "dataset", "metric"
  std::string identifier;  // user-chosen name
  std::int64_t version = 0;
  bool hidden = false;
  Value body = Value::object();
  std::int64_t created_at_ms = 0;  // set by the store

  // "type_id/identifier/version", the key used by parent->child links.
  std::string key() const;
};

enum class JobStatus { pending, running, success, failed };
std::string_view to_string(JobStatus s);

struct JobRecord {
  std::string id;    // assigned by create_job when empty
  std::string kind;  // e.g. "listener_backfill"
  Value args = Value::object();
  JobStatus status = JobStatus::pending;
  double progress = 0.0;  // 0..1
  std::string error;      // set when failed
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // --- components ---
  // Stores a new version. Error(already_exists) if (type_id, identifier, version) is taken.
  virtual void create_component(const ComponentRecord& record) = 0;
  // Replaces the body of an existing version. Error(not_found) if absent.
  virtual void replace_component(const ComponentRecord& record) = 0;
  // The given version, or the latest visible one when `version` is empty. Hidden versions are
  // returned only with allow_hidden. Error(not_found) naming type, identifier and version.
  virtual ComponentRecord get_component(const std::string& type_id, const std::string& identifier,
                                        std::optional<std::int64_t> version = std::nullopt,
                                        bool allow_hidden = false) = 0;
  // Highest version stored (hidden included), or nothing.
  virtual std::optional<std::int64_t> latest_version(const std::string& type_id,
                                                     const std::string& identifier) = 0;
  // Distinct identifiers of a type that have a visible version (any version with
  // include_hidden), sorted.
  virtual std::vector<std::string> show_components(const std::string& type_id,
                                                   bool include_hidden = false) = 0;
  // Visible versions of one identifier, ascending.
  virtual std::vector<std::int64_t> show_versions(const std::string& type_id,
                                                  const std::string& identifier) = 0;
  // Distinct type ids that have a visible component, sorted.
  virtual std::vector<std::string> show_types() = 0;
  virtual void hide_component(const std::string& type_id, const std::string& identifier,
                              std::int64_t version) = 0;
  // Deletes a version and its links. Error(not_found) if absent.
  virtual void delete_component(const std::string& type_id, const std::string& identifier,
                                std::int64_t version) = 0;

  // --- parent -> child links (keys as ComponentRecord::key()) ---
  virtual void create_parent_child(const std::string& parent, const std::string& child) = 0;
  virtual std::vector<std::string> parents_of(const std::string& child) = 0;
  virtual std::vector<std::string> children_of(const std::string& parent) = 0;

  // --- jobs ---
  // Stores a new job and returns its id.
  virtual std::string create_job(const JobRecord& job) = 0;
  virtual JobRecord get_job(const std::string& id) = 0;
  // Updates status, progress and error of an existing job.
  virtual void update_job(const JobRecord& job) = 0;
  // Jobs, newest first, optionally only those with one status.
  virtual std::vector<JobRecord> list_jobs(std::optional<JobStatus> status = std::nullopt) = 0;

  // --- key-value settings ---
  virtual std::optional<Value> get_meta(const std::string& key) = 0;
  virtual void set_meta(const std::string& key, const Value& value) = 0;
};

}  // namespace sddb
