#pragma once
// The whole public API of sddb: #include <sddb/sddb.h>.

#include "sddb/artifact_store.h"  // IWYU pragma: export
#include "sddb/config.h"          // IWYU pragma: export
#include "sddb/cursor.h"          // IWYU pragma: export
#include "sddb/data_backend.h"    // IWYU pragma: export
#include "sddb/db.h"              // IWYU pragma: export
#include "sddb/error.h"           // IWYU pragma: export
#include "sddb/metadata_store.h"  // IWYU pragma: export
#include "sddb/query.h"           // IWYU pragma: export
#include "sddb/value.h"           // IWYU pragma: export
#include "sddb/vector_search.h"   // IWYU pragma: export
