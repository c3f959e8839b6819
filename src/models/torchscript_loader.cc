// The TorchScript kind as sddb_models sees it: a kind whose load() opens libsddb_torchscript.so
// (torchscript_model.cc, the libtorch user) the first time a TorchScript model is loaded and
// forwards to the kind inside it. Programs that never load one never start libtorch.

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "models/kinds.h"
#include "models/torchscript_module.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

// Where the module is looked for: $SDDB_TORCHSCRIPT_MODULE, then where this build put it, then
// where `cmake --install` puts it, then the dynamic linker's search path.
std::vector<std::string> module_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("SDDB_TORCHSCRIPT_MODULE"); env != nullptr && *env != '\0') {
    out.emplace_back(env);
  }
  out.emplace_back(SDDB_TORCHSCRIPT_MODULE_PATH);
  out.emplace_back(SDDB_TORCHSCRIPT_INSTALLED_PATH);
  out.emplace_back("libsddb_torchscript.so");
  return out;
}

ModelKind open_module() {
  std::string errors;
  for (const auto& path : module_candidates()) {
    // Never closed: the kind's functions live in the module.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle == nullptr) {
      const char* e = dlerror();
      errors += "; " + (e != nullptr ? std::string(e) : path);
      continue;
    }
    auto* fill = reinterpret_cast<void (*)(ModelKind*)>(dlsym(handle, kSddbTorchScriptEntryPoint));
    if (fill == nullptr) {
      errors += "; " + path + " has no " + kSddbTorchScriptEntryPoint;
      continue;
    }
    ModelKind kind;
    fill(&kind);
    return kind;
  }
  throw Error(ErrorCode::not_supported,
              "TorchScript model: cannot open the TorchScript module libsddb_torchscript.so "
              "(set SDDB_TORCHSCRIPT_MODULE to its path)" +
                  errors);
}

// Opened once; a failed open is retried at the next load (a throwing initializer runs again).
const ModelKind& module_kind() {
  static const ModelKind kind = open_module();
  return kind;
}

}  // namespace

ModelKind torchscript_model_kind() {
  ModelKind k;
  k.name = "torchscript";
  k.load = [](const Value& params, const std::string& artifact) {
    return module_kind().load(params, artifact);
  };
  return k;
}

}  // namespace sddb::detail
