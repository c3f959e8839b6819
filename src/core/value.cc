#include "sddb/value.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "sddb/error.h"

namespace sddb {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::already_exists:
      return "already_exists";
    case ErrorCode::failed_precondition:
      return "failed_precondition";
    case ErrorCode::conflict:
      return "conflict";
    case ErrorCode::unavailable:
      return "unavailable";
    case ErrorCode::corruption:
      return "corruption";
    case ErrorCode::io_error:
      return "io_error";
    case ErrorCode::not_supported:
      return "not_supported";
    case ErrorCode::internal:
      return "internal";
  }
  return "internal";
}

namespace {

std::int64_t checked_int64(unsigned long long i) {
  if (i > static_cast<unsigned long long>(INT64_MAX)) {
    throw Error(ErrorCode::invalid_argument,
                "integer " + std::to_string(i) + " is above the int64 range a Value holds");
  }
  return static_cast<std::int64_t>(i);
}

}  // namespace

Value::Value(unsigned long i) : v_(checked_int64(i)) {}
Value::Value(unsigned long long i) : v_(checked_int64(i)) {}

std::string_view Value::type_name(Type t) {
  switch (t) {
    case Type::null:
      return "null";
    case Type::boolean:
      return "bool";
    case Type::integer:
      return "int";
    case Type::real:
      return "double";
    case Type::string:
      return "string";
    case Type::array:
      return "array";
    case Type::object:
      return "object";
  }
  return "?";
}

namespace {

[[noreturn]] void wrong_type(Value::Type have, std::string_view want) {
  throw Error(ErrorCode::invalid_argument,
              "expected " + std::string(want) + ", got " + std::string(Value::type_name(have)));
}

}  // namespace

bool Value::as_bool() const {
  if (!is_bool()) wrong_type(type(), "bool");
  return std::get<bool>(v_);
}
std::int64_t Value::as_int() const {
  if (!is_int()) wrong_type(type(), "int");
  return std::get<std::int64_t>(v_);
}
double Value::as_double() const {
  if (is_int()) return static_cast<double>(std::get<std::int64_t>(v_));
  if (!is_double()) wrong_type(type(), "number");
  return std::get<double>(v_);
}
const std::string& Value::as_string() const {
  if (!is_string()) wrong_type(type(), "string");
  return std::get<std::string>(v_);
}
const Array& Value::as_array() const {
  if (!is_array()) wrong_type(type(), "array");
  return std::get<Array>(v_);
}
Array& Value::as_array() {
  if (!is_array()) wrong_type(type(), "array");
  return std::get<Array>(v_);
}
const Object& Value::as_object() const {
  if (!is_object()) wrong_type(type(), "object");
  return std::get<Object>(v_);
}
Object& Value::as_object() {
  if (!is_object()) wrong_type(type(), "object");
  return std::get<Object>(v_);
}

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_)) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}

Value& Value::set(std::string_view key, Value value) {
  Value& slot = (*this)[key];
  slot = std::move(value);
  return slot;
}

Value& Value::operator[](std::string_view key) {
  if (is_null()) v_ = Object{};
  Object& obj = as_object();
  for (auto& [k, v] : obj) {
    if (k == key) return v;
  }
  obj.emplace_back(std::string(key), Value());
  return obj.back().second;
}

bool Value::erase(std::string_view key) {
  if (!is_object()) return false;
  Object& obj = std::get<Object>(v_);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it->first == key) {
      obj.erase(it);
      return true;
    }
  }
  return false;
}

void Value::push_back(Value v) {
  if (is_null()) v_ = Array{};
  as_array().push_back(std::move(v));
}

std::size_t Value::size() const {
  if (is_array()) return std::get<Array>(v_).size();
  if (is_object()) return std::get<Object>(v_).size();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Serialization

namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighBits = 0x8080808080808080ull;

// For eight bytes of a string, the high bit of each byte that is '"', '\\' or below 0x20 (bytes
// >= 0x80 are not flagged). Bits above the first flagged byte may be false positives (borrows),
// so only the lowest set bit is meaningful.
inline std::uint64_t special_bytes(std::uint64_t w) {
  const std::uint64_t quote = w ^ (kOnes * '"');
  const std::uint64_t backslash = w ^ (kOnes * '\\');
  return (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) |
          ((w - kOnes * 0x20) & ~w)) &
         kHighBits;
}

