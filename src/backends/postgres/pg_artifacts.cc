// The PostgreSQL ArtifactStore: content-addressed artifacts as rows of chunks. _artifacts holds
// one row per artifact (id, size, number of chunks), _artifact_chunks its bytes in chunks of
// kArtifactChunkBytes, so no statement carries more than one chunk and a get reads one chunk per
// round trip: neither side holds more than a chunk of an artifact in memory.
//
// put_from cannot know the id before the last byte, so it inserts the chunks as they are read
// under an upload key ("upload-" and random hex, never a valid id, and with no _artifacts row,
// so list and get never see it), then in the same transaction claims the id's header row and
// renames the chunks to it, or drops them when the id exists already. Readers see an artifact
// whole or not at all; a put cut short (an error, a throwing source, kill -9 of the client or
// of the server) rolls back and leaves no rows; a committed one survives a crash (with the
// server's durability settings). The transaction stays open while the source is read.
//
// Chunks are not compressed (see store_chunks_uncompressed).

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "artifacts/sha256.h"
#include "artifacts/streaming.h"
#include "backends/postgres/pg_connection.h"
#include "backends/postgres/postgres.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

std::string upload_key() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "upload-";
  for (int i = 0; i < 2; ++i) {
    std::uint64_t r = rng();
    for (int d = 0; d < 16; ++d, r >>= 4) key.push_back(kHex[r & 0xf]);
  }
  return key;
}

