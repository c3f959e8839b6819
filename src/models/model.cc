// Model (sddb/model.h): the value users build and the DB stores, the list of kinds, and the
// callable kind (C++ functions registered in this process).

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "core/file_io.h"
#include "models/kinds.h"
#include "sddb/error.h"

namespace sddb {

using detail::Fd;
using detail::file_error;
using detail::write_all;

namespace {

std::shared_ptr<const std::string> read_file(const std::filesystem::path& path,
                                             const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::not_found, what + ": cannot open '" + path.string() + "'");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) {
    throw Error(ErrorCode::io_error, what + ": cannot read '" + path.string() + "'");
  }
  return std::make_shared<const std::string>(std::move(ss).str());
}

void check_identifier(const std::string& identifier, const std::string& what) {
  if (identifier.empty()) throw Error(ErrorCode::invalid_argument, what + ": empty identifier");
}

struct Callable {
  std::size_t dim;
  CallableFn fn;
};

std::mutex& callables_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, Callable>& callables() {
  static std::map<std::string, Callable> m;
  return m;
}

class CallableRuntime : public ModelRuntime {
 public:
  CallableRuntime(std::string identifier, std::size_t dim, CallableFn fn)
      : identifier_(std::move(identifier)), dim_(dim), fn_(std::move(fn)) {}
  std::size_t dim() const override { return dim_; }
  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) override {
    auto out = fn_(inputs);
    if (out.size() != inputs.size()) {
      throw Error(ErrorCode::invalid_argument, "model '" + identifier_ +
                                                   "': the callable returned " +
                                                   std::to_string(out.size()) + " outputs for " +
                                                   std::to_string(inputs.size()) + " inputs");
    }
    return out;
  }
  std::string save() const override { return {}; }

 private:
  std::string identifier_;
  std::size_t dim_;
  CallableFn fn_;
};

}  // namespace

void register_callable(const std::string& identifier, std::size_t dim, CallableFn fn) {
  check_identifier(identifier, "register_callable");
  if (!fn) throw Error(ErrorCode::invalid_argument, "register_callable: empty function");
  std::lock_guard<std::mutex> lock(callables_mutex());
  callables()[identifier] = Callable{dim, std::move(fn)};
}

namespace detail {

namespace {

// $TMPDIR when set, else /var/tmp: a model's file there is on disk by convention, while /tmp is
// often a tmpfs, where it would take its size in memory again.
std::filesystem::path scratch_parent() {
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') return t;
  if (::access("/var/tmp", W_OK | X_OK) == 0) return "/var/tmp";
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  return ec ? std::filesystem::path("/tmp") : dir;
}

}  // namespace

ScratchDir::ScratchDir(const std::string& what) {
  const std::filesystem::path dir = scratch_parent();
  std::string tmpl = (dir / "sddb-model-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {  // mode 0700
    throw Error(ErrorCode::io_error, what + ": cannot create a temporary folder in '" +
                                         dir.string() + "': " + std::strerror(errno));
  }
  path_ = std::move(tmpl);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string put_file_artifact(const std::filesystem::path& path, ArtifactStore& store,
                              const std::string& what) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) file_error(what, "open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) file_error(what, "read", path);
  if (st.st_size == 0) return {};  // as save() returning no bytes
  return store.put_from([&](char* buf, std::size_t cap) -> std::size_t {
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, cap);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) file_error(what, "read", path);
    }
  });
}

std::string put_model_artifact(const ModelRuntime& runtime, ArtifactStore& store,
                               const std::string& what) {
  ScratchDir dir(what);
  const std::filesystem::path path = dir.path() / "artifact";
  if (!runtime.save_file(path)) return {};
  return put_file_artifact(path, store, what);
}

std::unique_ptr<ModelRuntime> load_model_artifact(const ModelKind& kind, const Value& params,
                                                  ArtifactStore& store, const std::string& id,
                                                  const std::string& what) {
  if (id.empty()) return kind.load(params, std::string());
  // Names the model in the store's verdict on its bytes.
  const auto fetch = [&](const ArtifactSink& sink) {
    try {
      store.get_into(id, sink);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::corruption && e.code() != ErrorCode::not_found) throw;
      throw Error(e.code(), what + ": " + e.what());
    }
  };
  if (!kind.load_file) {
    std::string bytes;
    fetch([&](std::string_view chunk) { bytes.append(chunk); });
    return kind.load(params, bytes);
  }
  ScratchDir dir(what);
  const std::filesystem::path path = dir.path() / "artifact";
  {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) file_error(what, "create", path);
    fetch([&](std::string_view chunk) {
      write_all(fd.get(), chunk.data(), chunk.size(), what, path);
    });
    if (fd.release_close() != 0) file_error(what, "write", path);
  }
  return kind.load_file(params, path);
}

