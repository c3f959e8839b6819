// Differential test of the SQLite backend against the evaluator (the reference semantics), in the
// manner of RocksDB's db_map_fuzzer: random documents (nested objects, arrays, nulls, numbers,
// strings, booleans), random filters and updates from a generator; every find and count must
// give what query::matches gives over the same documents, before and after closing and reopening
// the file, with and without indexes. The seed is fixed and printed with every failure.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "backends/sqlite/sql_compiler.h"
#include "backends/sqlite/sqlite.h"
#include "backends/sqlite/sqlite_connection.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"
#include "testing/differential.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kBaseSeed = 20261126;
constexpr int kSeeds = 6;
constexpr int kDocs = 60;
constexpr int kFilters = 400;

using testutil::Gen;

using testutil::TempDir;

using testutil::backend;
using testutil::Outcome;
using testutil::reference;

// Sorted finds (with skip and limit) against query::find_in_memory, in order: ties keep
// insertion order in both. Returns how many differed.
int compare_sorted(DataBackend& data, const std::vector<Document>& docs,
                   const std::vector<Find>& finds, const std::string& stage) {
  int mismatches = 0;
  for (const Find& f : finds) {
    Outcome want, got;
    try {
      for (const Document& d : query::find_in_memory(docs, f)) {
        want.ids.push_back(d.find("_id")->as_string());
      }
    } catch (const Error&) {
      want.error = true;
    }
    try {
      for (const Document& d : data.find(f).to_vector()) {
        got.ids.push_back(d.find("_id")->as_string());
      }
    } catch (const Error& e) {
      if (e.code() == ErrorCode::internal) ADD_FAILURE() << "internal error: " << e.what();
      got.error = true;
    }
    if (want.error != got.error || want.ids != got.ids) {
      ++mismatches;
      if (mismatches <= 5) {
        std::string keys, want_ids, got_ids;
        for (const SortKey& k : f.sort_keys)
          keys += k.path + ":" + std::to_string(k.direction) + " ";
        for (const auto& id : want.ids) want_ids += id + " ";
        for (const auto& id : got.ids) got_ids += id + " ";
        ADD_FAILURE() << stage << ": filter " << f.filter.to_json() << " sort " << keys << "skip "
                      << f.skip_n << " limit " << f.limit_n
                      << "\n  evaluator: " << (want.error ? "error" : want_ids)
                      << "\n  sqlite:    " << (got.error ? "error" : got_ids);
      }
    }
  }
  return mismatches;
}

// Runs the filters against the backend and the reference; returns how many differed.
int compare_filters(DataBackend& data, const std::vector<Document>& docs,
                    const std::vector<Value>& filters, const std::string& stage) {
  int mismatches = 0;
  for (const Value& f : filters) {
    Outcome want = reference(docs, f);
    Outcome got = backend(data, f);
    // Without a sort the order is unspecified (an index search gives index order).
    std::sort(want.ids.begin(), want.ids.end());
    std::sort(got.ids.begin(), got.ids.end());
    if (want.error != got.error || want.ids != got.ids) {
      ++mismatches;
      if (mismatches <= 5) {
        std::string sql;
        try {
          sql = detail::compile_filter(query::parse_filter(f)).sql;
        } catch (const Error&) {
        }
        std::string want_ids, got_ids;
        for (const auto& id : want.ids) want_ids += id + " ";
        for (const auto& id : got.ids) got_ids += id + " ";
        std::string differing;
        for (const Document& d : docs) {
          const std::string& id = d.find("_id")->as_string();
          const bool in_want = std::find(want.ids.begin(), want.ids.end(), id) != want.ids.end();
          const bool in_got = std::find(got.ids.begin(), got.ids.end(), id) != got.ids.end();
          if (in_want != in_got) differing += "\n  differs: " + d.to_json();
        }
        if (sql.size() > 3000) sql = sql.substr(0, 3000) + "...";
        ADD_FAILURE() << stage << ": filter " << f.to_json() << differing
                      << "\n  evaluator: " << (want.error ? "error" : want_ids)
                      << "\n  sqlite:    " << (got.error ? "error" : got_ids) << "\n  sql: " << sql;
      }
    }
  }
  return mismatches;
}

