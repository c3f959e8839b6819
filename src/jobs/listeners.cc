// Listeners (design §4, §6): a listener's model runs over every document of its selection
// (backfill, a job with progress), then over each insert and update of that collection, and a
// delete removes the outputs. Outputs go to the listener's outputs table, and from there into
// the vector indexes that use the listener (each index catches up by the table's sequence
// numbers, and is persisted to the artifact store as a snapshot with the sequence it covers).
//
// Crash safety: documents commit before their outputs. On open every listener compares the ids
// of its selection with the ids of its outputs and computes what is missing (and drops outputs
// whose document is gone). An update records a job before it writes; if that job is still
// pending on open, the update's outputs may be stale, so the listeners of that collection
// recompute all of theirs, unless the job belongs to a process of this machine that still runs
// (several processes may share one database; a live writer finishes its own job).
//
// Several writers: a catch-up on open only inserts outputs that are still absent when it writes
// (DataBackend::insert_missing_outputs), because a live process that wrote the same documents
// meanwhile stored newer ones.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <optional>
#include <unordered_set>

#include "db/ai_state.h"
#include "query/evaluator.h"
#include "sddb/error.h"

namespace sddb {

namespace {

constexpr std::size_t kBatch = 256;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> ids_of(const std::vector<Document>& docs) {
  std::vector<std::string> ids;
  ids.reserve(docs.size());
  for (const Document& d : docs) ids.push_back(d.find("_id")->as_string());
  return ids;
}

// Who runs a job, so that another process can tell whether it still runs: the boot id of the
// machine, the pid and the pid's start time (pids are reused). Empty strings where /proc is
// not readable; such a job is then taken as crashed, as before owners were recorded.
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string boot_id() {
  std::string id = read_file("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

// Field 22 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces);
// empty when the process is gone or a zombie (killed, not yet reaped: it writes no more).
std::string start_time(long pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return {};
  std::size_t pos = close + 2;  // field 3, the state
  if (stat[pos] == 'Z' || stat[pos] == 'X') return {};
  for (int field = 3; field < 22; ++field) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos) return {};
    ++pos;
  }
  return stat.substr(pos, stat.find(' ', pos) - pos);
}

Value job_owner() {
  const long pid = static_cast<long>(::getpid());
  return Value{{"boot", boot_id()},
               {"pid", Value(static_cast<std::int64_t>(pid))},
               {"start", start_time(pid)}};
}

// True when `owner` (job_owner() of some process) names a process of this boot that still runs.
bool owner_is_alive(const Value* owner) {
  if (!owner || !owner->is_object()) return false;
  const Value* boot = owner->find("boot");
  const Value* pid = owner->find("pid");
  const Value* start = owner->find("start");
  if (!boot || !boot->is_string() || !pid || !pid->is_int() || !start || !start->is_string()) {
    return false;
  }
  if (boot->as_string().empty() || boot->as_string() != boot_id()) return false;
  if (start->as_string().empty()) return false;
  return start_time(static_cast<long>(pid->as_int())) == start->as_string();
}

Value in_ids(const std::vector<std::string>& ids) {
  Array a;
  a.reserve(ids.size());
  for (const auto& id : ids) a.emplace_back(id);
  return Value{{"_id", Value{{"$in", Value(std::move(a))}}}};
}

}  // namespace

// The model's inputs for `docs` (documents of the listener's collection that match its
// selection). Documents without an input lose any output they had, unless `write` is
// missing_only: then an output that exists was written after these documents were read.
PreparedInputs DB::prepare_inputs(const ListenerState& listener, const std::vector<Document>& docs,
                                  OutputWrite write) {
  PreparedInputs p;
  std::vector<std::string> without;
  if (!listener.upstream.empty()) {
    // A chain: the input is the upstream listener's output of the same document.
    const ListenerState* up = nullptr;
    for (const ListenerState& l : ai_->listeners) {
      if (l.identifier == listener.upstream && (!up || l.version > up->version)) up = &l;
    }
    if (!up) return p;
    std::vector<OutputRow> rows = databackend_->get_outputs(up->table, ids_of(docs));
    std::unordered_set<std::string> have;
    for (OutputRow& r : rows) {
      have.insert(r.id);
      p.ids.push_back(std::move(r.id));
      p.inputs.push_back(detail::vector_to_value(r.vector));
    }
    for (const Document& d : docs) {
      if (!have.count(d.find("_id")->as_string())) without.push_back(d.find("_id")->as_string());
    }
  } else {
    for (const Document& d : docs) {
      const Value* v = detail::value_at(d, listener.key);
      if (v && !v->is_null()) {
        p.ids.push_back(d.find("_id")->as_string());
        p.inputs.push_back(*v);
      } else {
        without.push_back(d.find("_id")->as_string());
      }
    }
  }
  if (!without.empty() && write == OutputWrite::replace) remove_outputs(listener, without);
  return p;
}

// Writes the outputs in one transaction, then feeds the indexes and downstream listeners.
void DB::store_outputs(const ListenerState& listener, const PreparedInputs& prepared,
                       std::vector<std::vector<float>> vectors, OutputWrite write) {
  std::vector<OutputRow> rows;
  rows.reserve(vectors.size());
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    rows.push_back(OutputRow{prepared.ids[i], std::move(vectors[i]), listener.model_version, 0});
  }
  if (write == OutputWrite::replace) {
    databackend_->write_outputs(listener.table, rows);
  } else {
    databackend_->insert_missing_outputs(listener.table, rows);
  }
  for (IndexState& index : ai_->indexes) {
    if (index.loaded && index.listener == listener.identifier &&
        index.listener_version == listener.version) {
      sync_index(index);
    }
  }
  // Model chains: listeners whose input is this listener's output.
  for (const ListenerState& down : ai_->listeners) {
    if (down.upstream == listener.identifier && !prepared.ids.empty()) {
      compute_outputs_for_ids(down, prepared.ids, write);
    }
  }
}

