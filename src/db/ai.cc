// The AI layer of DB (design §4): adding components as versions, showing, loading and removing
// them. Listener work is in src/jobs/listeners.cc and vector search in src/db/like.cc.
//
// Records (ComponentRecord::body) hold what rebuilds a component:
//   model:        {kind, params, dim, artifact?, encoder?, train?: {collection, filter, key}}
//   listener:     {collection, filter, key, model, model_version}
//   vector_index: {indexing_listener, indexing_version, compatible_listener?,
//                  compatible_version?, measure, dim, type, m, ef_construction, ef_search}
//                 (records from before index types lack type..ef_search: a default flat index)
//   encoder:      {dtype, shape}
//   dataset:      {collection, filter, artifact, count}
//   metric:       {reloadable: false}
// "Equal to the latest version" compares bodies without the fields a build produces (artifact
// and dim of a fitted model), so re-adding the same fit() does not train again.

#include <algorithm>
#include <set>

#include "core/document.h"
#include "db/ai_state.h"
#include "models/kinds.h"
#include "sddb/error.h"

namespace sddb {

namespace detail {

const Value* value_at(const Value& doc, const std::string& dotted) {
  const Value* cur = &doc;
  std::size_t start = 0;
  while (cur) {
    const std::size_t dot = dotted.find('.', start);
    const std::string_view part =
        std::string_view(dotted).substr(start, dot == std::string::npos ? dot : dot - start);
    cur = cur->is_object() ? cur->find(part) : nullptr;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

std::string outputs_table(const std::string& listener, std::int64_t version) {
  return "_outputs/" + listener + "/" + std::to_string(version);
}

Value vector_to_value(const std::vector<float>& v) {
  Array a;
  a.reserve(v.size());
  for (float f : v) a.emplace_back(static_cast<double>(f));
  return Value(std::move(a));
}

}  // namespace detail

namespace {

// Identifiers: 1-100 characters of [A-Za-z0-9_.-/], starting with a letter or digit, so that
// "type/identifier/version" keys and outputs table names stay unambiguous and safe.
void check_identifier(const std::string& type_id, const std::string& id) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument,
                "invalid " + type_id + " identifier '" + id + "': " + why);
  };
  if (id.empty()) bad("it is empty");
  if (id.size() > 100) bad("longer than 100 characters");
  if (!std::isalnum(static_cast<unsigned char>(id[0]))) bad("it must start with a letter or digit");
  // Encoders are named by their type, e.g. "float32[384]".
  const bool brackets = type_id == "encoder";
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' &&
        c != '/' && !(brackets && (c == '[' || c == ']'))) {
      bad(brackets ? "only letters, digits, '_', '-', '.', '/', '[' and ']' are allowed"
                   : "only letters, digits, '_', '-', '.' and '/' are allowed");
    }
  }
}

Value without(const Value& body, std::initializer_list<const char*> keys) {
  Value out = body;
  for (const char* k : keys) out.erase(k);
  return out;
}

// The index options of a vector_index record body; flat with the defaults when it has none.
VectorIndexOptions index_options_of(const Value& body) {
  VectorIndexOptions o;
  if (const Value* t = body.find("type")) o.type = t->as_string();
  if (const Value* v = body.find("m")) o.m = static_cast<std::size_t>(v->as_int());
  if (const Value* v = body.find("ef_construction")) {
    o.ef_construction = static_cast<std::size_t>(v->as_int());
  }
  if (const Value* v = body.find("ef_search")) o.ef_search = static_cast<std::size_t>(v->as_int());
  if (const Value* v = body.find("storage")) o.storage = v->as_string();
  return o;
}

void set_index_options(Value& body, const VectorIndexOptions& o) {
  body.set("type", Value(o.type));
  body.set("m", Value(static_cast<std::int64_t>(o.m)));
  body.set("ef_construction", Value(static_cast<std::int64_t>(o.ef_construction)));
  body.set("ef_search", Value(static_cast<std::int64_t>(o.ef_search)));
  // Only when chosen, so records from before the storage option keep their identity.
  if (o.storage != "auto") body.set("storage", Value(o.storage));
}