ModelKind callable_model_kind() {
  ModelKind k;
  k.name = "callable";
  k.load = [](const Value& params, const std::string&) -> std::unique_ptr<ModelRuntime> {
    const std::string id =
        params.find("identifier") ? params.find("identifier")->as_string() : std::string();
    std::lock_guard<std::mutex> lock(callables_mutex());
    auto it = callables().find(id);
    if (it == callables().end()) {
      throw Error(ErrorCode::failed_precondition,
                  "model '" + id +
                      "' is a C++ callable of another process and cannot be reloaded here; call "
                      "sddb::register_callable(\"" +
                      id + "\", dim, fn) in this process first");
    }
    return std::make_unique<CallableRuntime>(id, it->second.dim, it->second.fn);
  };
  return k;
}

}  // namespace detail

namespace {

// The built-in kinds, then those register_model_kind() added; a deque, so that the references
// model_kind() hands out stay valid while kinds are added.
struct KindRegistry {
  KindRegistry() {
    kinds.push_back(detail::fasttext_model_kind());
    kinds.push_back(detail::http_embeddings_model_kind());
#ifdef SDDB_WITH_TORCH
    kinds.push_back(detail::torchscript_model_kind());
#endif
    kinds.push_back(detail::callable_model_kind());
  }
  std::mutex mutex;
  std::deque<ModelKind> kinds;
};

KindRegistry& kind_registry() {
  static KindRegistry r;
  return r;
}

std::vector<std::string> kind_names_locked(const KindRegistry& r) {
  std::vector<std::string> out;
  for (const auto& k : r.kinds) out.push_back(k.name);
  return out;
}

}  // namespace

void register_model_kind(ModelKind kind) {
  if (kind.name.empty()) {
    throw Error(ErrorCode::invalid_argument, "register_model_kind: empty name");
  }
  if (!kind.load) {
    throw Error(ErrorCode::invalid_argument,
                "register_model_kind: kind '" + kind.name + "' has no load function");
  }
  KindRegistry& r = kind_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& k : r.kinds) {
    if (k.name == kind.name) {
      throw Error(ErrorCode::already_exists,
                  "model kind '" + kind.name + "' is already registered");
    }
  }
  r.kinds.push_back(std::move(kind));
}

std::vector<std::string> model_kind_names() {
  KindRegistry& r = kind_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return kind_names_locked(r);
}

const ModelKind& model_kind(const std::string& name) {
  KindRegistry& r = kind_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& k : r.kinds) {
    if (k.name == name) return k;
  }
  std::string known;
  for (const auto& n : kind_names_locked(r)) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::not_found, "no model kind '" + name + "' in this build; it has: " + known);
}

Model::Model(std::string identifier, std::string kind, Value params)
    : identifier_(std::move(identifier)), kind_(std::move(kind)), params_(std::move(params)) {}

Model Model::fasttext(std::string identifier, FastTextOptions o) {
  check_identifier(identifier, "Model::fasttext");
  Value p = Value::object();
  p.set("dim", Value(o.dim));
  p.set("epochs", Value(o.epochs));
  p.set("min_count", Value(o.min_count));
  p.set("minn", Value(o.minn));
  p.set("maxn", Value(o.maxn));
  p.set("bucket", Value(o.bucket));
  p.set("lr", Value(o.lr));
  p.set("ws", Value(o.ws));
  p.set("model", Value(o.model));
  p.set("threads", Value(o.threads));
  p.set("seed", Value(o.seed));
  return Model(std::move(identifier), "fasttext", std::move(p));
}

Model Model::fasttext_file(std::string identifier, const std::filesystem::path& path) {
  check_identifier(identifier, "Model::fasttext_file");
  Model m(std::move(identifier), "fasttext", Value::object());
  m.params_.set("file", Value(path.filename().string()));
  if (!std::ifstream(path, std::ios::binary)) {
    throw Error(ErrorCode::not_found,
                "fastText model '" + m.identifier_ + "': cannot open '" + path.string() + "'");
  }
  m.source_path_ = std::filesystem::absolute(path);
  return m;
}

