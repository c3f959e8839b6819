// Placeholder until the flat index lands.
#include "sddb/error.h"
#include "vector/inmemory.h"

namespace sddb::detail {
std::shared_ptr<VectorSearch> make_inmemory_vector_search() { return nullptr; }
}  // namespace sddb::detail
