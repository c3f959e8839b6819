// "memory://": artifacts in a map owned by the store, for tests and sqlite://:memory:. Bytes
// cannot rot in memory, so get does not re-hash them; everything else follows the file store.
// An artifact is shared, immutable, so get_into hands it out without holding the lock (the sink
// may call the store) and without copying it.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "artifacts/stores.h"
#include "artifacts/streaming.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

class MemoryStore final : public ArtifactStore {
 public:
  std::string uri() const override { return "memory://"; }

  std::string put_from(const ArtifactSource& read) override {
    HashingSource in(read);
    std::string bytes;
    for (std::string_view chunk = in.next(); !chunk.empty(); chunk = in.next()) bytes += chunk;
    std::string id = in.finish_hex();
    add(id, std::move(bytes));
    return id;
  }

  std::string put(std::string_view bytes) override {
    std::string id = sha256_hex(bytes);
    add(id, std::string(bytes));
    return id;
  }

  void get_into(const std::string& id, const ArtifactSink& write) override {
    const std::shared_ptr<const std::string> bytes = find(id);
    for (std::size_t off = 0; off < bytes->size(); off += kArtifactChunkBytes) {
      write(std::string_view(*bytes).substr(off, kArtifactChunkBytes));
    }
  }

  std::string get(const std::string& id) override { return *find(id); }

  bool exists(const std::string& id) override {
    validate_artifact_id(id);
    std::lock_guard lock(mu_);
    return artifacts_.count(id) != 0;
  }

  void remove(const std::string& id) override {
    validate_artifact_id(id);
    std::lock_guard lock(mu_);
    artifacts_.erase(id);
  }

  std::vector<std::string> list() override {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    ids.reserve(artifacts_.size());
    for (const auto& [id, bytes] : artifacts_) ids.push_back(id);
    return ids;  // std::map keeps them sorted
  }

 private:
  void add(const std::string& id, std::string bytes) {
    auto shared = std::make_shared<const std::string>(std::move(bytes));
    std::lock_guard lock(mu_);
    // try_emplace leaves an existing artifact alone: storing the same bytes again is a no-op.
    artifacts_.try_emplace(id, std::move(shared));
  }

  std::shared_ptr<const std::string> find(const std::string& id) {
    validate_artifact_id(id);
    std::lock_guard lock(mu_);
    auto it = artifacts_.find(id);
    if (it == artifacts_.end()) {
      throw Error(ErrorCode::not_found, "artifact " + id + " not found in memory://");
    }
    return it->second;
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>> artifacts_;
};

}  // namespace

std::shared_ptr<ArtifactStore> make_memory_store() { return std::make_shared<MemoryStore>(); }

}  // namespace sddb::detail