Model Model::torchscript(std::string identifier, const std::filesystem::path& path,
                         TorchScriptOptions o) {
  check_identifier(identifier, "Model::torchscript");
  Model m(std::move(identifier), "torchscript", Value::object());
  m.params_.set("file", Value(path.filename().string()));
  m.params_.set("dim", Value(static_cast<std::int64_t>(o.dim)));
  m.params_.set("input_dim", Value(static_cast<std::int64_t>(o.input_dim)));
  m.params_.set("batch_size", Value(static_cast<std::int64_t>(o.batch_size)));
  m.source_bytes_ = read_file(path, "TorchScript model '" + m.identifier_ + "'");
  return m;
}

Model Model::http_embeddings(std::string identifier, HttpEmbeddingOptions o) {
  check_identifier(identifier, "Model::http_embeddings");
  auto runtime = detail::make_http_embeddings(o);  // fills url/model from config, finds dim
  Model m(std::move(identifier), "http_embeddings", Value::object());
  // The key is not stored: the record says where a process finds it.
  m.params_.set("url", Value(o.url));
  m.params_.set("model", Value(o.model));
  m.params_.set("batch_size", Value(static_cast<std::int64_t>(o.batch_size)));
  m.params_.set("timeout_ms", Value(o.timeout_ms));
  m.params_.set("max_retries", Value(o.max_retries));
  m.params_.set("dim", Value(static_cast<std::int64_t>(runtime->dim())));
  m.runtime_ = std::make_shared<Runtime>(std::move(runtime));
  return m;
}

Model Model::callable(std::string identifier, std::size_t dim, CallableFn fn) {
  check_identifier(identifier, "Model::callable");
  register_callable(identifier, dim, fn);
  Model m(identifier, "callable", Value::object());
  m.params_.set("identifier", Value(identifier));
  m.params_.set("dim", Value(static_cast<std::int64_t>(dim)));
  m.params_.set("reloadable", Value(false));
  m.runtime_ =
      std::make_shared<Runtime>(std::make_unique<CallableRuntime>(identifier, dim, std::move(fn)));
  return m;
}

Model Model::fit(Find select, std::string key) const {
  if (key.empty()) {
    throw Error(ErrorCode::invalid_argument, "model '" + identifier_ + "': fit needs a key");
  }
  Model m = *this;
  m.train_select_ = std::move(select);
  m.train_key_ = std::move(key);
  m.runtime_ = nullptr;
  m.version_.reset();
  return m;
}

Model Model::with_encoder(std::string encoder_identifier) const {
  Model m = *this;
  m.encoder_ = std::move(encoder_identifier);
  return m;
}

std::size_t Model::dim() const {
  if (!runtime_) {
    throw Error(ErrorCode::failed_precondition,
                "model '" + identifier_ + "' is not fitted or loaded yet; add it to a DB first");
  }
  return runtime_->impl->dim();
}

std::vector<float> Model::predict(const Value& input) const {
  auto out = predict(std::vector<Value>{input});
  return std::move(out.at(0));
}

std::vector<std::vector<float>> Model::predict(const std::vector<Value>& inputs) const {
  if (!runtime_) {
    throw Error(ErrorCode::failed_precondition,
                "model '" + identifier_ + "' is not fitted or loaded yet; add it to a DB first");
  }
  if (inputs.empty()) return {};
  std::vector<std::vector<float>> out;
  {
    std::lock_guard<std::mutex> lock(runtime_->mutex);
    out = runtime_->impl->predict(inputs);
  }
  const std::size_t dim = runtime_->impl->dim();
  if (out.size() != inputs.size()) {
    throw Error(ErrorCode::internal, "model '" + identifier_ + "' returned " +
                                         std::to_string(out.size()) + " outputs for " +
                                         std::to_string(inputs.size()) + " inputs");
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].size() != dim) {
      throw Error(ErrorCode::invalid_argument, "model '" + identifier_ + "' returned a vector of " +
                                                   std::to_string(out[i].size()) +
                                                   " numbers for input " + std::to_string(i) +
                                                   "; its dimension is " + std::to_string(dim));
    }
  }
  return out;
}

}  // namespace sddb
