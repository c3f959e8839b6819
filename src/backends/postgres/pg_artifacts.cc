// The PostgreSQL ArtifactStore: content-addressed artifacts as rows of chunks. _artifacts holds
// one row per artifact (id, size, number of chunks), _artifact_chunks its bytes in chunks of
// kChunkBytes, so no statement carries more than one chunk and a get reads one chunk per round
// trip. A put writes the header and all chunks in one transaction: readers see an artifact whole
// or not at all, and a committed one survives a crash (with the server's durability settings).

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "artifacts/sha256.h"
#include "backends/postgres/pg_connection.h"
#include "backends/postgres/postgres.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

constexpr std::size_t kChunkBytes = 1 << 20;

class PgArtifacts final : public ArtifactStore {
 public:
  explicit PgArtifacts(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  std::string uri() const override { return pool_->uri(); }

  std::string put(std::string_view bytes) override {
    const std::string id = sha256_hex(bytes);
    const std::size_t chunks = (bytes.size() + kChunkBytes - 1) / kChunkBytes;
    const std::string what = "storing artifact " + id;
    PgLease l = pool_->lease();
    PgTransaction tx(l);
    // The header first: a concurrent put of the same bytes waits on its key, then finds it
    // taken and stores nothing (the bytes are the same).
    PgResult r = l.exec(
        "INSERT INTO _artifacts (id, size, chunks) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING "
        "RETURNING id",
        {id, static_cast<std::int64_t>(bytes.size()), static_cast<std::int64_t>(chunks)}, what);
    if (r.rows() == 0) return id;  // already there; the transaction rolls back empty
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t off = c * kChunkBytes;
      l.exec("INSERT INTO _artifact_chunks (id, chunk, bytes) VALUES ($1, $2, $3)",
             {id, static_cast<std::int64_t>(c),
              PgParam::bytes(bytes.substr(off, std::min(kChunkBytes, bytes.size() - off)))},
             what);
    }
    tx.commit();
    return id;
  }

  std::string get(const std::string& id) override {
    validate_artifact_id(id);
    const std::string what = "reading artifact " + id;
    PgLease l = pool_->lease();
    // One snapshot, so a concurrent remove cannot leave half an artifact.
    PgTransaction tx(l, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PgResult h = l.exec("SELECT size, chunks FROM _artifacts WHERE id = $1", {id}, what);
    if (h.rows() == 0) {
      throw Error(ErrorCode::not_found, "artifact " + id + " not found in " + pool_->uri());
    }
    const std::int64_t size = h.integer(0, 0);
    const std::int64_t chunks = h.integer(0, 1);
    std::string out;
    out.reserve(static_cast<std::size_t>(std::max<std::int64_t>(size, 0)));
    Sha256 hash;
    for (std::int64_t c = 0; c < chunks; ++c) {
      PgResult r = l.exec("SELECT bytes FROM _artifact_chunks WHERE id = $1 AND chunk = $2",
                          {id, c}, what, /*binary_results=*/true);
      if (r.rows() == 0) {
        throw Error(ErrorCode::corruption, "artifact " + id + " in " + pool_->uri() +
                                               " is missing chunk " + std::to_string(c));
      }
      std::string_view b = r.bytes(0, 0);
      hash.update(b);
      out.append(b);
    }
    tx.commit();
    if (static_cast<std::int64_t>(out.size()) != size || hash.finish_hex() != id) {
      throw Error(ErrorCode::corruption,
                  "artifact " + id + " in " + pool_->uri() + " no longer hashes to its id");
    }
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
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
    return out;
  }

 private:
  std::shared_ptr<PgPool> pool_;
};

}  // namespace

std::shared_ptr<ArtifactStore> make_postgres_artifacts(std::shared_ptr<PgPool> pool) {
  return std::make_shared<PgArtifacts>(std::move(pool));
}

}  // namespace sddb::detail
