// The "python" model kind: a Python function, or any object with predict(), stored in the
// artifact store as a pickle (cloudpickle when it is installed, so lambdas and closures work)
// and reloaded, in any process that imported sddb, with pickle.loads.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "sddb/model.h"

namespace sddb::python {

namespace py = pybind11;

// Adds the kind to sddb's registry (register_model_kind); called once, at import.
void register_python_model_kind();

// Model("m", object=fn, dim=N, batch=False). dim defaults to object.dim when the object has
// one. batch=False calls fn(x) (or obj.predict(x)) once per input; batch=True calls it once with
// the list of inputs and expects one vector per input. Needs the GIL.
Model make_python_model(const std::string& identifier, py::object object, std::optional<int> dim,
                        bool batch);

}  // namespace sddb::python