// Index of the first byte of s[from..] that JSON requires to be escaped ('"', '\\' or a control
// character), or s.size(). Tests eight bytes at a time: documents are mostly long runs of plain
// text, and this scan is most of the cost of serializing them.
std::size_t next_escape(std::string_view s, std::size_t from) {
  std::size_t i = from;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const std::uint64_t hits = special_bytes(w);
    if (hits) return i + static_cast<std::size_t>(__builtin_ctzll(hits) / 8);
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return i;
}

void append_escaped(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = next_escape(s, 0); i < s.size(); i = next_escape(s, run)) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    throw Error(ErrorCode::invalid_argument,
                "NaN and infinity cannot be stored: JSON has no form for them");
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, static_cast<std::size_t>(res.ptr - buf));
  out += text;
  if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

}  // namespace

void Value::append_json(std::string& out) const {
  switch (type()) {
    case Type::null:
      out += "null";
      return;
    case Type::boolean:
      out += std::get<bool>(v_) ? "true" : "false";
      return;
    case Type::integer: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof buf, std::get<std::int64_t>(v_));
      out.append(buf, res.ptr);
      return;
    }
    case Type::real:
      append_double(out, std::get<double>(v_));
      return;
    case Type::string:
      append_escaped(out, std::get<std::string>(v_));
      return;
    case Type::array: {
      out.push_back('[');
      bool first = true;
      for (const Value& v : std::get<Array>(v_)) {
        if (!first) out.push_back(',');
        first = false;
        v.append_json(out);
      }
      out.push_back(']');
      return;
    }
    case Type::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : std::get<Object>(v_)) {
        if (!first) out.push_back(',');
        first = false;
        append_escaped(out, k);
        out.push_back(':');
        v.append_json(out);
      }
      out.push_back('}');
      return;
    }
  }
}

