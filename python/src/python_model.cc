// The "python" model kind (python_model.h).
//
// Locks: the DB calls predict() holding its own mutexes and without the GIL (every binding
// releases the GIL before it calls into the DB), so the runtime takes the GIL itself, last.

#include "python_model.h"

#include <pybind11/numpy.h>

#include "convert.h"
#include "sddb/artifact_store.h"
#include "sddb/error.h"

namespace sddb::python {

namespace {

// A py::object owned by C++ code that may drop it without the GIL, or after the interpreter
// has begun to shut down (a DB closed by an atexit handler): then it is leaked, not freed.
class PyRef {
 public:
  explicit PyRef(py::object o) : obj_(std::move(o)) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() {
    if (!Py_IsInitialized() || _Py_IsFinalizing()) {
      obj_.release();
      return;
    }
    py::gil_scoped_acquire gil;
    obj_ = py::object();
  }
  const py::object& get() const { return obj_; }

 private:
  py::object obj_;
};

std::string describe(py::error_already_set& e) { return e.what(); }

class PythonRuntime : public ModelRuntime {
 public:
  PythonRuntime(std::string identifier, py::object object, std::size_t dim, bool batch,
                std::string pickled)
      : identifier_(std::move(identifier)),
        dim_(dim),
        batch_(batch),
        pickled_(std::move(pickled)),
        call_(py::hasattr(object, "predict") ? object.attr("predict") : object) {}

  std::size_t dim() const override { return dim_; }

  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) override {
    py::gil_scoped_acquire gil;
    std::vector<std::vector<float>> out;
    out.reserve(inputs.size());
    try {
      if (batch_) {
        py::list xs(inputs.size());
        for (std::size_t i = 0; i < inputs.size(); ++i) xs[i] = to_python(inputs[i]);
        py::object r = call_.get()(xs);
        auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(r);
        if (!arr || arr.ndim() != 2 || static_cast<std::size_t>(arr.shape(0)) != inputs.size()) {
          throw Error(ErrorCode::invalid_argument,
                      "model '" + identifier_ +
                          "' (batch=True) must return one vector per input (" +
                          std::to_string(inputs.size()) + " rows), got " + shape_of(r));
        }
        const auto cols = static_cast<std::size_t>(arr.shape(1));
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          const float* row = arr.data() + i * cols;
          out.emplace_back(row, row + cols);
        }
      } else {
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          py::object r = call_.get()(to_python(inputs[i]));
          auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(r);
          if (!arr || arr.ndim() > 1) {
            throw Error(ErrorCode::invalid_argument, "model '" + identifier_ +
                                                         "' must return a vector of numbers for "
                                                         "input " +
                                                         std::to_string(i) + ", got " +
                                                         shape_of(r));
          }
          out.emplace_back(arr.data(), arr.data() + arr.size());
        }
      }
    } catch (py::error_already_set& e) {
      throw Error(ErrorCode::invalid_argument,
                  "model '" + identifier_ + "' (Python) raised " + describe(e));
    }
    return out;
  }

  std::string save() const override { return pickled_; }

 private:
  static std::string shape_of(const py::object& r) {
    std::string s = "a '" + std::string(Py_TYPE(r.ptr())->tp_name) + "'";
    if (py::hasattr(r, "shape")) s += " of shape " + py::str(r.attr("shape")).cast<std::string>();
    PyErr_Clear();
    return s;
  }

  std::string identifier_;
  std::size_t dim_;
  bool batch_;
  std::string pickled_;
  PyRef call_;
};

std::unique_ptr<ModelRuntime> load_python_model(const Value& params, const std::string& bytes) {
  const Value* id = params.find("identifier");
  const Value* dim = params.find("dim");
  const Value* batch = params.find("batch");
  if (!id || !id->is_string() || !dim || !dim->is_int() || dim->as_int() <= 0) {
    throw Error(ErrorCode::corruption, "a Python model record lacks identifier or dim");
  }
  const std::string& name = id->as_string();
  if (bytes.empty()) {
    throw Error(ErrorCode::corruption, "Python model '" + name + "' has no pickled artifact");
  }
  if (!Py_IsInitialized()) {
    throw Error(ErrorCode::failed_precondition,
                "Python model '" + name + "' needs a process with the Python package sddb");
  }
  py::gil_scoped_acquire gil;
  try {
    py::object obj = py::module_::import("pickle").attr("loads")(py::bytes(bytes));
    return std::make_unique<PythonRuntime>(name, std::move(obj),
                                           static_cast<std::size_t>(dim->as_int()),
                                           batch && batch->is_bool() && batch->as_bool(), bytes);
  } catch (py::error_already_set& e) {
    throw Error(ErrorCode::failed_precondition,
                "Python model '" + name + "' cannot be unpickled in this process: " + describe(e));
  }
}

}  // namespace

void register_python_model_kind() {
  ModelKind kind;
  kind.name = "python";
  kind.load = load_python_model;
  try {
    register_model_kind(std::move(kind));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::already_exists) throw;
  }
}

Model make_python_model(const std::string& identifier, py::object object, std::optional<int> dim,
                        bool batch) {
  const std::string what = "Model '" + identifier + "'";
  if (identifier.empty()) throw Error(ErrorCode::invalid_argument, "Model: empty identifier");
  if (object.is_none()) {
    throw Error(ErrorCode::invalid_argument,
                what + ": object= must be a function or an object with a predict method");
  }
  if (!py::hasattr(object, "predict") && !PyCallable_Check(object.ptr())) {
    throw Error(ErrorCode::invalid_argument,
                what + ": object= must be a function or an object with a predict method, got a '" +
                    std::string(Py_TYPE(object.ptr())->tp_name) + "'");
  }
  if (!dim && py::hasattr(object, "dim")) {
    py::object d = object.attr("dim");
    if (PyLong_Check(d.ptr())) dim = d.cast<int>();
  }
  if (!dim) {
    throw Error(ErrorCode::invalid_argument,
                what +
                    ": give dim=N, the length of the vectors it returns (or give the object a "
                    "'dim' attribute)");
  }
  if (*dim <= 0) {
    throw Error(ErrorCode::invalid_argument,
                what + ": dim must be positive, got " + std::to_string(*dim));
  }
  std::string serializer = "pickle";
  py::object dumps;
  try {
    dumps = py::module_::import("cloudpickle").attr("dumps");
    serializer = "cloudpickle";
  } catch (py::error_already_set&) {
    dumps = py::module_::import("pickle").attr("dumps");
  }
  std::string bytes;
  try {
    bytes = dumps(object).cast<std::string>();
  } catch (py::error_already_set& e) {
    throw Error(ErrorCode::invalid_argument,
                what + ": the object cannot be pickled (" + serializer + "): " + describe(e));
  }
  Value params = Value::object();
  params.set("identifier", Value(identifier));
  params.set("dim", Value(*dim));
  params.set("batch", Value(batch));
  params.set("serializer", Value(serializer));
  // A changed function is a new version; the same one again adds nothing.
  params.set("sha256", Value(sha256_hex(bytes)));
  Model m(identifier, "python", std::move(params));
  m.set_runtime(std::make_shared<Model::Runtime>(std::make_unique<PythonRuntime>(
      identifier, std::move(object), static_cast<std::size_t>(*dim), batch, std::move(bytes))));
  return m;
}

}  // namespace sddb::python