class PgArtifacts final : public ArtifactStore {
 public:
  explicit PgArtifacts(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  std::string uri() const override { return pool_->uri(); }

  std::string put_from(const ArtifactSource& read) override {
    HashingSource in(read);
    return upload([&in] { return in.next(); }, [&in] { return in.finish_hex(); });
  }

  std::string put(std::string_view bytes) override {
    // Most puts of bytes in memory (a model saved again) find them there already.
    std::string id = sha256_hex(bytes);
    if (exists(id)) return id;
    // The id is known, so the chunks go out as slices of the bytes, without a second hashing.
    std::string_view rest = bytes;
    return upload(
        [&rest] {
          const std::string_view chunk = rest.substr(0, kArtifactChunkBytes);
          rest.remove_prefix(chunk.size());
          return chunk;
        },
        [&id] { return id; });
  }

  void get_into(const std::string& id, const ArtifactSink& write) override {
    stream(id, write, nullptr);
  }

  std::string get(const std::string& id) override {
    std::string out;
    stream(
        id, [&out](std::string_view chunk) { out.append(chunk); }, &out);
    return out;
  }

  bool exists(const std::string& id) override {
    validate_artifact_id(id);
    PgLease l = pool_->lease();
    return l.exec("SELECT 1 FROM _artifacts WHERE id = $1", {id}, "looking up artifact " + id)
               .rows() > 0;
  }

  void remove(const std::string& id) override {
    validate_artifact_id(id);
    const std::string what = "removing artifact " + id;
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    l.exec("DELETE FROM _artifacts WHERE id = $1", {id}, what);
    l.exec("DELETE FROM _artifact_chunks WHERE id = $1", {id}, what);
    tx.commit();
  }

  std::vector<std::string> list() override {
    PgLease l = pool_->lease();
    PgResult r = l.exec("SELECT id FROM _artifacts ORDER BY id", {}, "listing artifacts");
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
  }

 private:
  // Hands the artifact to `write` chunk by chunk from one snapshot (so a concurrent remove
  // cannot cut it short), verifying it; reserves its size in `reserve` first, when given.
  void stream(const std::string& id, const ArtifactSink& write, std::string* reserve) {
    validate_artifact_id(id);
    const std::string what = "reading artifact " + id;
    PgLease l = pool_->lease();
    PgTransaction tx(l, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PgResult h = l.exec("SELECT size, chunks FROM _artifacts WHERE id = $1", {id}, what);
    if (h.rows() == 0) {
      throw Error(ErrorCode::not_found, "artifact " + id + " not found in " + pool_->uri());
    }
    const std::int64_t size = h.integer(0, 0);
    const std::int64_t chunks = h.integer(0, 1);
    // The header's size, unless a damaged header claims more than its chunks can hold.
    if (reserve != nullptr && size >= 0 &&
        size <= chunks * static_cast<std::int64_t>(kArtifactChunkBytes)) {
      reserve->reserve(static_cast<std::size_t>(size));
    }
    VerifyingSink out(id, write);
    for (std::int64_t c = 0; c < chunks; ++c) {
      PgResult r = l.exec("SELECT bytes FROM _artifact_chunks WHERE id = $1 AND chunk = $2",
                          {id, c}, what, /*binary_results=*/true);
      if (r.rows() == 0) {
        throw Error(ErrorCode::corruption, "artifact " + id + " in " + pool_->uri() +
                                               " is missing chunk " + std::to_string(c));
      }
      out.write(r.bytes(0, 0));
    }
    tx.commit();
    out.finish(pool_->uri());
  }

  // Inserts the chunks `next` yields (until an empty one) under an upload key, then claims the
  // id `finish` gives (called after the last chunk) in the same transaction: see the top.
  std::string upload(const std::function<std::string_view()>& next,
                     const std::function<std::string()>& finish) {
    const std::string upload = upload_key();
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    std::int64_t chunks = 0;
    std::int64_t size = 0;
    for (std::string_view chunk = next(); !chunk.empty(); chunk = next(), ++chunks) {
      l.exec("INSERT INTO _artifact_chunks (id, chunk, bytes) VALUES ($1, $2, $3)",
             {upload, chunks, PgParam::bytes(chunk)}, "uploading an artifact");
      size += static_cast<std::int64_t>(chunk.size());
    }
    std::string id = finish();
    const std::string what = "storing artifact " + id;
    // A concurrent put of the same bytes waits here on the header's key, then finds it taken.
    PgResult r = l.exec(
        "INSERT INTO _artifacts (id, size, chunks) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING "
        "RETURNING id",
        {id, size, chunks}, what);
    if (r.rows() == 0) {
      l.exec("DELETE FROM _artifact_chunks WHERE id = $1", {upload}, what);
    } else {
      // Stray chunks under the id with no header (nothing sddb does leaves them) would collide
      // with ours on the key; they are not part of any artifact.
      l.exec("DELETE FROM _artifact_chunks WHERE id = $1", {id}, what);
      l.exec("UPDATE _artifact_chunks SET id = $1 WHERE id = $2", {id, upload}, what);
    }
    tx.commit();
    return id;
  }

  std::shared_ptr<PgPool> pool_;
};

// Chunks are stored uncompressed (STORAGE EXTERNAL, still out of line): the large artifacts are
// model weights and other bytes that pglz cannot shrink, and the server's attempt to compress
// every 1 MiB chunk cut put from about 225 to 33 MiB/s (bench/RESULTS.md). The table is created
// with the default, so the first open sets it. A busy table (a long read holding its lock) or a
// table owned by another role is left as it is: only speed depends on it, and a later open tries
// again.
void store_chunks_uncompressed(PgPool& pool) {
  PgLease l = pool.lease();
  PgResult r = l.exec(
      "SELECT attstorage FROM pg_catalog.pg_attribute WHERE attrelid = "
      "'_artifact_chunks'::regclass AND attname = 'bytes'",
      {}, "reading the storage of _artifact_chunks");
  if (r.rows() == 0 || r.text(0, 0) == "e") return;
  try {
    PgTransaction tx(l);
    l.run("SET LOCAL lock_timeout TO '200ms'", "setting a lock timeout");
    l.run("ALTER TABLE _artifact_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL",
          "storing artifact chunks uncompressed");
    tx.commit();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::unavailable) throw;
  }
}

}  // namespace

std::shared_ptr<ArtifactStore> make_postgres_artifacts(std::shared_ptr<PgPool> pool) {
  store_chunks_uncompressed(*pool);
  return std::make_shared<PgArtifacts>(std::move(pool));
}

}  // namespace sddb::detail
