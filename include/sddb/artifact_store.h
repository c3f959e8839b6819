#pragma once
// ArtifactStore: the SPI of content-addressed bytes (serialized models, tokenizers, large
// document blobs). An artifact's id is the lowercase hex sha256 of its bytes, so put is
// idempotent and a get can verify what it read. Implementations must be safe to call from
// several threads at once.
//
// Artifacts can be larger than memory: put_from and get_into stream them through in chunks of
// at most kArtifactChunkBytes, so neither side ever holds a whole artifact. put and get are the
// convenience forms for artifacts that fit in memory anyway.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sddb {

// The most bytes a store asks an ArtifactSource for, or hands an ArtifactSink, in one call.
inline constexpr std::size_t kArtifactChunkBytes = std::size_t{1} << 20;

// Fills buf[0, cap) with the next bytes of an artifact and returns how many it wrote (at most
// cap); 0 means the artifact ends. May be called with any cap from 1 to kArtifactChunkBytes.
// An exception it throws aborts the put, which then stores nothing, and propagates unchanged.
using ArtifactSource = std::function<std::size_t(char* buf, std::size_t cap)>;
// Receives the next bytes of an artifact (never more than kArtifactChunkBytes at once); the view
// is valid only during the call. An exception it throws ends the get and propagates unchanged.
using ArtifactSink = std::function<void(std::string_view chunk)>;

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;

  virtual std::string uri() const = 0;

  // Stores the bytes `read` produces until it returns 0 and returns their sha256 id, holding
  // about one chunk in memory whatever the size. Atomic: a reader never sees part of an
  // artifact, and once put_from returns the artifact survives a crash; if it throws (the source
  // threw, or an Error(io_error / unavailable) from the store) nothing is left behind. Storing
  // existing bytes again is a no-op. Error(invalid_argument) if `read` returns more than cap.
  virtual std::string put_from(const ArtifactSource& read) = 0;
  // Hands the bytes of an artifact to `write` in order, chunk by chunk, verifying them against
  // the id as they go. The verdict comes at the end: when get_into throws, whatever `write` was
  // given must be discarded. Error(not_found) if absent (before any call to `write`),
  // Error(corruption) naming the artifact if the stored bytes no longer hash to the id,
  // Error(invalid_argument) if the id is not 64 lowercase hex digits.
  virtual void get_into(const std::string& id, const ArtifactSink& write) = 0;

  // put_from and get_into for bytes held in memory, with the same guarantees and errors. A store
  // may override them to save a copy; the defaults stream through the virtual forms.
  virtual std::string put(std::string_view bytes);
  virtual std::string get(const std::string& id);

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
