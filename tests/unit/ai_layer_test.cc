// The AI-layer scenarios (testing/ai_layer_cases.cc) on the embedded default: SQLite data and
// metadata, file artifacts beside it, the in-process vector index. The PostgreSQL target runs the
// same scenarios (tests/postgres/postgres_ai_layer_test.cc).

#include "testing/ai_layer_cases.h"
#include "testing/backends.h"

namespace sddb::testutil {

SDDB_INSTANTIATE_AI_LAYER_TESTS(sqlite_test_backend());

}  // namespace sddb::testutil
