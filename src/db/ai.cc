// The AI layer of DB: components, versions, models, listeners and vector indexes.
#include "sddb/db.h"
#include "sddb/error.h"

namespace sddb {

struct DB::AiState {};

DB::DB(std::shared_ptr<DataBackend> databackend, std::shared_ptr<MetadataStore> metadata,
       std::shared_ptr<ArtifactStore> artifact_store, std::shared_ptr<VectorSearch> vector_database)
    : databackend_(std::move(databackend)),
      metadata_(std::move(metadata)),
      artifact_store_(std::move(artifact_store)),
      vector_database_(std::move(vector_database)) {
  if (!databackend_ || !metadata_ || !artifact_store_) {
    throw Error(ErrorCode::invalid_argument,
                "DB needs a data backend, a metadata store and an artifact store (got null)");
  }
  init_ai();
}

void DB::init_ai() { ai_ = std::make_unique<AiState>(); }
DB::~DB() = default;

}  // namespace sddb
