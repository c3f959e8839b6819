// The seam between sddb_models and libsddb_torchscript.so, the shared module that holds the
// TorchScript kind and is the only code linked with libtorch (src/CMakeLists.txt says why).
// torchscript_loader.cc opens the module on first use and calls this one C entry point.
#pragma once

#include "sddb/model.h"

// Fills *kind with the TorchScript kind ("torchscript"). Its load() throws sddb::Error. The
// module stays loaded until the process exits, so the functions it returns stay valid.
extern "C" void sddb_torchscript_fill_kind(sddb::ModelKind* kind);

// The name dlsym looks up.
inline constexpr char kSddbTorchScriptEntryPoint[] = "sddb_torchscript_fill_kind";
