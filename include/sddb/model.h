#pragma once
// Models: the components that turn a document field into a vector (design §4).
//
//   auto ft = sddb::Model::fasttext("ft", {.dim = 100, .epochs = 5})
//                 .fit(sddb::Collection("packages").find(), "description");
//   db->add(ft);                        // trains inside the database, stores the model
//   auto v = db->load_model("ft").predict(sddb::Value("resize images"));
//
// A Model is a value: a kind ("fasttext", "torchscript", "callable", "http_embeddings"), its
// parameters, and (once fitted, loaded or added) a runtime that predicts. The kinds live in
// src/models/; each implements ModelRuntime and is listed in src/models/model.cc (or, from outside
// the library, added with register_model_kind).

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sddb/query.h"
#include "sddb/value.h"

namespace sddb {

// Reports progress of long work: done out of total (total 0 when unknown).
using ProgressFn = std::function<void(std::size_t done, std::size_t total)>;

// What one kind of model implements: a loaded model, ready to predict.
class ModelRuntime {
 public:
  virtual ~ModelRuntime() = default;
  // The length of every output vector.
  virtual std::size_t dim() const = 0;
  // One output per input, in order. An input of the wrong type is Error(invalid_argument)
  // naming its position. Called from one thread at a time (Model serializes calls).
  virtual std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) = 0;
  // The bytes that rebuild this runtime through ModelKind::load (stored as an artifact), or
  // empty when the parameters alone rebuild it.
  virtual std::string save() const = 0;
  // save() into the file at `path` (absent when called; the caller owns and removes it), for
  // models too large to hold twice: the DB streams the file into the artifact store. Returns
  // false, writing nothing, when there are no bytes. The default writes save()'s bytes; kinds
  // whose library writes files (fastText) override it so the model never exists as one string.
  // Error(io_error) naming the path when it cannot be written. Called as predict is: one thread
  // at a time.
  virtual bool save_file(const std::filesystem::path& path) const;
};

// A kind of model: how to build its runtime. Listed in src/models/model.cc.
struct ModelKind {
  std::string name;
  // Rebuilds a runtime from the record's parameters and the artifact bytes (empty when the
  // model has none). Error(invalid_argument) for bytes that are not such a model.
  std::function<std::unique_ptr<ModelRuntime>(const Value& params, const std::string& artifact)>
      load;
  // Optional: load from the artifact in the file at `path` (already verified against its id; the
  // kind only reads it, the caller removes it and does not change it meanwhile), so a large model
  // is never held as bytes as well. Unset: the DB hands load the artifact's bytes. The errors of
  // load, and Error(io_error) naming the path when it cannot be read.
  std::function<std::unique_ptr<ModelRuntime>(const Value& params,
                                              const std::filesystem::path& artifact)>
      load_file;
  // Trains a runtime on inputs (kinds that can be fitted); empty otherwise.
  std::function<std::unique_ptr<ModelRuntime>(const Value& params, const std::vector<Value>& inputs,
                                              const ProgressFn& progress)>
      fit;
};

// The kind of that name; Error(not_found) listing the kinds this build has.
const ModelKind& model_kind(const std::string& name);
std::vector<std::string> model_kind_names();

// Adds a kind that a layer above the library provides at run time (the Python bindings add
// "python": pickled Python objects). Records of that kind load in any process that registered
// it; elsewhere model_kind() is Error(not_found). Thread-safe. Error(already_exists) for a name
// already registered, Error(invalid_argument) for an empty name or a kind without load.
void register_model_kind(ModelKind kind);

struct FastTextOptions {
  int dim = 100;
  int epochs = 5;
  int min_count = 2;
  int minn = 3;  // character n-grams, minn..maxn; 0 and 0 for words only
  int maxn = 6;
  // Hash buckets for the character n-grams: the model holds (words + bucket) x dim floats.
  // fastText's own default, 2,000,000, makes every model 800 MB at dim 100; 200,000 keeps a
  // model of a corpus like Debian's descriptions near 100 MB with the same answers.
  int bucket = 200000;
  double lr = 0.05;
  int ws = 5;                      // context window
  std::string model = "skipgram";  // or "cbow"
  int threads = 0;                 // 0: the number of cores
  int seed = 0;                    // 0: fastText's default
};