namespace {

std::vector<std::vector<float>> predict_batches(const Model& model, std::vector<Value> inputs) {
  std::vector<std::vector<float>> out;
  out.reserve(inputs.size());
  std::vector<Value> batch;
  for (std::size_t start = 0; start < inputs.size(); start += kBatch) {
    const std::size_t end = std::min(inputs.size(), start + kBatch);
    batch.assign(std::make_move_iterator(inputs.begin() + static_cast<std::ptrdiff_t>(start)),
                 std::make_move_iterator(inputs.begin() + static_cast<std::ptrdiff_t>(end)));
    for (auto& v : model.predict(batch)) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

void DB::compute_outputs(const ListenerState& listener, const std::vector<Document>& docs,
                         OutputWrite write) {
  if (docs.empty()) return;
  Model model = model_for(listener.model, listener.model_version);
  PreparedInputs p = prepare_inputs(listener, docs, write);
  auto vectors = predict_batches(model, std::move(p.inputs));
  store_outputs(listener, p, std::move(vectors), write);
}

// The documents of `ids` that the listener's selection matches, through compute_outputs; the
// others lose their outputs.
void DB::compute_outputs_for_ids(const ListenerState& listener, const std::vector<std::string>& ids,
                                 OutputWrite write) {
  for (std::size_t start = 0; start < ids.size(); start += 1000) {
    std::vector<std::string> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(start),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), start + 1000)));
    Find f = Collection(listener.collection)
                 .find(Value{{"$and", Value::array({listener.filter, in_ids(chunk)})}});
    std::vector<Document> docs = databackend_->find(f).to_vector();
    std::unordered_set<std::string> matched;
    for (const Document& d : docs) matched.insert(d.find("_id")->as_string());
    std::vector<std::string> gone;
    for (const auto& id : chunk) {
      if (!matched.count(id)) gone.push_back(id);
    }
    if (!gone.empty() && write == OutputWrite::replace) remove_outputs(listener, gone);
    compute_outputs(listener, docs, write);
  }
}