// The body that decides whether a new version is needed.
Value identity(const std::string& type_id, const Value& body) {
  if (type_id == "model") return without(body, {"artifact", "dim"});
  if (type_id == "vector_index" && body.find("type") == nullptr) {
    // A record from before index types equals the same index added now as a default flat one.
    Value b = body;
    set_index_options(b, VectorIndexOptions{});
    return b;
  }
  return body;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction

DB::DB(std::shared_ptr<DataBackend> databackend, std::shared_ptr<MetadataStore> metadata,
       std::shared_ptr<ArtifactStore> artifact_store, std::shared_ptr<VectorSearch> vector_database)
    : databackend_(std::move(databackend)),
      metadata_(std::move(metadata)),
      artifact_store_(std::move(artifact_store)),
      vector_database_(std::move(vector_database)) {
  if (!databackend_ || !metadata_ || !artifact_store_) {
    throw Error(ErrorCode::invalid_argument,
                "DB needs a data backend, a metadata store and an artifact store (got null)");
  }
  init_ai();
}

DB::~DB() {
  try {
    persist_vector_indexes();
  } catch (...) {
    // A destructor cannot report; the next open catches the index up from the outputs.
  }
}

namespace {

ListenerState listener_state(const ComponentRecord& r) {
  ListenerState l;
  l.identifier = r.identifier;
  l.version = r.version;
  const Value& b = r.body;
  l.collection = b.find("collection")->as_string();
  l.filter = *b.find("filter");
  l.filter_node = query::parse_filter(l.filter);
  l.key = b.find("key")->as_string();
  if (l.key.rfind("_outputs.", 0) == 0) l.upstream = l.key.substr(9);
  l.model = b.find("model")->as_string();
  l.model_version = b.find("model_version")->as_int();
  l.table = detail::outputs_table(l.identifier, l.version);
  return l;
}

IndexState index_state(const ComponentRecord& r) {
  IndexState s;
  s.identifier = r.identifier;
  s.version = r.version;
  const Value& b = r.body;
  s.listener = b.find("indexing_listener")->as_string();
  s.listener_version = b.find("indexing_version")->as_int();
  if (const Value* c = b.find("compatible_listener")) {
    s.compatible = c->as_string();
    s.compatible_version = b.find("compatible_version")->as_int();
  }
  s.measure = parse_measure(b.find("measure")->as_string());
  s.dim = static_cast<std::size_t>(b.find("dim")->as_int());
  const VectorIndexOptions o = index_options_of(b);
  s.options.type = o.type == "hnsw"   ? IndexOptions::Type::hnsw
                   : o.type == "flat" ? IndexOptions::Type::flat
                                      : IndexOptions::Type::automatic;
  s.options.m = o.m;
  s.options.ef_construction = o.ef_construction;
  s.options.ef_search = o.ef_search;
  s.options.storage = parse_index_storage(o.storage).value_or(IndexStorage::automatic);
  return s;
}

// Every stored version of every identifier of a type, hidden ones too (a hidden version still
// serves the parents that use it).
std::vector<ComponentRecord> all_records(MetadataStore& md, const std::string& type_id) {
  std::vector<ComponentRecord> out;
  for (const std::string& id : md.show_components(type_id, /*include_hidden=*/true)) {
    auto latest = md.latest_version(type_id, id);
    for (std::int64_t v = 0; latest && v <= *latest; ++v) {
      try {
        out.push_back(md.get_component(type_id, id, v, /*allow_hidden=*/true));
      } catch (const Error& e) {
        if (e.code() != ErrorCode::not_found) throw;
      }
    }
  }
  return out;
}

}  // namespace

void DB::init_ai() {
  ai_ = std::make_unique<AiState>();
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  for (const ComponentRecord& r : all_records(*metadata_, "listener")) {
    ai_->listeners.push_back(listener_state(r));
  }
  for (const ComponentRecord& r : all_records(*metadata_, "vector_index")) {
    ai_->indexes.push_back(index_state(r));
  }
  if (ai_->listeners.empty()) return;
  recover_jobs();
  // Upstream listeners first, so a chain's inputs exist when its downstream catches up.
  std::vector<const ListenerState*> order;
  std::set<std::string> done;
  while (order.size() < ai_->listeners.size()) {
    const std::size_t before = order.size();
    for (const ListenerState& l : ai_->listeners) {
      if (done.count(l.record_key())) continue;
      if (!l.upstream.empty() &&
          !std::any_of(order.begin(), order.end(),
                       [&](auto* o) { return o->identifier == l.upstream; }) &&
          std::any_of(ai_->listeners.begin(), ai_->listeners.end(), [&](auto& o) {
            return o.identifier == l.upstream && !done.count(o.record_key());
          })) {
        continue;
      }
      order.push_back(&l);
      done.insert(l.record_key());
    }
    if (order.size() == before) break;  // a cycle cannot be added; stop rather than spin
  }
  for (const ListenerState* l : order) catch_up(*l);
}

// ---------------------------------------------------------------------------------------------
// Adding components

namespace {

// The next version, or the existing one when its identity equals the new body.
std::optional<ComponentRecord> equal_latest(MetadataStore& md, const std::string& type_id,
                                            const std::string& id, const Value& body) {
  auto latest = md.latest_version(type_id, id);
  if (!latest) return std::nullopt;
  ComponentRecord r;
  try {
    r = md.get_component(type_id, id, *latest, /*allow_hidden=*/true);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found) return std::nullopt;
    throw;
  }
  if (r.hidden) return std::nullopt;
  if (identity(type_id, r.body) == identity(type_id, body)) return r;
  return std::nullopt;
}

std::int64_t next_version(MetadataStore& md, const std::string& type_id, const std::string& id) {
  auto latest = md.latest_version(type_id, id);
  return latest ? *latest + 1 : 0;
}

ComponentRef ref_of(const ComponentRecord& r, bool created) {
  return ComponentRef{r.type_id, r.identifier, r.version, created, {}};
}

// The latest visible version of a component that another one names, or Error(not_found)
// naming both.
ComponentRecord require(MetadataStore& md, const std::string& type_id, const std::string& id,
                        std::optional<std::int64_t> version, const std::string& needed_by) {
  try {
    return md.get_component(type_id, id, version, /*allow_hidden=*/version.has_value());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::not_found) throw;
    throw Error(ErrorCode::not_found,
                needed_by + " needs " + type_id + " '" + id + "'" +
                    (version ? " version " + std::to_string(*version) : std::string()) +
                    ", which does not exist; add it first");
  }
}

