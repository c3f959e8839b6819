#pragma once
// The hashing and verification every ArtifactStore does while streaming, in one place: a put
// pulls fixed-size chunks from the caller's source and hashes them on the way to storage; a get
// hashes what it hands to the caller's sink and reports a mismatch at the end, the same way in
// every store.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "artifacts/sha256.h"
#include "sddb/artifact_store.h"

namespace sddb::detail {

// Pulls an artifact from an ArtifactSource in chunks of kArtifactChunkBytes (the last one
// shorter), hashing and counting them. Owns the one chunk buffer a put needs.
class HashingSource {
 public:
  explicit HashingSource(const ArtifactSource& read);
  HashingSource(const HashingSource&) = delete;
  HashingSource& operator=(const HashingSource&) = delete;

  // The next chunk, valid until the next call; empty once the source has ended. Calls the source
  // until the chunk is full or the source returns 0, and never again after that.
  std::string_view next();
  std::uint64_t size() const { return size_; }
  // The id of everything read; call once, after next() returned an empty chunk.
  std::string finish_hex() { return hash_.finish_hex(); }

 private:
  const ArtifactSource& read_;
  std::unique_ptr<char[]> buf_;
  bool ended_ = false;
  std::uint64_t size_ = 0;
  Sha256 hash_;
};

// Hands an artifact's bytes to an ArtifactSink (in pieces of at most kArtifactChunkBytes)
// while hashing them, then checks them against the id.
class VerifyingSink {
 public:
  VerifyingSink(const std::string& id, const ArtifactSink& write) : id_(id), write_(write) {}

  void write(std::string_view bytes);
  // Throws Error(corruption) naming the artifact and `where` (the store, the file) unless the
  // bytes written hash to the id.
  void finish(const std::string& where);

 private:
  const std::string& id_;
  const ArtifactSink& write_;
  std::uint64_t size_ = 0;
  Sha256 hash_;
};

// A source that reads `bytes`, which must outlive it.
ArtifactSource source_of(std::string_view bytes);

}  // namespace sddb::detail