void DB::remove_outputs(const ListenerState& listener, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  databackend_->delete_outputs(listener.table, ids);
  for (IndexState& index : ai_->indexes) {
    if (index.loaded && index.listener == listener.identifier &&
        index.listener_version == listener.version) {
      vector_database_->remove(index.name(), ids);
      index.dirty = true;
    }
  }
  for (const ListenerState& down : ai_->listeners) {
    if (down.upstream == listener.identifier) remove_outputs(down, ids);
  }
}

// The backfill is a pipeline: while the model computes one chunk on a second thread, this
// thread stores the chunk before it and reads the next. Only _id and the key are read.
std::string DB::backfill(const ListenerState& listener, const ProgressFn& progress) {
  JobRecord job;
  job.kind = "listener_backfill";
  job.args = Value{{"listener", listener.record_key()}, {"collection", listener.collection}};
  job.status = JobStatus::running;
  job.id = metadata_->create_job(job);
  try {
    Model model = model_for(listener.model, listener.model_version);
    const std::int64_t total = databackend_->count(Count{listener.collection, listener.filter});
    std::int64_t done = 0;
    auto last_report = std::chrono::steady_clock::now();
    struct InFlight {
      PreparedInputs prepared;
      std::size_t docs = 0;
      std::future<std::vector<std::vector<float>>> vectors;
    };
    std::optional<InFlight> inflight;
    auto finish = [&](InFlight& f) {
      store_outputs(listener, f.prepared, f.vectors.get());
      done += static_cast<std::int64_t>(f.docs);
      job.progress = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
      // The job record is a durable write: at most about once a second.
      const auto now = std::chrono::steady_clock::now();
      if (now - last_report >= std::chrono::seconds(1)) {
        metadata_->update_job(job);
        last_report = now;
      }
      if (progress) progress(static_cast<std::size_t>(done), static_cast<std::size_t>(total));
    };
    std::vector<Document> chunk;
    auto launch = [&] {
      InFlight next;
      next.prepared = prepare_inputs(listener, chunk);
      next.docs = chunk.size();
      chunk.clear();
      // The inputs move to the model's thread; storing needs only the ids.
      next.vectors = std::async(std::launch::async,
                                [model, inputs = std::move(next.prepared.inputs)]() mutable {
                                  return predict_batches(model, std::move(inputs));
                                });
      std::optional<InFlight> previous = std::move(inflight);
      inflight = std::move(next);
      if (previous) finish(*previous);
    };
    Value projection = Value::object();
    if (listener.upstream.empty())
      projection.set(listener.key, Value(1));
    else
      projection.set("_id", Value(1));
    Find select = Collection(listener.collection).find(listener.filter, projection);
    for (Document& d : databackend_->find(select)) {
      chunk.push_back(std::move(d));
      if (chunk.size() == 8 * kBatch) launch();
    }
    if (!chunk.empty()) launch();
    if (inflight) finish(*inflight);
    job.status = JobStatus::success;
    job.progress = 1.0;
    metadata_->update_job(job);
  } catch (const std::exception& e) {
    job.status = JobStatus::failed;
    job.error = e.what();
    metadata_->update_job(job);
    throw;
  }
  persist_vector_indexes();
  return job.id;
}