std::string Value::to_json() const {
  std::string out;
  append_json(out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing: a recursive-descent parser over the raw bytes, strict RFC 8259, with a nesting limit
// so hostile input cannot overflow the stack.

namespace {

constexpr int kMaxDepth = Value::kMaxDepth;

class Parser {
 public:
  Parser(std::string_view text, std::string_view what)
      : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()), what_(what) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (p_ != end_) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    int line = 1;
    int col = 1;
    for (const char* q = begin_; q < p_ && q < end_; ++q) {
      if (*q == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string msg = "invalid JSON";
    if (!what_.empty()) msg += " in " + std::string(what_);
    msg += " at line " + std::to_string(line) + " column " + std::to_string(col) + ": " + why;
    throw Error(ErrorCode::invalid_argument, msg);
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool consume_literal(std::string_view lit) {
    if (static_cast<std::size_t>(end_ - p_) >= lit.size() &&
        std::memcmp(p_, lit.data(), lit.size()) == 0) {
      p_ += lit.size();
      return true;
    }
    return false;
  }

  Value parse_value(int depth) {
    if (p_ == end_) fail("unexpected end of input, expected a value");
    switch (*p_) {
      case '{':
        return parse_object(depth + 1);
      case '[':
        return parse_array(depth + 1);
      case '"':
        return Value(parse_string());
      case 't':
        if (consume_literal("true")) return Value(true);
        break;
      case 'f':
        if (consume_literal("false")) return Value(false);
        break;
      case 'n':
        if (consume_literal("null")) return Value(nullptr);
        break;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return parse_number();
    }
    fail(std::string("unexpected character '") + *p_ + "', expected a value");
  }

  Value parse_object(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    ++p_;  // '{'
    Object obj;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return Value(std::move(obj));
    }
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"') fail("expected a member name in double quotes");
      std::string key = parse_string();
      for (const auto& m : obj) {
        if (m.first == key) fail("duplicate member name \"" + key + "\"");
      }
      skip_ws();
      if (p_ == end_ || *p_ != ':') fail("expected ':' after a member name");
      ++p_;
      skip_ws();
      Value v = parse_value(depth);
      obj.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return Value(std::move(obj));
      }
      fail("expected ',' or '}' in an object");
    }
  }

  Value parse_array(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    ++p_;  // '['
    Array arr;
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return Value(std::move(arr));
    }
    for (;;) {
      skip_ws();
      arr.push_back(parse_value(depth));
      skip_ws();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == ']') {
        ++p_;
        return Value(std::move(arr));
      }
      fail("expected ',' or ']' in an array");
    }
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::uint32_t parse_hex4() {
    if (end_ - p_ < 4) fail("truncated \\u escape");
    std::uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      char c = *p_++;
      cp <<= 4;
      if (c >= '0' && c <= '9')
        cp |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        cp |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        cp |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        fail("bad hex digit in \\u escape");
    }
    return cp;
  }

  // Checks one UTF-8 sequence starting at p_ (a byte >= 0x80) and advances past it.
  void skip_utf8() {
    const auto* u = reinterpret_cast<const unsigned char*>(p_);
    const auto* e = reinterpret_cast<const unsigned char*>(end_);
    int n;
    std::uint32_t cp;
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
      n = 1;
      cp = u[0] & 0x1F;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
      n = 2;
      cp = u[0] & 0x0F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
      n = 3;
      cp = u[0] & 0x07;
    } else {
      fail("invalid UTF-8 in a string");
    }
    if (e - u <= n) fail("invalid UTF-8 in a string");
    for (int i = 1; i <= n; ++i) {
      if ((u[i] & 0xC0) != 0x80) fail("invalid UTF-8 in a string");
      cp = (cp << 6) | (u[i] & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      fail("invalid UTF-8 in a string");
    }
    p_ += n + 1;
  }

  std::string parse_string() {
    ++p_;  // opening quote
    std::string out;
    const char* run = p_;
    for (;;) {
      // Skip plain ASCII eight bytes at a time; stop at a quote, a backslash, a control
      // character or a byte of a multi-byte sequence, which the code below handles one by one.
      while (end_ - p_ >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p_, 8);
        const std::uint64_t hits = special_bytes(w) | (w & kHighBits);
        if (hits) {
          p_ += __builtin_ctzll(hits) / 8;
          break;
        }
        p_ += 8;
      }
      if (p_ == end_) fail("unterminated string");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out.append(run, p_);
        ++p_;
        return out;
      }
      if (c == '\\') {
        out.append(run, p_);
        ++p_;
        if (p_ == end_) fail("unterminated escape");
        char e = *p_++;
        switch (e) {
          case '"':
            out.push_back('"');
            break;
          case '\\':
            out.push_back('\\');
            break;
          case '/':
            out.push_back('/');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            std::uint32_t cp = parse_hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') fail("unpaired surrogate");
              p_ += 2;
              std::uint32_t lo = parse_hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail("unpaired surrogate");
            }
            append_utf8(out, cp);
            break;
          }
          default:
            --p_;
            fail("unknown escape");
        }
        run = p_;
        continue;
      }
      if (c < 0x20) fail("control character in a string (escape it)");
      if (c >= 0x80) {
        skip_utf8();
        continue;
      }
      ++p_;
    }
  }

  Value parse_number() {
    const char* start = p_;
    bool is_double = false;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("expected a digit");
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && *p_ >= '0' && *p_ <= '9') fail("leading zero in a number");
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      is_double = true;
      ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("expected a digit after '.'");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      is_double = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("expected a digit in the exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (!is_double) {
      std::int64_t i = 0;
      auto res = std::from_chars(start, p_, i);
      if (res.ec == std::errc::result_out_of_range) {
        const char* at = p_;
        p_ = start;
        (void)at;
        fail("integer " + std::string(start, at) +
             " is outside the 64-bit range; write it with a decimal point to store a double");
      }
      return Value(i);
    }
    double d = 0;
    auto res = std::from_chars(start, p_, d);
    if (res.ec == std::errc::result_out_of_range) {
      p_ = start;
      fail("number is outside the range of a double");
    }
    return Value(d);
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  std::string_view what_;
};

}  // namespace

Value Value::parse(std::string_view text, std::string_view what) {
  return Parser(text, what).parse_document();
}

}  // namespace sddb