struct TorchScriptOptions {
  std::size_t dim = 0;        // 0: found by running the module once on a zero input of input_dim
  std::size_t input_dim = 0;  // required: the length of each input vector
  std::size_t batch_size = 64;
};

// An OpenAI-compatible embeddings server (POST {url}/v1/embeddings). Empty fields come from the
// configuration (embeddings_url, embeddings_model, embeddings_api_key / SDDB_EMBEDDINGS_*).
// The key is never stored in the database: the record keeps the name of its source.
struct HttpEmbeddingOptions {
  std::string url;      // e.g. "http://127.0.0.1:11434" (Ollama) or "https://api.openai.com"
  std::string model;    // e.g. "nomic-embed-text"
  std::string api_key;  // sent as "Authorization: Bearer KEY" when not empty
  std::size_t dim = 0;  // 0: asked of the server with one request when the model is added
  std::size_t batch_size = 64;
  int timeout_ms = 30000;
  int max_retries = 4;  // on connection errors, 429 and 5xx, with exponential backoff
};

using CallableFn = std::function<std::vector<std::vector<float>>(const std::vector<Value>&)>;

class Model {
 public:
  Model() = default;

  static Model fasttext(std::string identifier, FastTextOptions options = {});
  // A fastText .bin or .ftz the user brings; its bytes become the artifact. The file is read
  // when the model is added (streamed, never held whole), so it must stay until then;
  // Error(not_found) here if it cannot be opened.
  static Model fasttext_file(std::string identifier, const std::filesystem::path& path);
  static Model torchscript(std::string identifier, const std::filesystem::path& path,
                           TorchScriptOptions options);
  static Model http_embeddings(std::string identifier, HttpEmbeddingOptions options = {});
  // A C++ function registered in this process. Its record says it cannot be reloaded in another
  // process; loading it there is Error(failed_precondition) unless that process registered a
  // callable of the same identifier with register_callable().
  static Model callable(std::string identifier, std::size_t dim, CallableFn fn);

  // Trains on `key` of the documents of `select` when added (kinds with fit: fastText).
  Model fit(Find select, std::string key) const;
  // Names an encoder (a component) that describes the outputs; it becomes a child.
  Model with_encoder(std::string encoder_identifier) const;

  const std::string& identifier() const { return identifier_; }
  const std::string& kind() const { return kind_; }
  const Value& params() const { return params_; }
  std::optional<std::int64_t> version() const { return version_; }
  const std::string& encoder() const { return encoder_; }
  const std::optional<Find>& train_select() const { return train_select_; }
  const std::string& train_key() const { return train_key_; }
  bool loaded() const { return runtime_ != nullptr; }

  // Output length; Error(failed_precondition) before the model is fitted or loaded.
  std::size_t dim() const;
  // Predictions; Error(failed_precondition) naming the model before it is fitted or loaded.
  std::vector<float> predict(const Value& input) const;
  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) const;

  // --- for the DB and the model kinds ---
  struct Runtime;  // the runtime and the mutex that serializes its calls
  Model(std::string identifier, std::string kind, Value params);
  void set_runtime(std::shared_ptr<Runtime> runtime) { runtime_ = std::move(runtime); }
  const std::shared_ptr<Runtime>& runtime() const { return runtime_; }
  void set_version(std::int64_t v) { version_ = v; }
  // Bytes the user brought (a file), to store as the artifact when the model is added.
  const std::shared_ptr<const std::string>& source_bytes() const { return source_bytes_; }
  // A file the user brought (absolute), streamed into the artifact store when the model is
  // added; empty when there is none.
  const std::filesystem::path& source_path() const { return source_path_; }

 private:
  std::string identifier_;
  std::string kind_;
  Value params_ = Value::object();
  std::optional<std::int64_t> version_;
  std::string encoder_;
  std::optional<Find> train_select_;
  std::string train_key_;
  std::shared_ptr<const std::string> source_bytes_;
  std::filesystem::path source_path_;
  std::shared_ptr<Runtime> runtime_;
};

struct Model::Runtime {
  explicit Runtime(std::unique_ptr<ModelRuntime> r) : impl(std::move(r)) {}
  std::mutex mutex;
  std::unique_ptr<ModelRuntime> impl;
};

// Makes a C++ callable loadable in this process under `identifier` (see Model::callable).
void register_callable(const std::string& identifier, std::size_t dim, CallableFn fn);

}  // namespace sddb
