// The embedded VectorSearch ("inmemory://"): indexes held in memory, each either exact (flat:
// flat_index.h, scanned with the SIMD distance kernels of distance.h) or approximate (HNSW:
// hnsw.h behind the id map of hnsw_search.h), as IndexOptions says. Persisted by the DB through
// save()/load(); load() tells the two formats apart.
#pragma once

#include <memory>

#include "sddb/vector_search.h"

namespace sddb::detail {

std::shared_ptr<VectorSearch> make_inmemory_vector_search();

}  // namespace sddb::detail
