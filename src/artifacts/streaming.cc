#include "artifacts/streaming.h"

#include <algorithm>
#include <string>

#include "sddb/error.h"

namespace sddb {

namespace detail {

HashingSource::HashingSource(const ArtifactSource& read)
    : read_(read), buf_(std::make_unique<char[]>(kArtifactChunkBytes)) {}

std::string_view HashingSource::next() {
  std::size_t n = 0;
  while (!ended_ && n < kArtifactChunkBytes) {
    const std::size_t cap = kArtifactChunkBytes - n;
    const std::size_t got = read_(buf_.get() + n, cap);
    if (got == 0) {
      ended_ = true;
    } else if (got > cap) {
      throw Error(ErrorCode::invalid_argument, "artifact source returned " + std::to_string(got) +
                                                   " bytes for a buffer of " + std::to_string(cap));
    } else {
      n += got;
    }
  }
  const std::string_view chunk(buf_.get(), n);
  hash_.update(chunk);
  size_ += n;
  return chunk;
}

void VerifyingSink::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::string_view piece = bytes.substr(0, kArtifactChunkBytes);
    hash_.update(piece);
    size_ += piece.size();
    write_(piece);
    bytes.remove_prefix(piece.size());
  }
}

void VerifyingSink::finish(const std::string& where) {
  const std::string found = hash_.finish_hex();
  if (found == id_) return;
  throw Error(ErrorCode::corruption, "artifact " + id_ + " in " + where + " is corrupt: its " +
                                         std::to_string(size_) + " bytes hash to " + found +
                                         "; put the original bytes again to repair");
}

ArtifactSource source_of(std::string_view bytes) {
  return [bytes](char* buf, std::size_t cap) mutable {
    const std::size_t n = std::min(cap, bytes.size());
    std::copy_n(bytes.data(), n, buf);
    bytes.remove_prefix(n);
    return n;
  };
}

}  // namespace detail

std::string ArtifactStore::put(std::string_view bytes) {
  return put_from(detail::source_of(bytes));
}

std::string ArtifactStore::get(const std::string& id) {
  std::string out;
  get_into(id, [&out](std::string_view chunk) { out.append(chunk); });
  return out;
}

}  // namespace sddb
