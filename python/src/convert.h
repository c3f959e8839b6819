// Documents between Python and sddb: plain dicts, lists, str, int, float, bool, None and bytes
// on the Python side, sddb::Value on the C++ side. Every function here needs the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "sddb/value.h"

namespace sddb::python {

namespace py = pybind11;

// A Python value as an sddb::Value. bytes (and bytearray, memoryview) become
// {"_content": {"bytes": <base64>, "encoder": "bytes"}} (DESIGN.md §3); numpy arrays and
// scalars become lists and numbers. Anything else, a non-str dict key, a float that is NaN or
// infinite, or an int outside int64 is Error(invalid_argument) naming `what` and the path.
Value to_value(py::handle obj, const std::string& what);
// A list of dicts (any iterable of them), each checked as `what` "document N".
std::vector<Value> to_documents(py::handle docs, const std::string& what);

// An sddb::Value as plain Python objects; the "_content" form of bytes comes back as bytes.
py::object to_python(const Value& v);

}  // namespace sddb::python
