// Document conversion (convert.h). Written against the CPython API directly: this is the hot
// path of every insert and every cursor, and pybind11's generic casters cost several times more.

#include "convert.h"

#include <pybind11/numpy.h>

#include <cmath>
#include <cstdint>

#include "sddb/error.h"

namespace sddb::python {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const char* data, std::size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 2 < n; i += 3) {
    const std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < n) {
    std::uint32_t v = p[i] << 16;
    if (i + 1 < n) v |= p[i + 1] << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Decodes strict base64; false for anything else (the value then stays a plain dict).
bool base64_decode(const std::string& in, std::string& out) {
  if (in.size() % 4 != 0) return false;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[j] = val(c);
        if (v[j] < 0) return false;
      }
    }
    const std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return true;
}

[[noreturn]] void bad(const std::string& what, const std::string& path, const std::string& why) {
  throw Error(ErrorCode::invalid_argument,
              what + (path.empty() ? std::string() : ", at '" + path + "'") + ": " + why);
}

std::string type_name(py::handle obj) { return Py_TYPE(obj.ptr())->tp_name; }

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

Value bytes_value(const char* data, std::size_t n) {
  Object content;
  content.emplace_back("bytes", Value(base64_encode(data, n)));
  content.emplace_back("encoder", Value("bytes"));
  Object o;
  o.emplace_back("_content", Value(std::move(content)));
  return Value(std::move(o));
}

Value convert(PyObject* obj, const std::string& what, const std::string& path, int depth) {
  if (depth > Value::kMaxDepth) {
    bad(what, path, "nested deeper than " + std::to_string(Value::kMaxDepth) + " levels");
  }
  if (obj == Py_None) return Value();
  if (PyBool_Check(obj)) return Value(obj == Py_True);
  if (PyLong_Check(obj)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow != 0) bad(what, path, "the integer does not fit in 64 bits");
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    return Value(v);
  }
  if (PyFloat_Check(obj)) {
    const double d = PyFloat_AS_DOUBLE(obj);
    if (!std::isfinite(d)) bad(what, path, "NaN and infinities cannot be stored");
    return Value(d);
  }
  if (PyUnicode_Check(obj)) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(obj, &n);
    if (s == nullptr) throw py::error_already_set();
    return Value(std::string(s, static_cast<std::size_t>(n)));
  }
  if (PyDict_Check(obj)) {
    Object o;
    o.reserve(static_cast<std::size_t>(PyDict_Size(obj)));
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t pos = 0;
    while (PyDict_Next(obj, &pos, &key, &value)) {
      if (!PyUnicode_Check(key)) {
        bad(what, path, "a dict key of type '" + type_name(key) + "'; keys must be str");
      }
      Py_ssize_t n = 0;
      const char* s = PyUnicode_AsUTF8AndSize(key, &n);
      if (s == nullptr) throw py::error_already_set();
      std::string k(s, static_cast<std::size_t>(n));
      Value v = convert(value, what, child(path, k), depth + 1);
      o.emplace_back(std::move(k), std::move(v));
    }
    return Value(std::move(o));
  }
  if (PyList_Check(obj) || PyTuple_Check(obj)) {
    const bool list = PyList_Check(obj);
    const Py_ssize_t n = list ? PyList_GET_SIZE(obj) : PyTuple_GET_SIZE(obj);
    Array a;
    a.reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* item = list ? PyList_GET_ITEM(obj, i) : PyTuple_GET_ITEM(obj, i);
      a.push_back(convert(item, what, child(path, std::to_string(i)), depth + 1));
    }
    return Value(std::move(a));
  }
  if (PyBytes_Check(obj)) {
    return bytes_value(PyBytes_AS_STRING(obj), static_cast<std::size_t>(PyBytes_GET_SIZE(obj)));
  }
  if (PyByteArray_Check(obj)) {
    return bytes_value(PyByteArray_AS_STRING(obj),
                       static_cast<std::size_t>(PyByteArray_GET_SIZE(obj)));
  }
  py::handle h(obj);
  if (PyMemoryView_Check(obj)) {
    py::bytes b = py::reinterpret_steal<py::bytes>(PyObject_Bytes(obj));
    if (!b) throw py::error_already_set();
    return convert(b.ptr(), what, path, depth);
  }
  // numpy arrays and scalars (np.float32(1.5), np.int64(3), np.bool_(True)) as plain values.
  if (py::isinstance<py::array>(h)) {
    py::object plain = h.attr("tolist")();
    return convert(plain.ptr(), what, path, depth);
  }
  if (py::hasattr(h, "dtype") && py::hasattr(h, "item")) {
    py::object plain = h.attr("item")();
    if (plain.ptr() != obj) return convert(plain.ptr(), what, path, depth);
  }
  bad(what, path,
      "a value of type '" + type_name(h) +
          "' cannot be stored in a document (use dict, list, str, int, float, bool, None or "
          "bytes)");
}

