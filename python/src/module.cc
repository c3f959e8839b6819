// sddb._sddb: the Python bindings of sddb's public API (include/sddb/), re-exported by the
// package `sddb` (python/sddb/__init__.py).
//
// Rules every binding here follows:
//  - Python values are converted (convert.h) while the GIL is held, then the GIL is released for
//    the call into the DB, so several Python threads can work at once and Python models (which
//    take the GIL themselves, python_model.cc) can run on the DB's threads.
//  - Every sddb::Error becomes the exception class of its code (sddb.InvalidArgument, ...),
//    all subclasses of sddb.Error, with the same message: one translator, below.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdio>
#include <deque>
#include <mutex>

#include "convert.h"
#include "python_model.h"
#include "sddb/sddb.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace sddb::python {
namespace {

// --- errors -------------------------------------------------------------------------------

struct ErrorClass {
  ErrorCode code;
  const char* name;
  PyObject* also;  // a built-in exception the class also derives from, or null
};

// The classes live as long as the process: they are created once, at import, and never freed,
// so that an error raised while the interpreter shuts down still has its class.
std::array<PyObject*, 10> g_error_classes{};

void define_errors(py::module_& m) {
  const ErrorClass classes[] = {
      {ErrorCode::invalid_argument, "InvalidArgument", PyExc_ValueError},
      {ErrorCode::not_found, "NotFound", PyExc_LookupError},
      {ErrorCode::already_exists, "AlreadyExists", nullptr},
      {ErrorCode::failed_precondition, "FailedPrecondition", nullptr},
      {ErrorCode::conflict, "Conflict", nullptr},
      {ErrorCode::unavailable, "Unavailable", nullptr},
      {ErrorCode::corruption, "Corruption", nullptr},
      {ErrorCode::io_error, "IoError", PyExc_OSError},
      {ErrorCode::not_supported, "NotSupported", PyExc_NotImplementedError},
      {ErrorCode::internal, "InternalError", nullptr},
  };
  PyObject* base = PyErr_NewExceptionWithDoc(
      "sddb.Error", "Every error sddb raises; `code` names its sddb::ErrorCode.", PyExc_Exception,
      nullptr);
  if (base == nullptr) throw py::error_already_set();
  m.add_object("Error", py::reinterpret_borrow<py::object>(base));
  for (const ErrorClass& c : classes) {
    py::tuple bases = c.also ? py::make_tuple(py::handle(base), py::handle(c.also))
                             : py::make_tuple(py::handle(base));
    const std::string qualified = std::string("sddb.") + c.name;
    PyObject* cls = PyErr_NewException(qualified.c_str(), bases.ptr(), nullptr);
    if (cls == nullptr) throw py::error_already_set();
    py::handle(cls).attr("code") = std::string(to_string(c.code));
    g_error_classes[static_cast<std::size_t>(c.code)] = cls;
    m.add_object(c.name, py::reinterpret_borrow<py::object>(cls));
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(g_error_classes[static_cast<std::size_t>(e.code())], e.what());
    }
  });
}

// --- helpers ------------------------------------------------------------------------------

// A read's filter: None is "every document".
Value read_filter(const py::object& f, const std::string& what) {
  return f.is_none() ? Value::object() : to_value(f, what);
}
// A write's filter: None stays null, which execute() refuses (no accidental "update all").
Value write_filter(const py::object& f, const std::string& what) {
  return f.is_none() ? Value() : to_value(f, what);
}
Value projection(const py::object& p) { return p.is_none() ? Value() : to_value(p, "projection"); }