Value select_body(const Find& select) {
  Value v = Value::object();
  v.set("collection", Value(select.collection));
  v.set("filter", select.filter.is_null() ? Value::object() : select.filter);
  return v;
}

}  // namespace

ComponentRef DB::add(const Model& model, const ProgressFn& progress) {
  check_identifier("model", model.identifier());
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  const std::string what = "model '" + model.identifier() + "'";
  const ModelKind& kind = model_kind(model.kind());

  Value body = Value::object();
  body.set("kind", Value(model.kind()));
  body.set("params", model.params());
  std::optional<ComponentRecord> encoder;
  if (!model.encoder().empty()) {
    encoder = require(*metadata_, "encoder", model.encoder(), std::nullopt, what);
    body.set("encoder", Value(encoder->key()));
  }
  if (model.train_select()) {
    if (!kind.fit) {
      throw Error(ErrorCode::invalid_argument,
                  what + ": models of kind '" + model.kind() + "' cannot be fitted");
    }
    validate_collection_name(model.train_select()->collection);
    Value train = select_body(*model.train_select());
    train.set("key", Value(model.train_key()));
    body.set("train", std::move(train));
  }
  // A file the user brought is identified by its content.
  std::string source_id;
  if (model.source_bytes()) {
    source_id = artifact_store_->put(*model.source_bytes());
    body.set("artifact", Value(source_id));
  } else if (!model.source_path().empty()) {
    source_id = detail::put_file_artifact(model.source_path(), *artifact_store_, what);
    if (!source_id.empty()) body.set("artifact", Value(source_id));
  }
  if (auto existing = equal_latest(*metadata_, "model", model.identifier(), body)) {
    // Keep a runtime the caller built in this process (a callable's new function).
    if (model.loaded()) {
      Model m = model;
      m.set_version(existing->version);
      ai_->models[model.identifier() + "/" + std::to_string(existing->version)] = m;
    }
    return ref_of(*existing, false);
  }

  // Build the runtime: given, trained here, or loaded from the user's bytes.
  Model built = model;
  if (!built.loaded()) {
    std::unique_ptr<ModelRuntime> runtime;
    if (model.train_select()) {
      std::vector<Value> texts;
      Find select = *model.train_select();
      select.projection = Value{{model.train_key(), 1}};
      for (const Document& d : execute(select)) {
        if (const Value* v = detail::value_at(d, model.train_key()); v && !v->is_null()) {
          texts.push_back(*v);
        }
      }
      if (texts.empty()) {
        throw Error(ErrorCode::invalid_argument, what + ": no document of '" + select.collection +
                                                     "' has '" + model.train_key() +
                                                     "' to train on");
      }
      runtime = kind.fit(model.params(), texts, progress);
    } else if (model.source_bytes()) {
      runtime = kind.load(model.params(), *model.source_bytes());
    } else if (!model.source_path().empty()) {
      // From the stored copy, so the model is the artifact even if the file has changed since.
      runtime =
          detail::load_model_artifact(kind, model.params(), *artifact_store_, source_id, what);
    } else {
      throw Error(ErrorCode::invalid_argument,
                  what + " has nothing to run: give it a file, a function, or fit() it");
    }
    built.set_runtime(std::make_shared<Model::Runtime>(std::move(runtime)));
  }
  const std::size_t dim = built.dim();
  if (encoder) {
    const auto shape = static_cast<std::size_t>(encoder->body.find("shape")->as_int());
    if (shape != dim) {
      throw Error(ErrorCode::invalid_argument, what + " outputs vectors of " + std::to_string(dim) +
                                                   " numbers but encoder '" + encoder->identifier +
                                                   "' has shape " + std::to_string(shape));
    }
  }
  body.set("dim", Value(dim));
  if (source_id.empty() && model.kind() != "callable") {
    std::string id;
    {
      std::lock_guard<std::mutex> rl(built.runtime()->mutex);
      id = detail::put_model_artifact(*built.runtime()->impl, *artifact_store_, what);
    }
    if (!id.empty()) body.set("artifact", Value(id));
  }

  ComponentRecord r;
  r.type_id = "model";
  r.identifier = model.identifier();
  r.version = next_version(*metadata_, "model", model.identifier());
  r.body = std::move(body);
  metadata_->create_component(r);
  if (encoder) metadata_->create_parent_child(r.key(), encoder->key());
  built.set_version(r.version);
  ai_->models[model.identifier() + "/" + std::to_string(r.version)] = built;
  return ref_of(r, true);
}

