// Placeholder until the HTTP embeddings kind lands.
#include "models/kinds.h"
#include "sddb/error.h"

namespace sddb::detail {
ModelKind http_embeddings_model_kind() {
  ModelKind k;
  k.name = "http_embeddings";
  k.load = [](const Value&, const std::string&) -> std::unique_ptr<ModelRuntime> {
    throw Error(ErrorCode::not_supported, "http_embeddings: not built yet");
  };
  return k;
}
std::unique_ptr<ModelRuntime> make_http_embeddings(const HttpEmbeddingOptions&) {
  throw Error(ErrorCode::not_supported, "http_embeddings: not built yet");
}
}  // namespace sddb::detail
