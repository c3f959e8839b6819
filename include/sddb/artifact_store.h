#pragma once
// ArtifactStore: the SPI of content-addressed bytes (serialized models, tokenizers, large
// document blobs). An artifact's id is the lowercase hex sha256 of its bytes, so put is
// idempotent and a get can verify what it read. Implementations must be safe to call from
// several threads at once.

#include <string>
#include <string_view>
#include <vector>

namespace sddb {

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;

  virtual std::string uri() const = 0;

  // Stores bytes and returns their sha256 id. Atomic: a reader never sees part of an artifact,
  // and once put returns the artifact survives a crash. Storing existing bytes again is a no-op.
  virtual std::string put(std::string_view bytes) = 0;
  // The bytes of an artifact. Error(not_found) if absent, Error(corruption) if the stored bytes
  // no longer hash to the id, Error(invalid_argument) if the id is not 64 lowercase hex digits.
  virtual std::string get(const std::string& id) = 0;
  virtual bool exists(const std::string& id) = 0;
  // Removes an artifact; removing an absent one is not an error.
  virtual void remove(const std::string& id) = 0;
  // Ids of all artifacts, sorted.
  virtual std::vector<std::string> list() = 0;
};

// The lowercase hex sha256 of `bytes`.
std::string sha256_hex(std::string_view bytes);
// Throws Error(invalid_argument) unless `id` is 64 lowercase hex digits.
void validate_artifact_id(const std::string& id);

}  // namespace sddb
