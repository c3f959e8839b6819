// Little-endian encoding for the saved forms of the vector indexes (flat_index.cc,
// hnsw_search.cc): append fixed-width integers, and read them back with bounds checks that name
// the field and the offset of whatever is missing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sddb/error.h"

namespace sddb::detail {

inline void put_u32(std::string& out, std::uint32_t v) {
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}
inline void put_u64(std::string& out, std::uint64_t v) {
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}
inline std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int b = 0; b < bytes; ++b) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[b])) << (8 * b);
  }
  return v;
}

// Reads a saved form front to back. A read past the end is Error(invalid_argument):
// "<what_it_is>: truncated <field> at byte N (needs n bytes, m left)".
class ByteReader {
 public:
  ByteReader(std::string_view bytes, std::string what_it_is)
      : bytes_(bytes), what_it_is_(std::move(what_it_is)) {}

  std::size_t left() const { return bytes_.size() - pos_; }
  std::size_t pos() const { return pos_; }

  const char* take(std::size_t n, const char* field) {
    if (n > left()) {
      throw Error(ErrorCode::invalid_argument, what_it_is_ + ": truncated " + std::string(field) +
                                                   " at byte " + std::to_string(pos_) + " (needs " +
                                                   std::to_string(n) + " bytes, " +
                                                   std::to_string(left()) + " left)");
    }
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::uint32_t u32(const char* field) {
    return static_cast<std::uint32_t>(get_le(take(4, field), 4));
  }
  std::uint64_t u64(const char* field) { return get_le(take(8, field), 8); }

 private:
  std::string_view bytes_;
  std::string what_it_is_;
  std::size_t pos_ = 0;
};

}  // namespace sddb::detail
