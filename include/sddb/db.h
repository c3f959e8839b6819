#pragma once
// sddb::DB joins the four parts: data backend, metadata store, artifact store and vector search.
// It is the one object users talk to: db->execute(query) runs any query of sddb/query.h.
//
// Threads: a DB may be used from several threads at once; each part serializes what it must.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "sddb/artifact_store.h"
#include "sddb/component.h"
#include "sddb/config.h"
#include "sddb/cursor.h"
#include "sddb/data_backend.h"
#include "sddb/metadata_store.h"
#include "sddb/model.h"
#include "sddb/query.h"
#include "sddb/vector_search.h"

namespace sddb {

struct ListenerState;
struct IndexState;
struct PreparedInputs;

class DB {
 public:
  // Takes shared ownership of the parts; `vectors` may be null (no like() queries).
  DB(std::shared_ptr<DataBackend> databackend, std::shared_ptr<MetadataStore> metadata,
     std::shared_ptr<ArtifactStore> artifact_store,
     std::shared_ptr<VectorSearch> vector_database = nullptr);
  ~DB();
  DB(const DB&) = delete;
  DB& operator=(const DB&) = delete;

  // Every execute checks its query first (collection name, filter, update, projection) and
  // throws Error(invalid_argument) naming what is wrong before anything is changed.
  Cursor execute(const Find& q);
  std::optional<Document> execute(const FindOne& q);
  std::int64_t execute(const Count& q);
  // Documents without _id get a fresh one (24 hex digits, time-ordered, never reused).
  InsertResult execute(const InsertMany& q);
  InsertResult execute(InsertMany&& q);  // the same, without copying the documents
  UpdateResult execute(const UpdateMany& q);
  UpdateResult execute(const ReplaceOne& q);
  DeleteResult execute(const DeleteMany& q);
  // Vector search; see Like in sddb/query.h. Error(not_found) for a missing index,
  // Error(invalid_argument) for an example the index's models cannot encode.
  Cursor execute(const Like& q);

  // --- components (design §4) ---
  // Adds a component as a new version, unless it equals the latest version of its identifier
  // (then nothing is added and that version is returned). Children are checked first: a
  // listener's model, an index's listeners and a model's encoder must exist
  // (Error(not_found) naming them). Adding a model with fit() trains it here first; adding a
  // listener backfills its outputs (a job, see jobs()); adding an index fills it.
  ComponentRef add(const Model& model, const ProgressFn& progress = {});
  ComponentRef add(const Listener& listener, const ProgressFn& progress = {});
  ComponentRef add(const VectorIndex& index);
  ComponentRef add(const Encoder& encoder);
  ComponentRef add(const Dataset& dataset);
  ComponentRef add(const Metric& metric);

  // The type ids that have components; the identifiers of a type; the versions of one
  // identifier; the record of one version (the latest when version is empty).
  std::vector<std::string> show();
  std::vector<std::string> show(const std::string& type_id);
  std::vector<std::int64_t> show(const std::string& type_id, const std::string& identifier);
  ComponentRecord show(const std::string& type_id, const std::string& identifier,
                       std::optional<std::int64_t> version);

  // Removes one version (or every version when version is empty) and what belongs to it only:
  // a listener's outputs, an index's vectors, artifacts no other version uses. A version that a
  // visible parent uses is Error(failed_precondition) naming the parent, unless `force`; then
  // it is hidden, not deleted, and keeps working for its parents.
  void remove(const std::string& type_id, const std::string& identifier,
              std::optional<std::int64_t> version = std::nullopt, bool force = false);

  // A working component from its record (latest visible version when version is empty), with
  // its artifacts loaded from the artifact store. Cached: the same version loads once.
  Model load_model(const std::string& identifier,
                   std::optional<std::int64_t> version = std::nullopt);
  Listener load_listener(const std::string& identifier,
                         std::optional<std::int64_t> version = std::nullopt);
  VectorIndex load_vector_index(const std::string& identifier,
                                std::optional<std::int64_t> version = std::nullopt);
  // The documents a Dataset froze when it was added.
  std::vector<Document> load_dataset(const std::string& identifier,
                                     std::optional<std::int64_t> version = std::nullopt);

