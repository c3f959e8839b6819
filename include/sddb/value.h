#pragma once
// sddb::Value: a JSON value as documents, filters and records are made of.
//
// Unlike most JSON libraries it keeps what a database needs to keep:
//  - integers and doubles stay distinct (1 and 1.0 round-trip as written),
//  - objects keep their members in insertion order (MongoDB compares embedded documents in
//    order), and lookups are by linear scan, which is fastest for document-sized objects,
//  - parse errors name the line and column, and integers outside int64 are rejected rather than
//    rounded.
// A Value is a regular value type: copyable, movable, not thread-safe for concurrent mutation.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sddb {

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

class Value {
 public:
  enum class Type : std::uint8_t { null, boolean, integer, real, string, array, object };

  // The deepest nesting of arrays and objects a value may have (the value itself is level 1).
  // parse() refuses deeper text and writes refuse deeper documents, so whatever is
  // stored can be read back.
  static constexpr int kMaxDepth = 256;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned i) : v_(static_cast<std::int64_t>(i)) {}
  // Unsigned 64-bit integers (std::size_t among them, so Value(v.size()) works) are stored as
  // int64; a value above INT64_MAX throws Error(invalid_argument) rather than wrapping.
  Value(unsigned long i);
  Value(unsigned long long i);
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}
  // {{"a", 1}, {"b", "x"}} builds an object, in the order given.
  Value(std::initializer_list<Member> members) : v_(Object(members)) {}

  static Value array(std::initializer_list<Value> items = {}) { return Value(Array(items)); }
  static Value object() { return Value(Object{}); }

  // Parses one JSON text. Throws Error(invalid_argument) naming line and column (and `what`,
  // e.g. "line 12 of docs.jsonl", when given). Trailing non-space text is an error.
  static Value parse(std::string_view text, std::string_view what = {});

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::null; }
  bool is_bool() const { return type() == Type::boolean; }
  bool is_int() const { return type() == Type::integer; }
  bool is_double() const { return type() == Type::real; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type() == Type::string; }
  bool is_array() const { return type() == Type::array; }
  bool is_object() const { return type() == Type::object; }

  // Typed access; the wrong type throws Error(invalid_argument) naming both types.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;  // integers convert
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object access. find() returns nullptr when absent or when this is not an object.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Inserts (at the end) or overwrites; this must be an object (null becomes an empty object).
  Value& set(std::string_view key, Value value);
  // Returns the member, creating a null member when absent (null becomes an empty object).
  Value& operator[](std::string_view key);
  bool erase(std::string_view key);

  // Array append (null becomes an empty array).
  void push_back(Value v);
  // Number of items of an array or members of an object; 0 otherwise.
  std::size_t size() const;

  // Compact JSON text. Doubles use the shortest form that round-trips and always carry a '.',
  // 'e' or are written as e.g. 1.0, so they read back as doubles. NaN and infinities have no
  // JSON form and throw Error(invalid_argument).
  std::string to_json() const;
  void append_json(std::string& out) const;

  // Exact structural equality: same types (1 != 1.0), same member order.
  friend bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }

  // Name of a type for messages: "null", "bool", "int", "double", "string", "array", "object".
  static std::string_view type_name(Type t);

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, Object> v_;
};

using Document = Value;

// `Value::parse` shorthand: sddb::json(R"({"a": 1})").
inline Value json(std::string_view text) { return Value::parse(text); }

}  // namespace sddb