py::array_t<float> to_numpy(const std::vector<float>& v) {
  py::array_t<float> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

py::array_t<float> to_numpy(const std::vector<std::vector<float>>& rows, std::size_t dim) {
  py::array_t<float> a({static_cast<py::ssize_t>(rows.size()), static_cast<py::ssize_t>(dim)});
  float* out = a.mutable_data();
  for (const auto& r : rows) out = std::copy(r.begin(), r.end(), out);
  return a;
}

// progress=None (nothing), True (a line on stderr) or a function f(done, total).
ProgressFn progress_fn(const py::object& p, const std::string& label) {
  if (p.is_none() || (PyBool_Check(p.ptr()) && p.ptr() == Py_False)) return {};
  if (PyBool_Check(p.ptr())) {
    return [label](std::size_t done, std::size_t total) {
      if (total > 0) {
        const int width = 30;
        const int filled = static_cast<int>(width * done / total);
        std::fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu", label.c_str(), filled,
                     "##############################", width - filled, "", done, total);
        if (done >= total) std::fputc('\n', stderr);
      } else {
        std::fprintf(stderr, "\r%s %zu", label.c_str(), done);
      }
      std::fflush(stderr);
    };
  }
  if (!PyCallable_Check(p.ptr())) {
    throw Error(ErrorCode::invalid_argument,
                "progress must be None, True or a function f(done, total)");
  }
  // Copies of the std::function run on threads without the GIL: share one reference, and drop
  // it with the GIL held.
  std::shared_ptr<py::object> fn(new py::object(p), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [fn](std::size_t done, std::size_t total) {
    py::gil_scoped_acquire gil;
    try {
      (*fn)(done, total);
    } catch (py::error_already_set& e) {
      // A failing progress function must not abort the work it reports on.
      e.discard_as_unraisable("sddb progress callback");
    }
  };
}

std::string model_identifier(const py::object& m, const char* what) {
  if (py::isinstance<py::str>(m)) return m.cast<std::string>();
  if (py::isinstance<Model>(m)) return m.cast<const Model&>().identifier();
  throw Error(ErrorCode::invalid_argument,
              std::string(what) + ": model must be a model identifier (str) or a Model");
}

std::string listener_identifier(const py::object& l, const char* what) {
  if (l.is_none()) return {};
  if (py::isinstance<py::str>(l)) return l.cast<std::string>();
  if (py::isinstance<Listener>(l)) return l.cast<const Listener&>().identifier();
  throw Error(ErrorCode::invalid_argument,
              std::string(what) + ": a listener must be its identifier (str) or a Listener");
}

py::dict record_dict(const ComponentRecord& r) {
  return py::dict("type_id"_a = r.type_id, "identifier"_a = r.identifier, "version"_a = r.version,
                  "hidden"_a = r.hidden, "body"_a = to_python(r.body),
                  "created_at_ms"_a = r.created_at_ms);
}

py::dict job_dict(const JobRecord& j) {
  return py::dict("id"_a = j.id, "kind"_a = j.kind, "args"_a = to_python(j.args),
                  "status"_a = std::string(to_string(j.status)), "progress"_a = j.progress,
                  "error"_a = j.error, "created_at_ms"_a = j.created_at_ms,
                  "updated_at_ms"_a = j.updated_at_ms);
}

std::string repr_value(const Value& v) { return v.is_null() ? "None" : v.to_json(); }

// A cursor shared with Python: lazy, and safe when two Python threads iterate the same one
// (the C++ Cursor belongs to one thread at a time). Documents are read from the backend
// kBatch at a time with the GIL released, then handed out (and converted) one per __next__:
// releasing the GIL for every document would cost as much as reading it.
struct PyCursor {
  static constexpr std::size_t kBatch = 64;
  explicit PyCursor(Cursor c) : cursor(std::move(c)) {}
  std::mutex mutex;  // guards everything below; never held while waiting for the GIL
  Cursor cursor;
  std::deque<Document> buffer;
  bool done = false;

  std::optional<Document> pop_locked() {
    if (buffer.empty()) return std::nullopt;
    Document d = std::move(buffer.front());
    buffer.pop_front();
    return d;
  }

  std::optional<Document> next() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (auto d = pop_locked()) return d;
      if (done) return std::nullopt;
    }
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mutex);
    while (!done && buffer.size() < kBatch) {
      auto d = cursor.next();
      if (!d) {
        done = true;
        break;
      }
      buffer.push_back(std::move(*d));
    }
    return pop_locked();
  }
};