void DB::catch_up(const ListenerState& listener) {
  try {
    std::unordered_set<std::string> have;
    for (std::string& id : databackend_->output_ids(listener.table)) have.insert(std::move(id));
    std::vector<std::string> missing;
    std::unordered_set<std::string> selected;
    Find select = Collection(listener.collection).find(listener.filter, Value{{"_id", 1}});
    for (const Document& d : databackend_->find(select)) {
      const std::string& id = d.find("_id")->as_string();
      selected.insert(id);
      if (!have.count(id)) missing.push_back(id);
    }
    std::vector<std::string> orphans;
    for (const std::string& id : have) {
      if (!selected.count(id)) orphans.push_back(id);
    }
    remove_outputs(listener, orphans);
    // Documents without an input have no output either; they are looked at again, cheaply
    // (no prediction), on each open.
    // Another process may write these documents and their outputs while this one computes:
    // what it stores is newer than what was read here, so only absent outputs are written.
    if (!missing.empty()) compute_outputs_for_ids(listener, missing, OutputWrite::missing_only);
  } catch (const std::exception& e) {
    // Opening must not fail because one model cannot run here (e.g. a callable of another
    // process); the job says why the outputs are missing.
    JobRecord job;
    job.kind = "listener_catch_up";
    job.args = Value{{"listener", listener.record_key()}, {"collection", listener.collection}};
    job.status = JobStatus::failed;
    job.error = e.what();
    metadata_->create_job(job);
  }
}

std::string DB::before_update(const std::string& collection) {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  if (std::none_of(ai_->listeners.begin(), ai_->listeners.end(),
                   [&](const ListenerState& l) { return l.collection == collection; })) {
    return {};
  }
  JobRecord job;
  job.kind = "listener_update";
  job.args = Value{{"collection", collection}, {"owner", job_owner()}};
  job.status = JobStatus::running;
  return metadata_->create_job(job);
}

void DB::after_update(const std::string& collection, const std::vector<std::string>& ids,
                      const std::string& job_id) {
  if (job_id.empty()) return;
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  JobRecord job = metadata_->get_job(job_id);
  try {
    for (const ListenerState& l : ai_->listeners) {
      if (l.collection == collection && l.upstream.empty()) compute_outputs_for_ids(l, ids);
    }
    job.status = JobStatus::success;
    job.progress = 1.0;
  } catch (const std::exception& e) {
    job.status = JobStatus::failed;
    job.error = e.what();
  }
  metadata_->update_job(job);
}

void DB::after_insert(const std::string& collection, const std::vector<Document>& docs) {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  for (const ListenerState& l : ai_->listeners) {
    if (l.collection != collection || !l.upstream.empty()) continue;
    try {
      std::vector<Document> matching;
      for (const Document& d : docs) {
        if (query::matches(l.filter_node, d)) matching.push_back(d);
      }
      compute_outputs(l, matching);
    } catch (const std::exception& e) {
      JobRecord job;
      job.kind = "listener_insert";
      job.args = Value{{"listener", l.record_key()},
                       {"collection", collection},
                       {"documents", Value(docs.size())}};
      job.status = JobStatus::failed;
      job.error = e.what();
      metadata_->create_job(job);
    }
  }
}

void DB::after_delete(const std::string& collection, const std::vector<std::string>& ids) {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  for (const ListenerState& l : ai_->listeners) {
    if (l.collection == collection && l.upstream.empty()) remove_outputs(l, ids);
  }
}

void DB::after_drop(const std::string& collection) {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  for (const ListenerState& l : ai_->listeners) {
    if (l.collection == collection && l.upstream.empty()) {
      remove_outputs(l, databackend_->output_ids(l.table));
    }
  }
}

void DB::recover_jobs() {
  for (JobRecord& job : metadata_->list_jobs(JobStatus::running)) {
    if (job.kind != "listener_update") continue;
    const Value* c = job.args.find("collection");
    if (!c || !c->is_string()) continue;
    // Another process of this machine that is still writing: its job is not a crash.
    if (owner_is_alive(job.args.find("owner"))) continue;
    try {
      for (const ListenerState& l : ai_->listeners) {
        if (l.collection != c->as_string()) continue;
        // Every output of this listener may be stale: recompute them all.
        std::vector<std::string> ids = databackend_->output_ids(l.table);
        compute_outputs_for_ids(l, ids);
      }
      job.status = JobStatus::success;
      job.progress = 1.0;
    } catch (const std::exception& e) {
      job.status = JobStatus::failed;
      job.error = std::string("recovering after a crash: ") + e.what();
    }
    metadata_->update_job(job);
  }
}