ComponentRef DB::add(const Listener& listener, const ProgressFn& progress) {
  check_identifier("listener", listener.identifier());
  const std::string what = "listener '" + listener.identifier() + "'";
  validate_collection_name(listener.select().collection);
  if (listener.key().empty()) throw Error(ErrorCode::invalid_argument, what + ": empty key");
  (void)query::parse_filter(listener.select().filter);
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  ComponentRecord model =
      require(*metadata_, "model", listener.model(), listener.model_version(), what);
  std::optional<ComponentRecord> upstream;
  if (!listener.upstream().empty()) {
    upstream = require(*metadata_, "listener", listener.upstream(), std::nullopt, what);
    if (upstream->body.find("collection")->as_string() != listener.select().collection) {
      throw Error(ErrorCode::invalid_argument,
                  what + " is on '" + listener.select().collection + "' but its input listener '" +
                      upstream->identifier + "' is on '" +
                      upstream->body.find("collection")->as_string() + "'");
    }
  }
  Value body = select_body(listener.select());
  body.set("key", Value(listener.key()));
  body.set("model", Value(model.identifier));
  body.set("model_version", Value(model.version));
  if (auto existing = equal_latest(*metadata_, "listener", listener.identifier(), body)) {
    return ref_of(*existing, false);
  }
  ComponentRecord r;
  r.type_id = "listener";
  r.identifier = listener.identifier();
  r.version = next_version(*metadata_, "listener", listener.identifier());
  r.body = body;
  // The model must load here, before anything is stored.
  (void)model_for(model.identifier, model.version);
  metadata_->create_component(r);
  metadata_->create_parent_child(r.key(), model.key());
  if (upstream) metadata_->create_parent_child(r.key(), upstream->key());
  ListenerState state = listener_state(r);
  ComponentRef ref = ref_of(r, true);
  try {
    databackend_->create_outputs(state.table);
    ai_->listeners.push_back(state);
    ref.jobs.push_back(backfill(state, progress));
  } catch (...) {
    // All or nothing: a listener whose backfill failed is not left behind.
    std::erase_if(ai_->listeners,
                  [&](const ListenerState& l) { return l.record_key() == state.record_key(); });
    try {
      databackend_->drop_outputs(state.table);
      metadata_->delete_component("listener", r.identifier, r.version);
    } catch (...) {
    }
    throw;
  }
  return ref;
}

