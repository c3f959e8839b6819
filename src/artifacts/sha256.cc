#include "artifacts/sha256.h"

#include <openssl/evp.h>

#include <string>

#include "sddb/artifact_store.h"
#include "sddb/error.h"

namespace sddb {

namespace detail {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() { EVP_MD_CTX_free(ctx); }
};

namespace {

// OpenSSL only fails here on allocation failure or a broken installation: both bugs or resource
// exhaustion, never something the caller passed in.
[[noreturn]] void openssl_failed(const char* what) {
  throw Error(ErrorCode::internal, std::string("sha256: OpenSSL ") + what + " failed");
}

}  // namespace

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  if (state_->ctx == nullptr) openssl_failed("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1) {
    openssl_failed("EVP_DigestInit_ex");
  }
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
  if (bytes.empty()) return;
  if (EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size()) != 1) {
    openssl_failed("EVP_DigestUpdate");
  }
}

std::string Sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(state_->ctx, digest, &len) != 1) openssl_failed("EVP_DigestFinal_ex");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * static_cast<std::size_t>(len));
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

}  // namespace detail

std::string sha256_hex(std::string_view bytes) {
  detail::Sha256 h;
  h.update(bytes);
  return h.finish_hex();
}

void validate_artifact_id(const std::string& id) {
  bool ok = id.size() == 64;
  for (std::size_t i = 0; ok && i < id.size(); ++i) {
    const char c = id[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (ok) return;
  // The id may come from anywhere (a document, an HTTP request), so quote it safely: printable
  // ASCII only, and not so much of it that the message drowns.
  std::string shown;
  for (std::size_t i = 0; i < id.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c >= 0x20 && c < 0x7f) {
      shown.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      shown += "\\x";
      shown.push_back(kHex[c >> 4]);
      shown.push_back(kHex[c & 0xf]);
    }
  }
  if (id.size() > 80) shown += "...";
  throw Error(ErrorCode::invalid_argument,
              "artifact id '" + shown + "' is not 64 lowercase hex digits (a sha256)");
}

}  // namespace sddb
