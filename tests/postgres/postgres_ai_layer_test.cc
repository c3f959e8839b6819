// The AI-layer scenarios (testing/ai_layer_cases.cc) on PostgreSQL: data, metadata and artifacts
// in one schema of its own per test (dropped afterwards), the in-process vector index with its
// snapshots in PostgreSQL's artifact store. Without SDDB_TEST_POSTGRES_URI they skip, saying why
// (under CI=true they fail).

#include "testing/ai_layer_cases.h"
#include "testing/postgres.h"

namespace sddb::testutil {

SDDB_INSTANTIATE_AI_LAYER_TESTS(postgres_test_backend());

}  // namespace sddb::testutil