ComponentRef DB::add(const VectorIndex& index) {
  check_identifier("vector_index", index.identifier());
  const std::string what = "vector index '" + index.identifier() + "'";
  if (!vector_database_) {
    throw Error(ErrorCode::not_supported,
                what + ": this DB has no vector search; set vector_search = \"inmemory://\"");
  }
  const VectorIndexOptions& options = index.options();
  if (options.type != "auto" && options.type != "flat" && options.type != "hnsw") {
    throw Error(ErrorCode::invalid_argument,
                what + ": unknown type '" + options.type + "' (expected one of: auto, flat, hnsw)");
  }
  if (!parse_index_storage(options.storage)) {
    throw Error(ErrorCode::invalid_argument, what + ": unknown storage '" + options.storage +
                                                 "' (expected one of: auto, f32, u8, sq8, f16)");
  }
  if (options.m < 2 || options.ef_construction == 0 || options.ef_search == 0) {
    throw Error(ErrorCode::invalid_argument,
                what + ": m must be >= 2 and ef_construction, ef_search >= 1 (got m " +
                    std::to_string(options.m) + ", ef_construction " +
                    std::to_string(options.ef_construction) + ", ef_search " +
                    std::to_string(options.ef_search) + ")");
  }
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  ComponentRecord indexing =
      require(*metadata_, "listener", index.indexing_listener(), std::nullopt, what);
  auto model_dim = [&](const ComponentRecord& listener) {
    ComponentRecord m = require(*metadata_, "model", listener.body.find("model")->as_string(),
                                listener.body.find("model_version")->as_int(), what);
    return static_cast<std::size_t>(m.body.find("dim")->as_int());
  };
  const std::size_t dim = model_dim(indexing);
  Value body = Value::object();
  body.set("indexing_listener", Value(indexing.identifier));
  body.set("indexing_version", Value(indexing.version));
  std::optional<ComponentRecord> compatible;
  if (!index.compatible_listener().empty()) {
    compatible = require(*metadata_, "listener", index.compatible_listener(), std::nullopt, what);
    const std::size_t cdim = model_dim(*compatible);
    if (cdim != dim) {
      throw Error(ErrorCode::invalid_argument,
                  what + ": indexing listener '" + indexing.identifier + "' outputs " +
                      std::to_string(dim) + " numbers but compatible listener '" +
                      compatible->identifier + "' outputs " + std::to_string(cdim));
    }
    body.set("compatible_listener", Value(compatible->identifier));
    body.set("compatible_version", Value(compatible->version));
  }
  body.set("measure", Value(to_string(index.measure())));
  body.set("dim", Value(dim));
  set_index_options(body, options);
  if (auto existing = equal_latest(*metadata_, "vector_index", index.identifier(), body)) {
    return ref_of(*existing, false);
  }
  ComponentRecord r;
  r.type_id = "vector_index";
  r.identifier = index.identifier();
  r.version = next_version(*metadata_, "vector_index", index.identifier());
  r.body = std::move(body);
  metadata_->create_component(r);
  metadata_->create_parent_child(r.key(), indexing.key());
  if (compatible) metadata_->create_parent_child(r.key(), compatible->key());
  ai_->indexes.push_back(index_state(r));
  IndexState& state = ai_->indexes.back();
  load_index(state);
  persist_index(state);
  return ref_of(r, true);
}

ComponentRef DB::add(const Encoder& encoder) {
  check_identifier("encoder", encoder.identifier());
  if (encoder.shape() == 0) {
    throw Error(ErrorCode::invalid_argument,
                "encoder '" + encoder.identifier() + "': shape must be positive");
  }
  if (encoder.dtype() != "float32") {
    throw Error(ErrorCode::invalid_argument, "encoder '" + encoder.identifier() + "': dtype '" +
                                                 encoder.dtype() +
                                                 "' is not supported; use float32");
  }
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  Value body = Value::object();
  body.set("dtype", Value(encoder.dtype()));
  body.set("shape", Value(encoder.shape()));
  if (auto existing = equal_latest(*metadata_, "encoder", encoder.identifier(), body)) {
    return ref_of(*existing, false);
  }
  ComponentRecord r{"encoder",
                    encoder.identifier(),
                    next_version(*metadata_, "encoder", encoder.identifier()),
                    false,
                    body,
                    0};
  metadata_->create_component(r);
  return ref_of(r, true);
}