// The key of member `index` of an object as a str. The documents of a result mostly have the
// same keys in the same places, so the last key seen at each of the first kKeySlots places is
// kept (with its hash computed once) and reused when the next document has it there too. Runs
// with the GIL held, which guards the cache; its strs are never freed (a few dozen, for the
// process's life).
py::object key_object(std::size_t index, const std::string& k) {
  constexpr std::size_t kKeySlots = 32;
  struct Slot {
    std::string text;
    PyObject* str = nullptr;
  };
  static Slot slots[kKeySlots];
  if (index < kKeySlots && slots[index].str != nullptr && slots[index].text == k) {
    return py::reinterpret_borrow<py::object>(slots[index].str);
  }
  PyObject* str = PyUnicode_DecodeUTF8(k.data(), static_cast<Py_ssize_t>(k.size()), "replace");
  if (str == nullptr) throw py::error_already_set();
  if (index < kKeySlots && k.size() <= 64) {
    if (PyObject_Hash(str) == -1) PyErr_Clear();
    Py_XDECREF(slots[index].str);
    Py_INCREF(str);
    slots[index].str = str;
    slots[index].text = k;
  }
  return py::reinterpret_steal<py::object>(str);
}

}  // namespace

Value to_value(py::handle obj, const std::string& what) { return convert(obj.ptr(), what, "", 1); }

std::vector<Value> to_documents(py::handle docs, const std::string& what) {
  std::vector<Value> out;
  if (PyDict_Check(docs.ptr())) {
    throw Error(ErrorCode::invalid_argument, what + ": expected a list of dicts, got one dict");
  }
  if (PyList_Check(docs.ptr())) out.reserve(static_cast<std::size_t>(PyList_GET_SIZE(docs.ptr())));
  py::iterator it;
  try {
    it = py::iter(docs);
  } catch (py::error_already_set&) {
    throw Error(ErrorCode::invalid_argument,
                what + ": expected a list of dicts, got '" + type_name(docs) + "'");
  }
  for (py::handle d : it) {
    const std::string name = what + ": document " + std::to_string(out.size());
    if (!PyDict_Check(d.ptr())) {
      throw Error(ErrorCode::invalid_argument, name + " is a '" + type_name(d) + "', not a dict");
    }
    out.push_back(convert(d.ptr(), name, "", 1));
  }
  return out;
}

py::object to_python(const Value& v) {
  switch (v.type()) {
    case Value::Type::null:
      return py::none();
    case Value::Type::boolean:
      return py::bool_(v.as_bool());
    case Value::Type::integer: {
      PyObject* o = PyLong_FromLongLong(v.as_int());
      if (o == nullptr) throw py::error_already_set();
      return py::reinterpret_steal<py::object>(o);
    }
    case Value::Type::real: {
      PyObject* o = PyFloat_FromDouble(v.as_double());
      if (o == nullptr) throw py::error_already_set();
      return py::reinterpret_steal<py::object>(o);
    }
    case Value::Type::string: {
      const std::string& s = v.as_string();
      PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
      if (o == nullptr) throw py::error_already_set();
      return py::reinterpret_steal<py::object>(o);
    }
    case Value::Type::array: {
      const Array& a = v.as_array();
      PyObject* list = PyList_New(static_cast<Py_ssize_t>(a.size()));
      if (list == nullptr) throw py::error_already_set();
      auto out = py::reinterpret_steal<py::object>(list);
      for (std::size_t i = 0; i < a.size(); ++i) {
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), to_python(a[i]).release().ptr());
      }
      return out;
    }
    case Value::Type::object: {
      const Object& o = v.as_object();
      // {"_content": {"bytes": ..., "encoder": "bytes"}} is how bytes are stored.
      if (o.size() == 1 && o[0].first == "_content" && o[0].second.is_object()) {
        const Value* b = o[0].second.find("bytes");
        const Value* e = o[0].second.find("encoder");
        std::string raw;
        if (o[0].second.size() == 2 && b && b->is_string() && e && e->is_string() &&
            e->as_string() == "bytes" && base64_decode(b->as_string(), raw)) {
          return py::bytes(raw);
        }
      }
      PyObject* dict = PyDict_New();
      if (dict == nullptr) throw py::error_already_set();
      auto out = py::reinterpret_steal<py::object>(dict);
      for (std::size_t i = 0; i < o.size(); ++i) {
        py::object key = key_object(i, o[i].first);
        py::object item = to_python(o[i].second);
        if (PyDict_SetItem(dict, key.ptr(), item.ptr()) != 0) throw py::error_already_set();
      }
      return out;
    }
  }
  throw Error(ErrorCode::internal, "to_python: a value of unknown type");
}

}  // namespace sddb::python
