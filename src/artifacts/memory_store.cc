// "memory://": artifacts in a map owned by the store, for tests and sqlite://:memory:. Bytes
// cannot rot in memory, so get does not re-hash them; everything else follows the file store.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "artifacts/stores.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

class MemoryStore final : public ArtifactStore {
 public:
  std::string uri() const override { return "memory://"; }

  std::string put(std::string_view bytes) override {
    std::string id = sha256_hex(bytes);
    std::lock_guard lock(mu_);
    // try_emplace leaves an existing artifact alone: storing the same bytes again is a no-op.
    artifacts_.try_emplace(id, bytes);
    return id;
  }

  std::string get(const std::string& id) override {
    validate_artifact_id(id);
    std::lock_guard lock(mu_);
    auto it = artifacts_.find(id);
    if (it == artifacts_.end()) {
      throw Error(ErrorCode::not_found, "artifact " + id + " not found in memory://");
    }
    return it->second;
  }

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
  std::mutex mu_;
  std::map<std::string, std::string> artifacts_;
};

}  // namespace

std::shared_ptr<ArtifactStore> make_memory_store() { return std::make_shared<MemoryStore>(); }

}  // namespace sddb::detail
