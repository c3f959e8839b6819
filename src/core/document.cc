#include "core/document.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <vector>

#include "sddb/data_backend.h"
#include "sddb/db.h"
#include "sddb/error.h"

namespace sddb {

void validate_collection_name(const std::string& name) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument, "invalid collection name '" + name + "': " + why);
  };
  if (name.empty()) bad("it is empty");
  if (name.size() > 64) bad("longer than 64 characters");
  if (!std::isalpha(static_cast<unsigned char>(name[0]))) {
    bad("it must start with a letter (names starting with '_' are reserved for sddb)");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      bad("only letters, digits, '_' and '-' are allowed");
    }
  }
}

void validate_outputs_name(const std::string& table) {
  static constexpr std::string_view kPrefix = "_outputs/";
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument, "invalid outputs table '" + table + "': " + why);
  };
  if (table.rfind(kPrefix, 0) != 0) bad("it must start with '_outputs/'");
  const std::size_t n = table.size() - kPrefix.size();
  if (n == 0 || n > 128) bad("the listener identifier must have 1 to 128 characters");
  for (char c : std::string_view(table).substr(kPrefix.size())) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' &&
        c != '/') {
      bad("only letters, digits, '_', '-', '.' and '/' are allowed");
    }
  }
}

namespace {

// The per-process part of ids: 40 random bits and a counter that starts at a random value.
std::atomic<std::uint64_t> id_process_random{0};
std::atomic<std::uint32_t> id_counter{0};

// Draws the per-process part. Also runs in a forked child (pthread_atfork), before fork()
// returns there: a child that kept its parent's part would give the ids its parent gives next
// (two forked writers each made the same job id). Only a system call, no allocation, so it is
// safe in the child of a threaded process.
void draw_id_process_part() noexcept {
  std::uint64_t bits[2] = {0, 0};
  ssize_t got = -1;
  do {
    got = getrandom(bits, sizeof bits, 0);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof bits)) {
    // No getrandom: what the process had, changed by its pid, so a child still differs.
    bits[0] =
        id_process_random.load() ^ (static_cast<std::uint64_t>(getpid()) * 0x9E3779B97F4A7C15ull);
    bits[1] = bits[0] >> 40;
  }
  id_process_random.store(bits[0] & 0xFFFFFFFFFFull);
  id_counter.store(static_cast<std::uint32_t>(bits[1]));
}

}  // namespace

std::string new_id() {
  // 4 bytes of seconds, 5 random bytes drawn once per process (again in a forked child), 3 bytes
  // of a counter: ids from one process never repeat, and ids from different processes collide
  // only if the 40 random bits do.
  static const bool drawn = [] {
    draw_id_process_part();
    pthread_atfork(nullptr, nullptr, draw_id_process_part);
    return true;
  }();
  (void)drawn;
  const std::uint64_t process_random = id_process_random.load(std::memory_order_relaxed);
  const auto secs =
      static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const std::uint32_t n = id_counter.fetch_add(1, std::memory_order_relaxed) & 0xFFFFFF;
  static const char kHex[] = "0123456789abcdef";
  std::string id(24, '0');
  auto put = [&](int pos, std::uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      id[static_cast<std::size_t>(pos + i)] = kHex[v & 15];
      v >>= 4;
    }
  };
  put(0, secs, 8);
  put(8, process_random, 10);
  put(18, n, 6);
  return id;
}

namespace detail {

namespace {

// The walk keeps the path as a stack of steps and spells it out only for an error message, so
// checking a valid document allocates nothing.
struct Step {
  const std::string* key = nullptr;  // a member name, or
  std::size_t index = 0;             // an array position when key is null
};

std::string spell(const std::vector<Step>& steps) {
  std::string path;
  for (const Step& s : steps) {
    if (!path.empty()) path += '.';
    path += s.key ? *s.key : std::to_string(s.index);
  }
  return path;
}

// `steps.size() + 1` is the nesting level of `v`: the document itself is level 1.
bool is_base64(const std::string& s) {
  if (s.size() % 4 != 0) return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '=') {
      if (i + 2 < s.size()) return false;  // padding only in the last two places
      ++pad;
      continue;
    }
    if (pad > 0) return false;
    if (!std::isalnum(c) && c != '+' && c != '/') return false;
  }
  return true;
}