ComponentRef DB::add(const Dataset& dataset) {
  check_identifier("dataset", dataset.identifier());
  validate_collection_name(dataset.select().collection);
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  std::string lines;
  std::int64_t count = 0;
  for (const Document& d : execute(dataset.select())) {
    d.append_json(lines);
    lines += '\n';
    ++count;
  }
  Value body = select_body(dataset.select());
  body.set("artifact", Value(artifact_store_->put(lines)));
  body.set("count", Value(count));
  if (auto existing = equal_latest(*metadata_, "dataset", dataset.identifier(), body)) {
    return ref_of(*existing, false);
  }
  ComponentRecord r{"dataset",
                    dataset.identifier(),
                    next_version(*metadata_, "dataset", dataset.identifier()),
                    false,
                    body,
                    0};
  metadata_->create_component(r);
  return ref_of(r, true);
}

ComponentRef DB::add(const Metric& metric) {
  check_identifier("metric", metric.identifier());
  if (!metric.fn()) {
    throw Error(ErrorCode::invalid_argument,
                "metric '" + metric.identifier() + "' has no function");
  }
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  ai_->metrics[metric.identifier()] = metric.fn();
  Value body = Value::object();
  body.set("reloadable", Value(false));
  if (auto existing = equal_latest(*metadata_, "metric", metric.identifier(), body)) {
    return ref_of(*existing, false);
  }
  ComponentRecord r{"metric",
                    metric.identifier(),
                    next_version(*metadata_, "metric", metric.identifier()),
                    false,
                    body,
                    0};
  metadata_->create_component(r);
  return ref_of(r, true);
}

// ---------------------------------------------------------------------------------------------
// Showing and loading

std::vector<std::string> DB::show() { return metadata_->show_types(); }
std::vector<std::string> DB::show(const std::string& type_id) {
  return metadata_->show_components(type_id);
}
std::vector<std::int64_t> DB::show(const std::string& type_id, const std::string& identifier) {
  return metadata_->show_versions(type_id, identifier);
}
ComponentRecord DB::show(const std::string& type_id, const std::string& identifier,
                         std::optional<std::int64_t> version) {
  return metadata_->get_component(type_id, identifier, version);
}

Model DB::model_for(const std::string& identifier, std::int64_t version) {
  const std::string cache_key = identifier + "/" + std::to_string(version);
  if (auto it = ai_->models.find(cache_key); it != ai_->models.end()) return it->second;
  ComponentRecord r = metadata_->get_component("model", identifier, version, true);
  const std::string kind_name = r.body.find("kind")->as_string();
  const ModelKind& kind = model_kind(kind_name);
  const Value* artifact = r.body.find("artifact");
  Model m(identifier, kind_name, *r.body.find("params"));
  m.set_runtime(std::make_shared<Model::Runtime>(detail::load_model_artifact(
      kind, m.params(), *artifact_store_, artifact ? artifact->as_string() : std::string(),
      "model '" + identifier + "' version " + std::to_string(version))));
  m.set_version(version);
  const auto dim = static_cast<std::size_t>(r.body.find("dim")->as_int());
  if (m.dim() != dim) {
    throw Error(ErrorCode::corruption, "model '" + identifier + "' version " +
                                           std::to_string(version) + " loads with dimension " +
                                           std::to_string(m.dim()) + " but its record says " +
                                           std::to_string(dim));
  }
  ai_->models[cache_key] = m;
  return m;
}

Model DB::load_model(const std::string& identifier, std::optional<std::int64_t> version) {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  ComponentRecord r = metadata_->get_component("model", identifier, version, version.has_value());
  return model_for(identifier, r.version);
}

Listener DB::load_listener(const std::string& identifier, std::optional<std::int64_t> version) {
  ComponentRecord r =
      metadata_->get_component("listener", identifier, version, version.has_value());
  const Value& b = r.body;
  Find select = Collection(b.find("collection")->as_string()).find(*b.find("filter"));
  return Listener(std::move(select), b.find("key")->as_string(), b.find("model")->as_string(),
                  b.find("model_version")->as_int(), identifier);
}

