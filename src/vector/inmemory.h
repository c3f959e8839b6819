// The embedded VectorSearch ("inmemory://"): exact (flat) indexes held in memory, scanned with
// the SIMD distance kernels of distance.h. Persisted by the DB through save()/load().
#pragma once

#include <memory>

#include "sddb/vector_search.h"

namespace sddb::detail {

std::shared_ptr<VectorSearch> make_inmemory_vector_search();

}  // namespace sddb::detail
