// The model kinds this build has, listed explicitly (STYLE.md: no static-initializer magic).
// Each kind lives in its own source file of src/models/ and is listed in model.cc.
#pragma once

#include <memory>

#include "sddb/model.h"

namespace sddb::detail {

// Parameters (the record's "params"): see Model::fasttext in model.cc for the names.
ModelKind fasttext_model_kind();  // fasttext_model.cc: load a .bin/.ftz, fit on texts

ModelKind http_embeddings_model_kind();  // http_embeddings.cc
// A runtime for explicit options (the key may be given here; it is never stored). Fills empty
// url/model/api_key from the configuration, and asks the server for dim when it is 0.
std::unique_ptr<ModelRuntime> make_http_embeddings(const HttpEmbeddingOptions& options);

#ifdef SDDB_WITH_TORCH
// torchscript_loader.cc: opens libsddb_torchscript.so (torchscript_model.cc, C++17, the only
// libtorch user) when the first TorchScript model is loaded.
ModelKind torchscript_model_kind();
#endif

ModelKind callable_model_kind();  // model.cc: found among register_callable()s of this process

}  // namespace sddb::detail