VectorIndex DB::load_vector_index(const std::string& identifier,
                                  std::optional<std::int64_t> version) {
  ComponentRecord r =
      metadata_->get_component("vector_index", identifier, version, version.has_value());
  const Value& b = r.body;
  const Value* c = b.find("compatible_listener");
  return VectorIndex(identifier, b.find("indexing_listener")->as_string(),
                     parse_measure(b.find("measure")->as_string()),
                     c ? c->as_string() : std::string(), index_options_of(b));
}

std::vector<Document> DB::load_dataset(const std::string& identifier,
                                       std::optional<std::int64_t> version) {
  ComponentRecord r = metadata_->get_component("dataset", identifier, version, version.has_value());
  const std::string lines = artifact_store_->get(r.body.find("artifact")->as_string());
  std::vector<Document> docs;
  std::size_t start = 0;
  while (start < lines.size()) {
    std::size_t end = lines.find('\n', start);
    if (end == std::string::npos) end = lines.size();
    docs.push_back(Value::parse(std::string_view(lines).substr(start, end - start),
                                "dataset '" + identifier + "'"));
    start = end + 1;
  }
  return docs;
}

std::vector<JobRecord> DB::jobs() { return metadata_->list_jobs(); }

// ---------------------------------------------------------------------------------------------
// Removing

void DB::remove(const std::string& type_id, const std::string& identifier,
                std::optional<std::int64_t> version, bool force) {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  std::vector<ComponentRecord> records;
  if (version) {
    records.push_back(metadata_->get_component(type_id, identifier, version, true));
  } else {
    auto latest = metadata_->latest_version(type_id, identifier);
    if (!latest) {
      throw Error(ErrorCode::not_found, "no " + type_id + " '" + identifier + "'");
    }
    for (std::int64_t v = 0; v <= *latest; ++v) {
      try {
        records.push_back(metadata_->get_component(type_id, identifier, v, true));
      } catch (const Error& e) {
        if (e.code() != ErrorCode::not_found) throw;
      }
    }
  }
  // Decide for every version before changing anything.
  std::vector<bool> in_use;
  for (const ComponentRecord& r : records) {
    std::vector<std::string> parents = metadata_->parents_of(r.key());
    in_use.push_back(!parents.empty());
    if (!parents.empty() && !force) {
      std::string names;
      for (const auto& p : parents) names += (names.empty() ? "" : ", ") + p;
      throw Error(ErrorCode::failed_precondition,
                  r.key() + " is used by " + names +
                      "; remove that first, or force the removal to hide this version");
    }
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    const ComponentRecord& r = records[i];
    if (in_use[i]) {
      metadata_->hide_component(r.type_id, r.identifier, r.version);
      continue;
    }
    if (type_id == "listener") {
      std::erase_if(ai_->listeners, [&](const ListenerState& l) {
        return l.identifier == r.identifier && l.version == r.version;
      });
      databackend_->drop_outputs(detail::outputs_table(r.identifier, r.version));
    } else if (type_id == "vector_index") {
      for (const IndexState& s : ai_->indexes) {
        if (s.identifier != r.identifier || s.version != r.version) continue;
        if (vector_database_) vector_database_->drop_index(s.name());
        if (auto snap = metadata_->get_meta(s.meta_key()); snap && snap->is_object()) {
          artifact_store_->remove(snap->find("artifact")->as_string());
          metadata_->set_meta(s.meta_key(), Value());
        }
      }
      std::erase_if(ai_->indexes, [&](const IndexState& s) {
        return s.identifier == r.identifier && s.version == r.version;
      });
    } else if (type_id == "model") {
      ai_->models.erase(r.identifier + "/" + std::to_string(r.version));
    } else if (type_id == "metric") {
      ai_->metrics.erase(r.identifier);
    }
    metadata_->delete_component(r.type_id, r.identifier, r.version);
    // An artifact goes with the last version that names it.
    if (const Value* a = r.body.find("artifact");
        a && (type_id == "model" || type_id == "dataset")) {
      bool shared = false;
      for (const ComponentRecord& other : all_records(*metadata_, type_id)) {
        const Value* oa = other.body.find("artifact");
        if (oa && *oa == *a) shared = true;
      }
      if (!shared) artifact_store_->remove(a->as_string());
    }
  }
}

}  // namespace sddb
