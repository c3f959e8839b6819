#pragma once
// The PostgreSQL backend: documents (DataBackend), metadata (MetadataStore) and artifacts
// (ArtifactStore) in one PostgreSQL database, through libpq. The parts opened on one URI share
// one PgPool (pg_connection.h says what the URI may hold, `schema=` among it).
//
// Storage (design §5). A collection is a table ("name"): n bigint identity (insertion order,
// for natural order, skip and limit), _id text primary key (byte order), doc text (the JSON text
// Value::to_json writes: JSONB would lose member order and the int/double distinction) and
// body jsonb, generated from doc by the server, which filters read (pg_compiler.h).
// Model outputs of every listener share one table, _outputs (name, _id, seq, output bytea,
// model_version), with the names in _outputs_names and seq from one sequence. Metadata lives in
// _components, _parent_child, _jobs and _meta; artifacts in _artifacts (id, size) and
// _artifact_chunks (id, chunk number, bytes of at most 1 MiB).
// create_index(collection, path) makes one GIN (jsonb_path_ops) index over body, for equality on
// every path, and for the path: _rng_<oid>_<hash>, a btree over its number (commented "sddb range
// index: <path>", which is how finds learn of it), and _arr_<oid>_<hash>, a partial index of the
// rows where the path or one of its prefixes is an array (pg_compiler.h says how ranges use them).
//
// Cursors. find() reads through a server-side cursor in a REPEATABLE READ READ ONLY transaction
// begun by find(): the cursor returns the data as of find(), fetching rows in batches, and holds
// one pooled connection until it ends.

#include <memory>
#include <string>

#include "sddb/artifact_store.h"
#include "sddb/data_backend.h"
#include "sddb/metadata_store.h"

namespace sddb::detail {

class PgPool;

// Connects to the database a postgresql:// (or postgres://) URI names and creates sddb's tables
// when they are missing. Error(unavailable) when the server cannot be reached,
// Error(invalid_argument) for a malformed URI.
std::shared_ptr<PgPool> open_postgres(const std::string& uri);

std::shared_ptr<DataBackend> make_postgres_backend(std::shared_ptr<PgPool> pool);
std::shared_ptr<MetadataStore> make_postgres_metadata(std::shared_ptr<PgPool> pool);
std::shared_ptr<ArtifactStore> make_postgres_artifacts(std::shared_ptr<PgPool> pool);

}  // namespace sddb::detail