// ---------------------------------------------------------------------------------------------
// Vector indexes

void DB::load_index(IndexState& index) {
  if (index.loaded) return;
  if (!vector_database_) {
    throw Error(ErrorCode::not_supported, "vector index '" + index.identifier +
                                              "': this DB has no vector search; set "
                                              "vector_search = \"inmemory://\"");
  }
  const std::string name = index.name();
  index.seq = 0;
  bool from_snapshot = false;
  if (auto snap = metadata_->get_meta(index.meta_key()); snap && snap->is_object()) {
    try {
      vector_database_->load(name, artifact_store_->get(snap->find("artifact")->as_string()));
      // Tells the loaded index what it is for (an automatic one may grow into hnsw later); a
      // snapshot of another type than the record's is rebuilt.
      vector_database_->create_index(name, index.dim, index.measure, index.options);
      index.seq = snap->find("seq")->as_int();
      from_snapshot = true;
    } catch (const Error&) {
      // A missing or damaged snapshot is rebuilt from the outputs table.
      vector_database_->drop_index(name);
    }
  }
  if (!from_snapshot) {
    vector_database_->drop_index(name);
    vector_database_->create_index(name, index.dim, index.measure, index.options);
  }
  index.loaded = true;
  index.dirty = !from_snapshot;
  sync_index(index);
  if (from_snapshot) {
    // Deletes since the snapshot: ids in the index without an output any more.
    std::unordered_set<std::string> live;
    for (std::string& id :
         databackend_->output_ids(detail::outputs_table(index.listener, index.listener_version))) {
      live.insert(std::move(id));
    }
    std::vector<std::string> stale;
    for (std::string& id : vector_database_->ids(name)) {
      if (!live.count(id)) stale.push_back(std::move(id));
    }
    if (!stale.empty()) {
      vector_database_->remove(name, stale);
      index.dirty = true;
    }
  }
}

void DB::sync_index(IndexState& index) {
  const std::string table = detail::outputs_table(index.listener, index.listener_version);
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
  auto flush = [&] {
    if (ids.empty()) return;
    vector_database_->add(index.name(), ids, vectors);
    ids.clear();
    vectors.clear();
    index.dirty = true;
  };
  databackend_->scan_outputs(table, index.seq, [&](const OutputRow& r) {
    if (r.vector.size() != index.dim) {
      throw Error(ErrorCode::invalid_argument,
                  "vector index '" + index.identifier + "' has dimension " +
                      std::to_string(index.dim) + " but listener '" + index.listener +
                      "' wrote an output of " + std::to_string(r.vector.size()) + " numbers for '" +
                      r.id + "'");
    }
    ids.push_back(r.id);
    vectors.push_back(r.vector);
    index.seq = std::max(index.seq, r.seq);
    if (ids.size() == 4096) flush();
  });
  flush();
}

void DB::persist_index(IndexState& index) {
  if (!index.loaded || !index.dirty || !vector_database_) return;
  const std::string bytes = vector_database_->save(index.name());
  const std::string id = artifact_store_->put(bytes);
  auto old = metadata_->get_meta(index.meta_key());
  metadata_->set_meta(index.meta_key(),
                      Value{{"artifact", id}, {"seq", index.seq}, {"saved_at_ms", now_ms()}});
  if (old && old->is_object()) {
    const std::string& old_id = old->find("artifact")->as_string();
    if (old_id != id) artifact_store_->remove(old_id);
  }
  index.dirty = false;
}

void DB::persist_vector_indexes() {
  std::lock_guard<std::recursive_mutex> lock(ai_->mutex);
  for (IndexState& index : ai_->indexes) persist_index(index);
}

}  // namespace sddb
