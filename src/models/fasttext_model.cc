// Placeholder until the fastText kind lands.
#include "models/kinds.h"
#include "sddb/error.h"

namespace sddb::detail {
ModelKind fasttext_model_kind() {
  ModelKind k;
  k.name = "fasttext";
  k.load = [](const Value&, const std::string&) -> std::unique_ptr<ModelRuntime> {
    throw Error(ErrorCode::not_supported, "fasttext: not built yet");
  };
  return k;
}
}  // namespace sddb::detail