// Binary values travel as {"_content": {"bytes": BASE64, "encoder": NAME}} or, stored in the
// artifact store, {"_content": {"artifact": SHA256, "encoder": NAME}} (design §3). Checked here so
// that a reader can rely on the shape.
void check_content(const Value& v, std::vector<Step>& steps, std::string_view where) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument,
                std::string(where) + ": field '" + spell(steps) + "' " + why +
                    "; expected {\"bytes\": BASE64} or {\"artifact\": SHA256}, with an optional "
                    "\"encoder\" name");
  };
  if (!v.is_object()) bad("is not an object");
  const Value* bytes = v.find("bytes");
  const Value* artifact = v.find("artifact");
  if ((bytes != nullptr) == (artifact != nullptr)) bad("needs exactly one of bytes and artifact");
  if (bytes && (!bytes->is_string() || !is_base64(bytes->as_string()))) {
    bad("has bytes that are not a base64 string");
  }
  if (artifact) {
    const bool hex =
        artifact->is_string() && artifact->as_string().size() == 64 &&
        artifact->as_string().find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) bad("has an artifact id that is not 64 lowercase hex digits");
  }
  if (const Value* encoder = v.find("encoder"); encoder && !encoder->is_string()) {
    bad("has an encoder that is not a string");
  }
  for (const Member& m : v.as_object()) {
    if (m.first != "bytes" && m.first != "artifact" && m.first != "encoder") {
      bad("has an unknown member '" + m.first + "'");
    }
  }
}

void check_value(const Value& v, std::vector<Step>& steps, std::string_view where) {
  if (v.is_double() && !std::isfinite(v.as_double())) {
    throw Error(ErrorCode::invalid_argument,
                std::string(where) + ": field '" + spell(steps) +
                    "' holds NaN or infinity, which JSON cannot store");
  }
  if ((v.is_array() || v.is_object()) &&
      steps.size() >= static_cast<std::size_t>(Value::kMaxDepth)) {
    // Value::parse refuses such nesting, so a stored document this deep could not be read back.
    std::string path = spell(steps);
    if (path.size() > 80) path = path.substr(0, 77) + "...";
    throw Error(ErrorCode::invalid_argument, std::string(where) + ": field '" + path +
                                                 "' nests arrays and objects deeper than " +
                                                 std::to_string(Value::kMaxDepth) + " levels");
  }
  if (v.is_array()) {
    std::size_t i = 0;
    for (const Value& item : v.as_array()) {
      steps.push_back({nullptr, i++});
      check_value(item, steps, where);
      steps.pop_back();
    }
    return;
  }
  if (!v.is_object()) return;
  for (const Member& member : v.as_object()) {
    const std::string& key = member.first;
    steps.push_back({&key, 0});
    auto bad = [&](const char* why) {
      throw Error(ErrorCode::invalid_argument,
                  std::string(where) + ": field name '" + spell(steps) + "' " + why);
    };
    if (key.empty()) bad("is empty");
    if (key.find('.') != std::string::npos) bad("contains '.', which paths use as a separator");
    if (key[0] == '$') bad("starts with '$', which marks operators");
    if (key == "_content") check_content(member.second, steps, where);
    check_value(member.second, steps, where);
    steps.pop_back();
  }
}

}  // namespace

void check_document(const Value& doc, std::string_view where) {
  if (!doc.is_object()) {
    throw Error(ErrorCode::invalid_argument, std::string(where) + ": a document must be a JSON " +
                                                 "object, got " +
                                                 std::string(Value::type_name(doc.type())));
  }
  if (const Value* id = doc.find("_id")) {
    if (!id->is_string() || id->as_string().empty()) {
      throw Error(ErrorCode::invalid_argument,
                  std::string(where) + ": _id must be a non-empty string, got " + id->to_json());
    }
  }
  thread_local std::vector<Step> steps;
  steps.clear();
  check_value(doc, steps, where);
}

void check_document(const Value& doc, std::size_t index, std::string_view collection) {
  try {
    check_document(doc, "");
  } catch (const Error& e) {
    // Messages start with ": " after the empty `where`.
    throw Error(e.code(), "document " + std::to_string(index) + " of the insert into '" +
                              std::string(collection) + "'" + e.what());
  }
}

}  // namespace detail
}  // namespace sddb