  // Jobs, newest first (listener backfills, catch-ups, refreshes).
  std::vector<JobRecord> jobs();
  // Writes every vector index to the artifact store now (also done when the DB closes and
  // after each backfill), so that the next open only catches up what changed since.
  void persist_vector_indexes();

  // Makes the backend index a dotted field path of a collection, so that equality and range
  // filters on it search instead of scanning. Idempotent. Error(invalid_argument) for a bad
  // collection name or path.
  void create_index(const std::string& collection, const std::string& path);
  // Names of the collections that exist, sorted.
  std::vector<std::string> collections();
  // Removes a collection and its indexes; a missing collection is not an error.
  void drop_collection(const std::string& collection);

  // The parts themselves, for tools and backend authors. Calls made on them directly bypass the
  // checks that execute() makes.
  DataBackend& databackend() { return *databackend_; }
  MetadataStore& metadata() { return *metadata_; }
  ArtifactStore& artifact_store() { return *artifact_store_; }
  VectorSearch* vector_database() { return vector_database_.get(); }

 private:
  std::shared_ptr<DataBackend> databackend_;
  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<ArtifactStore> artifact_store_;
  std::shared_ptr<VectorSearch> vector_database_;
  struct AiState;  // listeners, loaded models and indexes (src/db/ai.cc)
  void init_ai();
  // Listener hooks, called after a write has committed (src/db/ai.cc). They never make the
  // write fail: a model that fails records a failed job instead.
  void after_insert(const std::string& collection, const std::vector<Document>& docs);
  void after_update(const std::string& collection, const std::vector<std::string>& ids,
                    const std::string& job);
  void after_delete(const std::string& collection, const std::vector<std::string>& ids);
  void after_drop(const std::string& collection);
  // Before an update of a collection with listeners: a job that, if the process dies before
  // after_update finishes, makes the next open recompute those listeners' outputs. Empty
  // when the collection has no listeners.
  std::string before_update(const std::string& collection);
  // Internals of the AI layer (src/db/ai.cc, src/db/like.cc, src/jobs/listeners.cc); all of
  // them expect ai_->mutex to be held.
  Model model_for(const std::string& identifier, std::int64_t version);
  // How computed outputs are written: `replace` by the process that just wrote the documents
  // (its outputs are the newest), `missing_only` by a catch-up that read the documents earlier
  // and must not overwrite what a live writer stored since (DataBackend::insert_missing_outputs).
  enum class OutputWrite { replace, missing_only };
  void compute_outputs(const ListenerState& listener, const std::vector<Document>& docs,
                       OutputWrite write = OutputWrite::replace);
  PreparedInputs prepare_inputs(const ListenerState& listener, const std::vector<Document>& docs,
                                OutputWrite write = OutputWrite::replace);
  void store_outputs(const ListenerState& listener, const PreparedInputs& prepared,
                     std::vector<std::vector<float>> vectors,
                     OutputWrite write = OutputWrite::replace);
  void compute_outputs_for_ids(const ListenerState& listener, const std::vector<std::string>& ids,
                               OutputWrite write = OutputWrite::replace);
  void remove_outputs(const ListenerState& listener, const std::vector<std::string>& ids);
  std::string backfill(const ListenerState& listener, const ProgressFn& progress);
  void catch_up(const ListenerState& listener);
  void recover_jobs();
  void load_index(IndexState& index);
  void sync_index(IndexState& index);
  void persist_index(IndexState& index);
  std::unique_ptr<AiState> ai_;
};

// Builds the four parts named by a Config, through the registry of URI schemes.
// Error(invalid_argument) for an unknown scheme or a malformed URI, naming the config key.
std::unique_ptr<DB> build_datalayer(const Config& config);

// One call: load_config() with `uri` (when given) as the data backend, then build_datalayer.
// superduper() with no argument opens the embedded default in the current folder.
std::unique_ptr<DB> superduper(std::string_view uri = {});

// A fresh document id: 24 lowercase hex digits (seconds, random, counter), like an ObjectId.
std::string new_id();

}  // namespace sddb
