// The model kinds this build has, listed explicitly (STYLE.md: no static-initializer magic).
// Each kind lives in its own source file of src/models/ and is listed in model.cc.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "sddb/artifact_store.h"
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

// Owns a file descriptor: closed on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and returns close()'s result, so that a failed close (where some file systems
  // report a failed write) is seen.
  int release_close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// A private folder (mode 0700) in $TMPDIR, or /var/tmp when it is not set (on disk, where /tmp
// may be memory), removed with everything in it when this goes out of scope, whichever way.
// Error(io_error) naming `what` if it cannot be made.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& what);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The streamed forms the DB saves and loads models through (model.cc): a model's bytes go between
// the kind and the store through a file in a ScratchDir, never as one string, when the kind
// works on files (ModelRuntime::save_file, ModelKind::load_file).
//
// Stores the file's bytes with put_from and returns their id, or "" for an empty file.
// Error(io_error) naming the file if it cannot be read.
std::string put_file_artifact(const std::filesystem::path& path, ArtifactStore& store,
                              const std::string& what);
// Stores the runtime's artifact with put_from and returns its id, or "" when it has none.
std::string put_model_artifact(const ModelRuntime& runtime, ArtifactStore& store,
                               const std::string& what);
// Rebuilds a runtime of `kind` from artifact `id` ("" when the record has none) with get_into;
// the kind sees the bytes only once the store has verified them. The store's Error(corruption)
// and Error(not_found) come back with `what` (e.g. "model 'ft' version 2") before their message.
std::unique_ptr<ModelRuntime> load_model_artifact(const ModelKind& kind, const Value& params,
                                                  ArtifactStore& store, const std::string& id,
                                                  const std::string& what);

}  // namespace sddb::detail