// The for-loop's slot, set directly on the Cursor type (see bind): pybind11's dispatcher for
// __next__ costs about as much as reading and converting a small document.
PyObject* cursor_iternext(PyObject* self) {
  try {
    auto& c = py::cast<PyCursor&>(py::handle(self));
    auto d = c.next();
    if (!d) return nullptr;  // no error set: the iteration ends
    return to_python(*d).release().ptr();
  } catch (const Error& e) {
    PyErr_SetString(g_error_classes[static_cast<std::size_t>(e.code())], e.what());
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

template <typename Q, typename R>
R run(DB& db, const Q& q) {
  py::gil_scoped_release nogil;
  return db.execute(q);
}

// The DB as Python holds it. Closing a DB may wait for its threads, which may be waiting for
// the GIL to run a Python model: the GIL is released while it closes.
std::shared_ptr<DB> share(std::unique_ptr<DB> db) {
  return std::shared_ptr<DB>(db.release(), [](DB* d) {
    if (PyGILState_Check() != 0) {
      py::gil_scoped_release nogil;
      delete d;
    } else {
      delete d;
    }
  });
}

constexpr const char* kSortUsage =
    "sort: give a path and a direction (1 or -1), or a list of (path, direction) pairs";

// --- module -------------------------------------------------------------------------------

void bind(py::module_& m) {
  define_errors(m);
  register_python_model_kind();

  py::class_<InsertResult>(m, "InsertResult")
      .def_readonly("inserted_ids", &InsertResult::inserted_ids)
      .def("__repr__", [](const InsertResult& r) {
        return "InsertResult(" + std::to_string(r.inserted_ids.size()) + " inserted)";
      });
  py::class_<UpdateResult>(m, "UpdateResult")
      .def_readonly("matched", &UpdateResult::matched)
      .def_readonly("modified", &UpdateResult::modified)
      .def_readonly("upserted_id", &UpdateResult::upserted_id)
      .def_readonly("modified_ids", &UpdateResult::modified_ids)
      .def("__repr__", [](const UpdateResult& r) {
        return "UpdateResult(matched=" + std::to_string(r.matched) +
               ", modified=" + std::to_string(r.modified) + ")";
      });
  py::class_<DeleteResult>(m, "DeleteResult")
      .def_readonly("deleted", &DeleteResult::deleted)
      .def_readonly("deleted_ids", &DeleteResult::deleted_ids)
      .def("__repr__", [](const DeleteResult& r) {
        return "DeleteResult(deleted=" + std::to_string(r.deleted) + ")";
      });

  // Queries: plain values; nothing runs until db.execute(query).
  py::class_<Like>(m, "Like")
      .def(
          "find",
          [](const Like& l, const py::object& filter, const py::object& proj) {
            return l.find(read_filter(filter, "like().find filter"), projection(proj));
          },
          "filter"_a = py::none(), "projection"_a = py::none())
      .def_property_readonly("collection", [](const Like& l) { return l.collection; })
      .def_property_readonly("vector_index", [](const Like& l) { return l.index; })
      .def_property_readonly("n", [](const Like& l) { return l.n; })
      .def_property_readonly("example", [](const Like& l) { return to_python(l.example); })
      .def_property_readonly("filter", [](const Like& l) { return to_python(l.filter); })
      .def("__repr__", [](const Like& l) {
        return "Collection('" + l.collection + "').like(" + repr_value(l.example) +
               ", vector_index='" + l.index + "', n=" + std::to_string(l.n) + ").find(" +
               repr_value(l.filter) + ")";
      });

  py::class_<Find>(m, "Find")
      .def(
          "sort",
          [](const Find& f, const py::object& key, int direction) {
            if (py::isinstance<py::str>(key)) return f.sort(key.cast<std::string>(), direction);
            std::vector<SortKey> keys;
            try {
              for (py::handle item : key) {
                auto t = item.cast<std::pair<std::string, int>>();
                keys.push_back(SortKey{t.first, t.second});
              }
            } catch (const py::error_already_set&) {
              throw Error(ErrorCode::invalid_argument, kSortUsage);
            } catch (const py::cast_error&) {
              throw Error(ErrorCode::invalid_argument, kSortUsage);
            }
            return f.sort(std::move(keys));
          },
          "key"_a, "direction"_a = 1,
          "sort(path, direction=1) or sort([(path, direction), ...]); 1 ascending, -1 "
          "descending")
      .def("skip", &Find::skip, "n"_a)
      .def("limit", &Find::limit, "n"_a)
      .def(
          "project", [](const Find& f, const py::object& p) { return f.project(projection(p)); },
          "projection"_a)
      .def(
          "like",
          [](const Find& f, const py::object& example, const std::string& vector_index,
             std::int64_t n) { return f.like(to_value(example, "like example"), vector_index, n); },
          "example"_a, py::kw_only(), "vector_index"_a, "n"_a = 10)
      .def_property_readonly("collection", [](const Find& f) { return f.collection; })
      .def_property_readonly("filter", [](const Find& f) { return to_python(f.filter); })
      .def("__repr__", [](const Find& f) {
        std::string s = "Collection('" + f.collection + "').find(" + repr_value(f.filter) + ")";
        if (f.skip_n) s += ".skip(" + std::to_string(f.skip_n) + ")";
        if (f.limit_n) s += ".limit(" + std::to_string(f.limit_n) + ")";
        return s;
      });

  py::class_<FindOne>(m, "FindOne").def("__repr__", [](const FindOne& q) {
    return "Collection('" + q.find.collection + "').find_one(" + repr_value(q.find.filter) + ")";
  });
  py::class_<Count>(m, "Count").def("__repr__", [](const Count& q) {
    return "Collection('" + q.collection + "').count(" + repr_value(q.filter) + ")";
  });
  py::class_<InsertMany>(m, "InsertMany")
      .def("__len__", [](const InsertMany& q) { return q.documents.size(); })
      .def("__repr__", [](const InsertMany& q) {
        return "Collection('" + q.collection + "').insert_many(<" +
               std::to_string(q.documents.size()) + " documents>)";
      });
  py::class_<UpdateMany>(m, "UpdateMany").def("__repr__", [](const UpdateMany& q) {
    return "Collection('" + q.collection + "')." + (q.many ? "update_many(" : "update_one(") +
           repr_value(q.filter) + ", " + repr_value(q.update) + ")";
  });
  py::class_<ReplaceOne>(m, "ReplaceOne").def("__repr__", [](const ReplaceOne& q) {
    return "Collection('" + q.collection + "').replace_one(" + repr_value(q.filter) + ", ...)";
  });
  py::class_<DeleteMany>(m, "DeleteMany").def("__repr__", [](const DeleteMany& q) {
    return "Collection('" + q.collection + "')." + (q.many ? "delete_many(" : "delete_one(") +
           repr_value(q.filter) + ")";
  });

  py::class_<Collection>(m, "Collection")
      .def(py::init<std::string>(), "name"_a)
      .def_property_readonly("name", &Collection::name)
      .def(
          "find",
          [](const Collection& c, const py::object& filter, const py::object& proj) {
            return c.find(read_filter(filter, "find filter"), projection(proj));
          },
          "filter"_a = py::none(), "projection"_a = py::none())
      .def(
          "find_one",
          [](const Collection& c, const py::object& filter, const py::object& proj) {
            return c.find_one(read_filter(filter, "find_one filter"), projection(proj));
          },
          "filter"_a = py::none(), "projection"_a = py::none())
      .def(
          "count",
          [](const Collection& c, const py::object& filter) {
            return c.count(read_filter(filter, "count filter"));
          },
          "filter"_a = py::none())
      .def(
          "like",
          [](const Collection& c, const py::object& example, const std::string& vector_index,
             std::int64_t n) { return c.like(to_value(example, "like example"), vector_index, n); },
          "example"_a, py::kw_only(), "vector_index"_a, "n"_a = 10)
      .def(
          "insert_one",
          [](const Collection& c, const py::object& doc) {
            if (!PyDict_Check(doc.ptr())) {
              throw Error(ErrorCode::invalid_argument, "insert_one: the document must be a dict");
            }
            return c.insert_one(to_value(doc, "insert_one: document"));
          },
          "document"_a)
      .def(
          "insert_many",
          [](const Collection& c, const py::object& docs) {
            return c.insert_many(to_documents(docs, "insert_many"));
          },
          "documents"_a)
      .def(
          "update_one",
          [](const Collection& c, const py::object& f, const py::object& u, bool upsert) {
            return c.update_one(write_filter(f, "update_one filter"),
                                to_value(u, "update_one update"), upsert);
          },
          "filter"_a, "update"_a, "upsert"_a = false)
      .def(
          "update_many",
          [](const Collection& c, const py::object& f, const py::object& u, bool upsert) {
            return c.update_many(write_filter(f, "update_many filter"),
                                 to_value(u, "update_many update"), upsert);
          },
          "filter"_a, "update"_a, "upsert"_a = false)
      .def(
          "replace_one",
          [](const Collection& c, const py::object& f, const py::object& r, bool upsert) {
            return c.replace_one(write_filter(f, "replace_one filter"),
                                 to_value(r, "replace_one replacement"), upsert);
          },
          "filter"_a, "replacement"_a, "upsert"_a = false)
      .def(
          "delete_one",
          [](const Collection& c, const py::object& f) {
            return c.delete_one(write_filter(f, "delete_one filter"));
          },
          "filter"_a)
      .def(
          "delete_many",
          [](const Collection& c, const py::object& f) {
            return c.delete_many(write_filter(f, "delete_many filter"));
          },
          "filter"_a)
      .def("__repr__", [](const Collection& c) { return "Collection('" + c.name() + "')"; });

  py::class_<PyCursor> cursor(m, "Cursor");
  cursor.def("__iter__", [](PyCursor& c) -> PyCursor& { return c; })
      .def("__next__",
           [](PyCursor& c) {
             auto d = c.next();
             if (!d) throw py::stop_iteration();
             return to_python(*d);
           })
      .def(
          "to_list",
          [](PyCursor& c) {
            py::list out;
            while (auto d = c.next()) out.append(to_python(*d));
            return out;
          },
          "The rest of the documents, as a list.");
  reinterpret_cast<PyTypeObject*>(cursor.ptr())->tp_iternext = cursor_iternext;
  PyType_Modified(reinterpret_cast<PyTypeObject*>(cursor.ptr()));

  // --- components ---
  py::class_<ComponentRef>(m, "ComponentRef")
      .def_readonly("type_id", &ComponentRef::type_id)
      .def_readonly("identifier", &ComponentRef::identifier)
      .def_readonly("version", &ComponentRef::version)
      .def_readonly("created", &ComponentRef::created)
      .def_readonly("jobs", &ComponentRef::jobs)
      .def("key", &ComponentRef::key)
      .def("__repr__", [](const ComponentRef& r) {
        return "ComponentRef('" + r.key() + "', created=" + (r.created ? "True" : "False") + ")";
      });

  py::class_<Model>(m, "Model")
      .def(py::init([](const std::string& identifier, py::object object, std::optional<int> dim,
                       bool batch) {
             return make_python_model(identifier, std::move(object), dim, batch);
           }),
           "identifier"_a, py::kw_only(), "object"_a, "dim"_a = py::none(), "batch"_a = false)
      .def_static(
          "fasttext",
          [](std::string identifier, int dim, int epochs, int min_count, int minn, int maxn,
             int bucket, double lr, int ws, std::string model, int threads, int seed) {
            FastTextOptions o;
            o.dim = dim;
            o.epochs = epochs;
            o.min_count = min_count;
            o.minn = minn;
            o.maxn = maxn;
            o.bucket = bucket;
            o.lr = lr;
            o.ws = ws;
            o.model = std::move(model);
            o.threads = threads;
            o.seed = seed;
            return Model::fasttext(std::move(identifier), o);
          },
          "identifier"_a, py::kw_only(), "dim"_a = 100, "epochs"_a = 5, "min_count"_a = 2,
          "minn"_a = 3, "maxn"_a = 6, "bucket"_a = 200000, "lr"_a = 0.05, "ws"_a = 5,
          "model"_a = "skipgram", "threads"_a = 0, "seed"_a = 0)
      .def_static(
          "fasttext_file",
          [](std::string identifier, const std::string& path) {
            return Model::fasttext_file(std::move(identifier), path);
          },
          "identifier"_a, "path"_a)
      .def_static(
          "torchscript",
          [](std::string identifier, const std::string& path, std::size_t input_dim,
             std::size_t dim, std::size_t batch_size) {
            TorchScriptOptions o;
            o.input_dim = input_dim;
            o.dim = dim;
            o.batch_size = batch_size;
            return Model::torchscript(std::move(identifier), path, o);
          },
          "identifier"_a, "path"_a, py::kw_only(), "input_dim"_a, "dim"_a = 0, "batch_size"_a = 64)
      .def_static(
          "http_embeddings",
          [](std::string identifier, std::string url, std::string model, std::string api_key,
             std::size_t dim, std::size_t batch_size, int timeout_ms, int max_retries) {
            HttpEmbeddingOptions o;
            o.url = std::move(url);
            o.model = std::move(model);
            o.api_key = std::move(api_key);
            o.dim = dim;
            o.batch_size = batch_size;
            o.timeout_ms = timeout_ms;
            o.max_retries = max_retries;
            py::gil_scoped_release nogil;
            return Model::http_embeddings(std::move(identifier), o);
          },
          "identifier"_a, py::kw_only(), "url"_a = "", "model"_a = "", "api_key"_a = "",
          "dim"_a = 0, "batch_size"_a = 64, "timeout_ms"_a = 30000, "max_retries"_a = 4)
      .def(
          "fit",
          [](const Model& m, const Find& select, std::string key) {
            return m.fit(select, std::move(key));
          },
          "select"_a, py::kw_only(), "key"_a)
      .def("with_encoder", &Model::with_encoder, "encoder"_a)
      .def_property_readonly("identifier", &Model::identifier)
      .def_property_readonly("kind", &Model::kind)
      .def_property_readonly("params", [](const Model& m) { return to_python(m.params()); })
      .def_property_readonly("version", &Model::version)
      .def_property_readonly("loaded", &Model::loaded)
      .def_property_readonly("dim", &Model::dim)
      .def(
          "predict",
          [](const Model& m, const py::object& x) {
            Value v = to_value(x, "predict input");
            std::vector<float> out;
            {
              py::gil_scoped_release nogil;
              out = m.predict(v);
            }
            return to_numpy(out);
          },
          "x"_a, "The output for one input, as a 1-D float32 numpy array.")
      .def(
          "predict_batch",
          [](const Model& m, const py::object& xs) {
            std::vector<Value> inputs;
            for (py::handle x : xs) inputs.push_back(to_value(x, "predict_batch input"));
            std::vector<std::vector<float>> out;
            std::size_t dim = 0;
            {
              py::gil_scoped_release nogil;
              dim = m.dim();
              out = m.predict(inputs);
            }
            return to_numpy(out, dim);
          },
          "xs"_a, "The outputs for a list of inputs, as an (n, dim) float32 numpy array.")
      .def("__repr__", [](const Model& m) {
        std::string s = "Model('" + m.identifier() + "', kind='" + m.kind() + "'";
        if (m.version()) s += ", version=" + std::to_string(*m.version());
        return s + ")";
      });

  py::class_<Listener>(m, "Listener")
      .def(py::init([](const Find& select, std::string key, const py::object& model,
                       std::optional<std::int64_t> model_version, std::string identifier) {
             return Listener(select, std::move(key), model_identifier(model, "Listener"),
                             model_version, std::move(identifier));
           }),
           "select"_a, py::kw_only(), "key"_a, "model"_a, "model_version"_a = py::none(),
           "identifier"_a = "")
      .def_property_readonly("identifier", &Listener::identifier)
      .def_property_readonly("key", &Listener::key)
      .def_property_readonly("model", &Listener::model)
      .def_property_readonly("model_version", &Listener::model_version)
      .def_property_readonly("select", &Listener::select)
      .def("__repr__", [](const Listener& l) { return "Listener('" + l.identifier() + "')"; });

  py::class_<VectorIndex>(m, "VectorIndex")
      .def(py::init([](std::string identifier, const py::object& indexing,
                       const std::string& measure, const py::object& compatible, std::string type,
                       std::size_t m_links, std::size_t ef_construction, std::size_t ef_search,
                       std::string storage) {
             VectorIndexOptions o;
             o.type = std::move(type);
             o.m = m_links;
             o.ef_construction = ef_construction;
             o.ef_search = ef_search;
             o.storage = std::move(storage);
             return VectorIndex(std::move(identifier), listener_identifier(indexing, "VectorIndex"),
                                parse_measure(measure),
                                listener_identifier(compatible, "VectorIndex"), o);
           }),
           "identifier"_a, py::kw_only(), "indexing_listener"_a, "measure"_a = "cosine",
           "compatible_listener"_a = py::none(), "type"_a = "auto", "m"_a = 16,
           "ef_construction"_a = 200, "ef_search"_a = 64, "storage"_a = "auto")
      .def_property_readonly("identifier", &VectorIndex::identifier)
      .def_property_readonly("indexing_listener", &VectorIndex::indexing_listener)
      .def_property_readonly("compatible_listener", &VectorIndex::compatible_listener)
      .def_property_readonly(
          "measure", [](const VectorIndex& v) { return std::string(to_string(v.measure())); })
      .def("__repr__",
           [](const VectorIndex& v) { return "VectorIndex('" + v.identifier() + "')"; });

  py::class_<Encoder>(m, "Encoder")
      .def(py::init<std::string, std::size_t, std::string>(), "identifier"_a, "shape"_a,
           "dtype"_a = "float32")
      .def_property_readonly("identifier", &Encoder::identifier)
      .def_property_readonly("shape", &Encoder::shape)
      .def_property_readonly("dtype", &Encoder::dtype);

  py::class_<Dataset>(m, "Dataset")
      .def(py::init<std::string, Find>(), "identifier"_a, "select"_a)
      .def_property_readonly("identifier", &Dataset::identifier);

  // --- the DB ---
  py::class_<DB, std::shared_ptr<DB>>(m, "DB")
      .def(py::init([](std::optional<std::string> data, std::optional<std::string> meta,
                       std::optional<std::string> artifacts, std::optional<std::string> vectors) {
             ConfigOverrides o;
             o.data_backend = std::move(data);
             o.metadata_store = std::move(meta);
             o.artifact_store = std::move(artifacts);
             o.vector_search = std::move(vectors);
             py::gil_scoped_release nogil;
             auto db = build_datalayer(load_config(o));
             return share(std::move(db));
           }),
           "data_backend"_a = py::none(), "metadata"_a = py::none(),
           "artifact_store"_a = py::none(), "vector_database"_a = py::none())
      .def(
          "execute", [](DB& db, const Find& q) { return new PyCursor(run<Find, Cursor>(db, q)); },
          "query"_a, py::keep_alive<0, 1>())
      .def(
          "execute", [](DB& db, const Like& q) { return new PyCursor(run<Like, Cursor>(db, q)); },
          "query"_a, py::keep_alive<0, 1>())
      .def(
          "execute",
          [](DB& db, const FindOne& q) -> py::object {
            auto d = run<FindOne, std::optional<Document>>(db, q);
            return d ? to_python(*d) : py::none();
          },
          "query"_a)
      .def(
          "execute", [](DB& db, const Count& q) { return run<Count, std::int64_t>(db, q); },
          "query"_a)
      .def(
          "execute",
          [](DB& db, const InsertMany& q) { return run<InsertMany, InsertResult>(db, q); },
          "query"_a)
      .def(
          "execute",
          [](DB& db, const UpdateMany& q) { return run<UpdateMany, UpdateResult>(db, q); },
          "query"_a)
      .def(
          "execute",
          [](DB& db, const ReplaceOne& q) { return run<ReplaceOne, UpdateResult>(db, q); },
          "query"_a)
      .def(
          "execute",
          [](DB& db, const DeleteMany& q) { return run<DeleteMany, DeleteResult>(db, q); },
          "query"_a)
      .def(
          "add",
          [](DB& db, const Model& c, const py::object& progress) {
            ProgressFn p = progress_fn(progress, "model " + c.identifier());
            py::gil_scoped_release nogil;
            return db.add(c, p);
          },
          "component"_a, "progress"_a = py::none())
      .def(
          "add",
          [](DB& db, const Listener& c, const py::object& progress) {
            ProgressFn p = progress_fn(progress, "listener " + c.identifier());
            py::gil_scoped_release nogil;
            return db.add(c, p);
          },
          "component"_a, "progress"_a = py::none())
      .def(
          "add",
          [](DB& db, const VectorIndex& c) {
            py::gil_scoped_release nogil;
            return db.add(c);
          },
          "component"_a)
      .def(
          "add",
          [](DB& db, const Encoder& c) {
            py::gil_scoped_release nogil;
            return db.add(c);
          },
          "component"_a)
      .def(
          "add",
          [](DB& db, const Dataset& c) {
            py::gil_scoped_release nogil;
            return db.add(c);
          },
          "component"_a)
      .def(
          "show",
          [](DB& db, std::optional<std::string> type_id, std::optional<std::string> identifier,
             std::optional<std::int64_t> version) -> py::object {
            if (!type_id) {
              if (identifier || version) {
                throw Error(ErrorCode::invalid_argument,
                            "show: give type_id with identifier or version");
              }
              py::gil_scoped_release nogil;
              auto r = db.show();
              py::gil_scoped_acquire gil;
              return py::cast(r);
            }
            if (!identifier) {
              if (version)
                throw Error(ErrorCode::invalid_argument, "show: version needs identifier");
              std::vector<std::string> r;
              {
                py::gil_scoped_release nogil;
                r = db.show(*type_id);
              }
              return py::cast(r);
            }
            if (!version) {
              std::vector<std::int64_t> r;
              {
                py::gil_scoped_release nogil;
                r = db.show(*type_id, *identifier);
              }
              return py::cast(r);
            }
            ComponentRecord r;
            {
              py::gil_scoped_release nogil;
              r = db.show(*type_id, *identifier, version);
            }
            return record_dict(r);
          },
          "type_id"_a = py::none(), "identifier"_a = py::none(), "version"_a = py::none(),
          "show() type ids; show(type_id) identifiers; show(type_id, identifier) versions; "
          "show(type_id, identifier, version) the record of that version, as a dict.")
      .def(
          "load",
          [](DB& db, const std::string& type_id, const std::string& identifier,
             std::optional<std::int64_t> version) -> py::object {
            if (type_id == "model") {
              Model r;
              {
                py::gil_scoped_release nogil;
                r = db.load_model(identifier, version);
              }
              return py::cast(r);
            }
            if (type_id == "listener") {
              py::gil_scoped_release nogil;
              Listener r = db.load_listener(identifier, version);
              py::gil_scoped_acquire gil;
              return py::cast(r);
            }
            if (type_id == "vector_index") {
              py::gil_scoped_release nogil;
              VectorIndex r = db.load_vector_index(identifier, version);
              py::gil_scoped_acquire gil;
              return py::cast(r);
            }
            if (type_id == "dataset") {
              std::vector<Document> docs;
              {
                py::gil_scoped_release nogil;
                docs = db.load_dataset(identifier, version);
              }
              py::list out;
              for (const auto& d : docs) out.append(to_python(d));
              return out;
            }
            throw Error(ErrorCode::invalid_argument,
                        "load: type_id '" + type_id +
                            "' cannot be loaded; it is one of model, listener, vector_index, "
                            "dataset");
          },
          "type_id"_a, "identifier"_a, "version"_a = py::none())
      .def(
          "remove",
          [](DB& db, const std::string& type_id, const std::string& identifier,
             std::optional<std::int64_t> version, bool force) {
            py::gil_scoped_release nogil;
            db.remove(type_id, identifier, version, force);
          },
          "type_id"_a, "identifier"_a, "version"_a = py::none(), py::kw_only(), "force"_a = false)
      .def("jobs",
           [](DB& db) {
             std::vector<JobRecord> jobs;
             {
               py::gil_scoped_release nogil;
               jobs = db.jobs();
             }
             py::list out;
             for (const auto& j : jobs) out.append(job_dict(j));
             return out;
           })
      .def("persist_vector_indexes", &DB::persist_vector_indexes,
           py::call_guard<py::gil_scoped_release>())
      .def("create_index", &DB::create_index, "collection"_a, "path"_a,
           py::call_guard<py::gil_scoped_release>())
      .def("collections", &DB::collections, py::call_guard<py::gil_scoped_release>())
      .def("drop_collection", &DB::drop_collection, "collection"_a,
           py::call_guard<py::gil_scoped_release>());

  m.def(
      "superduper",
      [](std::optional<std::string> uri) {
        py::gil_scoped_release nogil;
        auto db = superduper(uri ? *uri : std::string_view());
        return share(std::move(db));
      },
      "uri"_a = py::none(),
      "Opens the database at `uri` (configuration for the rest); no uri: the embedded default in "
      "the current folder.");
  m.def(
      "build_datalayer",
      [](std::optional<std::string> data_backend, std::optional<std::string> metadata_store,
         std::optional<std::string> artifact_store, std::optional<std::string> vector_search,
         std::optional<std::string> compute, std::optional<std::string> config_file) {
        ConfigOverrides o;
        o.data_backend = std::move(data_backend);
        o.metadata_store = std::move(metadata_store);
        o.artifact_store = std::move(artifact_store);
        o.vector_search = std::move(vector_search);
        o.compute = std::move(compute);
        o.config_file = std::move(config_file);
        py::gil_scoped_release nogil;
        auto db = build_datalayer(load_config(o));
        return share(std::move(db));
      },
      py::kw_only(), "data_backend"_a = py::none(), "metadata_store"_a = py::none(),
      "artifact_store"_a = py::none(), "vector_search"_a = py::none(), "compute"_a = py::none(),
      "config_file"_a = py::none(),
      "Builds a DB from configuration (sddb.toml, SDDB_* variables) and these overrides.");
  m.def("new_id", &new_id, "A fresh document id: 24 lowercase hex digits.");
  m.def("model_kinds", &model_kind_names, "The model kinds this process can load.");
}

}  // namespace
}  // namespace sddb::python

PYBIND11_MODULE(_sddb, m) {
  m.doc() = "sddb's C++ core; use the package `sddb`, which re-exports it.";
  sddb::python::bind(m);
}
