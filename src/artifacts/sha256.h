#pragma once
// Incremental sha256 for the artifact stores, so a large artifact can be hashed while it is read
// instead of after a second pass over it.

#include <memory>
#include <string>
#include <string_view>

namespace sddb::detail {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view bytes);
  // The lowercase hex digest; the hasher cannot be updated afterwards.
  std::string finish_hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sddb::detail
