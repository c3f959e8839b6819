#pragma once
// The artifact stores that ship in sddb_core.

#include <memory>
#include <string>

#include "sddb/artifact_store.h"

namespace sddb::detail {

// "file://DIR": one file per artifact under DIR (created if needed), written atomically
// (temporary file, fsync, rename, fsync of the folder).
std::shared_ptr<ArtifactStore> make_file_store(const std::string& dir, const std::string& uri);
// "memory://": a process-local store, for tests and sqlite://:memory:.
std::shared_ptr<ArtifactStore> make_memory_store();

}  // namespace sddb::detail
