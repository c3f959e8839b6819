// libFuzzer target for the query language: the filter, update and projection parsers and the
// in-memory evaluator (src/query/).
//
// The input is JSON. A JSON array is read as [filter, update, projection, sort] (any prefix);
// any other value is tried in every role. Parsers may reject input only with an sddb::Error
// whose code is not `internal`; any other exception, an `internal` error or a sanitizer report is
// a finding. Parsed filters are evaluated against fixed documents and checked against identities
// that hold in MongoDB's semantics ({$and: [f]} == f, {$nor: [f]} == not f), and sort and value
// comparisons are checked to be consistent orders (std::sort relies on that).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"
#include "sddb/query.h"
#include "sddb/value.h"

namespace {

using sddb::Value;
namespace q = sddb::query;

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "filter_fuzz finding: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// Runs f; returns its result, or nothing when it rejected the input the allowed way.
template <typename F>
auto guarded(const char* what, F&& f) -> std::optional<decltype(f())> {
  try {
    return f();
  } catch (const sddb::Error& e) {
    if (e.code() == sddb::ErrorCode::internal) finding(what, e.what());
    return std::nullopt;
  } catch (const std::exception& e) {
    finding(what, e.what());
  }
}

const std::vector<Value>& documents() {
  static const std::vector<Value> docs = [] {
    std::vector<Value> d;
    for (const char* text : {
             R"({"_id": "1", "name": "sqlite3", "section": "database", "size": 1234,
                 "priority": "optional", "depends": ["libc6", "libsqlite3-0", "zlib1g"],
                 "tags": [{"k": "a", "v": 1}, {"k": "b", "v": 2.5}], "n": null})",
             R"({"_id": "2", "a": {"b": [1, [2, 3], {"c": 4}]}, "x": "Text\nline", "y": true,
                 "z": -0.5, "size": 1234.0, "depends": []})",
             R"({"_id": "3"})",
             R"({"_id": "4", "a": [{"b": 1}, {"b": [2, 3]}, {"b": null}], "arr": [], "obj": {},
                 "s": "\u00c4\u00d6", "0": {"1": "x"}, "size": -9223372036854775808})",
             R"({"_id": "5", "name": "python3", "section": "python", "size": 99,
                 "depends": [["nested"], "python3.11"], "a": [[1, 2], [3]], "y": false})",
         }) {
      d.push_back(Value::parse(text));
    }
    return d;
  }();
  return docs;
}

int sign(int x) { return (x > 0) - (x < 0); }

void check_filter(const Value& filter_doc) {
  const auto filter = guarded("parse_filter", [&] { return q::parse_filter(filter_doc); });
  if (!filter) return;
  std::vector<bool> results;
  for (const Value& doc : documents()) {
    const auto m = guarded("matches", [&] { return q::matches(*filter, doc); });
    results.push_back(m.value_or(false));
    if (!m) return;  // an evaluation error (e.g. a bad $regex found late) ends the checks
  }
  const auto and_filter = guarded("parse_filter($and)", [&] {
    return q::parse_filter(Value{{"$and", Value::array({filter_doc})}});
  });
  const auto nor_filter = guarded("parse_filter($nor)", [&] {
    return q::parse_filter(Value{{"$nor", Value::array({filter_doc})}});
  });
  for (std::size_t i = 0; i < documents().size(); ++i) {
    const Value& doc = documents()[i];
    if (and_filter) {
      const auto m = guarded("matches($and)", [&] { return q::matches(*and_filter, doc); });
      if (m && *m != results[i]) finding("{$and: [f]} differs from f", filter_doc.to_json());
    }
    if (nor_filter) {
      const auto m = guarded("matches($nor)", [&] { return q::matches(*nor_filter, doc); });
      if (m && *m == results[i])
        finding("{$nor: [f]} is not the complement of f", filter_doc.to_json());
    }
  }
}

void check_update(const Value& update_doc, const Value* filter_doc) {
  for (bool replacement_only : {false, true}) {
    const auto update =
        guarded("parse_update", [&] { return q::parse_update(update_doc, replacement_only); });
    if (!update) continue;
    for (const Value& doc : documents()) {
      const auto out = guarded("apply_update", [&] { return q::apply_update(*update, doc); });
      const Value* id = out ? out->find("_id") : nullptr;
      if (id != nullptr && !(*id == *doc.find("_id"))) {
        finding("an update changed _id", update_doc.to_json());
      }
    }
    if (filter_doc != nullptr) {
      const auto filter = guarded("parse_filter", [&] { return q::parse_filter(*filter_doc); });
      if (filter) {
        guarded("upsert_document", [&] { return q::upsert_document(*filter, *update); });
      }
    }
  }
}

void check_projection(const Value& projection_doc) {
  const auto projection =
      guarded("parse_projection", [&] { return q::parse_projection(projection_doc); });
  if (!projection) return;
  for (const Value& doc : documents()) {
    guarded("apply_projection", [&] { return q::apply_projection(*projection, doc); });
  }
}

void check_sort(const Value& sort_doc) {
  if (!sort_doc.is_object()) return;
  std::vector<sddb::SortKey> keys;
  for (const auto& [path, dir] : sort_doc.as_object()) {
    keys.push_back({path, dir.is_number() && dir.as_double() < 0 ? -1 : 1});
  }
  const auto& docs = documents();
  const std::size_t n = docs.size();
  std::vector<int> cmp(n * n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const auto c =
          guarded("compare_for_sort", [&] { return q::compare_for_sort(keys, docs[i], docs[j]); });
      if (!c) return;
      cmp[i * n + j] = sign(*c);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (cmp[i * n + i] != 0) finding("compare_for_sort(a, a) != 0", sort_doc.to_json());
    for (std::size_t j = 0; j < n; ++j) {
      if (cmp[i * n + j] != -cmp[j * n + i]) {
        finding("compare_for_sort is not antisymmetric", sort_doc.to_json());
      }
      for (std::size_t k = 0; k < n; ++k) {
        if (cmp[i * n + j] <= 0 && cmp[j * n + k] <= 0 && cmp[i * n + k] > 0) {
          finding("compare_for_sort is not transitive", sort_doc.to_json());
        }
      }
    }
  }
}

// compare_values must be a total order: antisymmetric and transitive over any values.
void check_compare_values(const std::vector<const Value*>& values) {
  const std::size_t n = values.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const auto ab =
          guarded("compare_values", [&] { return q::compare_values(*values[i], *values[j]); });
      const auto ba =
          guarded("compare_values", [&] { return q::compare_values(*values[j], *values[i]); });
      if (!ab || !ba) continue;
      if (sign(*ab) != -sign(*ba)) {
        finding("compare_values is not antisymmetric",
                values[i]->to_json() + " vs " + values[j]->to_json());
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Value input;
  try {
    input = Value::parse(text);
  } catch (const sddb::Error&) {
    return 0;  // the JSON parser has its own target (json_fuzz.cc)
  }

  std::vector<const Value*> scalars;
  if (input.is_array()) {
    const auto& items = input.as_array();
    if (!items.empty()) check_filter(items[0]);
    if (items.size() > 1) check_update(items[1], &items[0]);
    if (items.size() > 2) check_projection(items[2]);
    if (items.size() > 3) check_sort(items[3]);
    for (std::size_t i = 0; i < items.size() && i < 8; ++i) scalars.push_back(&items[i]);
    for (const Value& doc : documents()) scalars.push_back(&doc);
    check_compare_values(scalars);
  } else {
    check_filter(input);
    check_update(input, &input);
    check_projection(input);
    check_sort(input);
  }
  return 0;
}