// `v` with its arrays (those at depth >= `from`, the top level being 0) turned into objects
// {"0": e0, "1": e1, ...}: the same numeric paths reach the same values, but no array does.
Value objectify(const Value& v, int from, int depth = 0) {
  if (v.is_array() && depth >= from) {
    Value obj = Value::object();
    const Array& items = v.as_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      obj.set(std::to_string(i), objectify(items[i], from, depth + 1));
    }
    return obj;
  }
  if (v.is_array()) {
    Array items;
    for (const Value& x : v.as_array()) items.push_back(objectify(x, from, depth + 1));
    return Value(std::move(items));
  }
  if (v.is_object()) {
    Value obj = Value::object();
    for (const auto& [k, x] : v.as_object()) obj.set(k, objectify(x, from, depth + 1));
    return obj;
  }
  return v;
}

std::vector<Document> all_docs(DataBackend& data) {
  return data.find(Collection("docs").find()).to_vector();
}

TEST(SqliteDifferential, FiltersAndUpdatesMatchTheEvaluator) {
  for (int s = 0; s < kSeeds; ++s) {
    const std::uint32_t seed = kBaseSeed + static_cast<std::uint32_t>(s);
    SCOPED_TRACE("seed " + std::to_string(seed) + " (kBaseSeed + " + std::to_string(s) + ")");
    Gen gen(seed);
    TempDir dir;
    const std::string path = (dir.path() / "diff.db").string();

    std::vector<Document> docs;
    for (int i = 0; i < kDocs; ++i) docs.push_back(gen.doc(i));
    std::vector<Value> filters;
    for (int i = 0; i < kFilters; ++i) filters.push_back(gen.filter(2));
    std::vector<Find> sorted;
    for (int i = 0; i < kFilters / 4; ++i) {
      sorted.push_back(gen.sorted_find(gen.chance(50) ? Value::object() : gen.filter(1)));
    }
    int exact = 0, valid = 0;
    for (const Value& f : filters) {
      try {
        exact += detail::compile_filter(query::parse_filter(f)).exact ? 1 : 0;
        ++valid;
      } catch (const Error&) {
      }
    }
    // Not asserted (the generator leans on corner cases); shows how much the residual check does.
    std::printf("seed %u: %d of %d valid filters compiled to exact SQL\n", seed, exact, valid);

    {
      auto conn = detail::open_sqlite(path, "sqlite://" + path);
      auto data = detail::make_sqlite_backend(conn);
      data->insert_many("docs", docs);
      ASSERT_EQ(all_docs(*data), docs);
      EXPECT_EQ(compare_filters(*data, docs, filters, "fresh"), 0);
      EXPECT_EQ(compare_sorted(*data, docs, sorted, "fresh"), 0);

      // Random updates, applied to the reference documents with the evaluator too.
      for (int u = 0; u < 30; ++u) {
        const Value filter = gen.filter(1);
        const Value update = gen.update();
        const bool many = gen.chance(50);
        std::vector<Document> expected = docs;
        bool want_error = false;
        try {
          query::FilterNode node = query::parse_filter(filter);
          query::Update parsed = query::parse_update(update);
          for (Document& d : expected) {
            if (!query::matches(node, d)) continue;
            d = query::apply_update(parsed, d);
            if (!many) break;
          }
        } catch (const Error&) {
          want_error = true;
        }
        bool got_error = false;
        try {
          data->update(UpdateMany{"docs", filter, update, false, many});
        } catch (const Error& e) {
          if (e.code() == ErrorCode::internal) ADD_FAILURE() << "internal error: " << e.what();
          got_error = true;
        }
        ASSERT_EQ(want_error, got_error) << filter.to_json() << " " << update.to_json();
        if (!want_error) docs = std::move(expected);
        ASSERT_EQ(all_docs(*data), docs) << filter.to_json() << " " << update.to_json();
      }
      // And random deletes.
      for (int d = 0; d < 3; ++d) {
        const Value filter = gen.filter(1);
        Outcome want = reference(docs, filter);
        if (want.error) continue;
        const bool many = gen.chance(50);
        DeleteResult r = data->remove(DeleteMany{"docs", filter, many});
        std::vector<std::string> expected_ids = want.ids;
        if (!many && expected_ids.size() > 1) expected_ids.resize(1);
        EXPECT_EQ(r.deleted_ids, expected_ids) << filter.to_json();
        std::vector<Document> kept;
        for (Document& doc : docs) {
          const std::string& id = doc.find("_id")->as_string();
          if (std::find(expected_ids.begin(), expected_ids.end(), id) == expected_ids.end()) {
            kept.push_back(std::move(doc));
          }
        }
        docs = std::move(kept);
      }
      EXPECT_EQ(compare_filters(*data, docs, filters, "after updates"), 0);
      EXPECT_EQ(compare_sorted(*data, docs, sorted, "after updates"), 0);
    }
    // Closed and reopened: the same answers from what is on disk.
    {
      auto conn = detail::open_sqlite(path, "sqlite://" + path);
      auto data = detail::make_sqlite_backend(conn);
      ASSERT_EQ(all_docs(*data), docs);
      EXPECT_EQ(compare_filters(*data, docs, filters, "reopened"), 0);
      EXPECT_EQ(compare_sorted(*data, docs, sorted, "reopened"), 0);
      // Indexes change plans, never answers.
      for (const char* p : {"a", "b", "a.b", "a.0", "c.a.b"}) data->create_index("docs", p);
      EXPECT_EQ(compare_filters(*data, docs, filters, "indexed"), 0);
      EXPECT_EQ(compare_sorted(*data, docs, sorted, "indexed"), 0);
    }
    // Indexed paths without arrays: filters there compile without their array branches (proven
    // by probes on the type indexes), until a document with arrays comes in. By seed: no arrays
    // at all; none under "a" (other paths keep theirs); none at "a" itself (a.b may have some).
    {
      const std::string flat_path = (dir.path() / "flat.db").string();
      auto conn = detail::open_sqlite(flat_path, "sqlite://" + flat_path);
      auto data = detail::make_sqlite_backend(conn);
      std::vector<Document> flat;
      for (const Document& d : docs) {
        Document f = Value::object();
        for (const auto& [k, v] : d.as_object()) {
          switch (s % 3) {
            case 0:
              f.set(k, objectify(v, 0));
              break;
            case 1:
              f.set(k, k == "a" ? objectify(v, 0) : v);
              break;
            default:
              f.set(k, k == "a" ? objectify(v, 0, 1) : v);
              break;
          }
        }
        flat.push_back(std::move(f));
      }
      data->insert_many("docs", flat);
      for (const char* p : {"a", "b", "a.b", "a.0", "c.a.b", "0", "a.0.b", "b.1"}) {
        data->create_index("docs", p);
      }
      EXPECT_EQ(compare_filters(*data, flat, filters, "array-free"), 0);
      EXPECT_EQ(compare_sorted(*data, flat, sorted, "array-free"), 0);
      // Deletes decide in their write transaction.
      for (int d = 0; d < 3; ++d) {
        const Value filter = gen.filter(1);
        Outcome want = reference(flat, filter);
        if (want.error) continue;
        DeleteResult r = data->remove(DeleteMany{"docs", filter, true});
        std::sort(want.ids.begin(), want.ids.end());
        std::sort(r.deleted_ids.begin(), r.deleted_ids.end());
        EXPECT_EQ(r.deleted_ids, want.ids) << "array-free: " << filter.to_json();
        std::vector<Document> kept;
        for (Document& doc : flat) {
          const std::string& id = doc.find("_id")->as_string();
          if (!std::binary_search(want.ids.begin(), want.ids.end(), id)) {
            kept.push_back(std::move(doc));
          }
        }
        flat = std::move(kept);
      }
      EXPECT_EQ(compare_filters(*data, flat, filters, "array-free after deletes"), 0);
      // Arrays arrive: the array branches are back.
      std::vector<Document> more;
      for (int i = 0; i < 10; ++i) more.push_back(gen.doc(500 + i));
      more.push_back(
          Value{{"_id", "arr1"},
                {"a", Value(Array{Value(1), Value{{"b", 2}}, Value(Array{Value(3)})})},
                {"b", Value(Array{Value("x"), Value(Array{Value("a")})})},
                {"0", Value(Array{Value(1)})},
                {"c", Value{{"a", Value(Array{Value{{"b", Value(Array{Value(1)})}}})}}}});
      data->insert_many("docs", more);
      for (Document& d : more) flat.push_back(std::move(d));
      EXPECT_EQ(compare_filters(*data, flat, filters, "array-free, then arrays"), 0);
      EXPECT_EQ(compare_sorted(*data, flat, sorted, "array-free, then arrays"), 0);
    }
  }
}

}  // namespace
}  // namespace sddb
