// Differential test of the PostgreSQL backend against the evaluator (the reference semantics),
// as sqlite_differential_test does for SQLite, with the same generator (tests/testing/
// differential.h: the two backends are tested on the same kinds of documents, filters and updates).
// Every find and count must give what query::matches gives over the same documents: fresh, after
// random updates and deletes, and through a second DB opened on the same schema with the indexes of
// create_index on the generator's paths (the range SQL that searches them) and index plans forced.
// Numbers around 2^53 and 2^60, where a double's shortest decimal and its exact value part, get
// cases of their own. The seed is fixed and printed with every failure.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backends/postgres/pg_compiler.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "testing/differential.h"
#include "testing/postgres.h"

namespace sddb {
namespace {

constexpr std::uint32_t kBaseSeed = 20261126;
constexpr int kSeeds = 3;
constexpr int kDocs = 60;
constexpr int kFilters = 300;

using testutil::Gen;

using testutil::backend;
using testutil::Outcome;
using testutil::reference;

std::string joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += id + " ";
  return out;
}

// Sorted finds (with skip and limit) against query::find_in_memory, in order.
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
      if (++mismatches <= 5) {
        ADD_FAILURE() << stage << ": filter " << f.filter.to_json() << " skip " << f.skip_n
                      << " limit " << f.limit_n
                      << "\n  evaluator: " << (want.error ? "error" : joined(want.ids))
                      << "\n  postgres:  " << (got.error ? "error" : joined(got.ids));
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
    std::sort(want.ids.begin(), want.ids.end());
    std::sort(got.ids.begin(), got.ids.end());
    if (want.error != got.error || want.ids != got.ids) {
      if (++mismatches <= 5) {
        std::string sql;
        try {
          detail::CompiledPgFilter cf = detail::compile_pg_filter(query::parse_filter(f));
          sql = cf.sql;
          for (const std::string& p : cf.params) sql += " | " + p;
        } catch (const Error&) {
        }
        ADD_FAILURE() << stage << ": filter " << f.to_json()
                      << "\n  evaluator: " << (want.error ? "error" : joined(want.ids))
                      << "\n  postgres:  " << (got.error ? "error" : joined(got.ids))
                      << "\n  sql: " << sql;
      }
    }
  }
  return mismatches;
}

// The whole collection by _id: an update writes a new row version, which a scan then meets in
// another place, so natural order is not insertion order here (skip, limit and update_one use
// insertion order, as the reference does).
std::vector<Document> by_id(std::vector<Document> docs) {
  std::stable_sort(docs.begin(), docs.end(), [](const Document& a, const Document& b) {
    return a.find("_id")->as_string() < b.find("_id")->as_string();
  });
  return docs;
}

std::vector<Document> all_docs(DataBackend& data) {
  return by_id(data.find(Collection("docs").find()).to_vector());
}

// Documents and filters where jsonb's numeric and the evaluator's int64/double comparison could
// part: 2^53 +- 1, 2^60 as int and as double (whose shortest decimal is not 2^60), -0.0.
void add_number_edges(std::vector<Document>& docs, std::vector<Value>& filters) {
  const std::int64_t p53 = 9007199254740992LL, p60 = 1152921504606846976LL;
  docs.push_back(Value{{"_id", "n1"}, {"a", p53 + 1}});
  docs.push_back(Value{{"_id", "n2"}, {"a", static_cast<double>(p53)}});
  docs.push_back(Value{{"_id", "n3"}, {"a", p60}});
  docs.push_back(Value{{"_id", "n4"}, {"a", static_cast<double>(p60)}});
  docs.push_back(Value{{"_id", "n5"}, {"a", Value(Array{Value(-0.0), Value(0.5)})}});
  for (const Value& v :
       {Value(p53), Value(p53 + 1), Value(static_cast<double>(p53)), Value(p60),
        Value(static_cast<double>(p60)), Value(p60 + 1), Value(0), Value(-0.0), Value(0.5)}) {
    filters.push_back(Value{{"a", v}});
    for (const char* op : {"$gt", "$gte", "$lt", "$lte", "$ne"}) {
      filters.push_back(Value{{"a", Value{{op, v}}}});
    }
    filters.push_back(Value{{"a", Value{{"$in", Value(Array{v, Value("x")})}}}});
  }
}

TEST(PostgresDifferential, FiltersAndUpdatesMatchTheEvaluator) {
  SDDB_REQUIRE_POSTGRES();
  for (int s = 0; s < kSeeds; ++s) {
    const std::uint32_t seed = kBaseSeed + static_cast<std::uint32_t>(s);
    SCOPED_TRACE("seed " + std::to_string(seed) + " (kBaseSeed + " + std::to_string(s) + ")");
    Gen gen(seed);
    testutil::PgTestSchema schema;

    std::vector<Document> docs;
    for (int i = 0; i < kDocs; ++i) docs.push_back(gen.doc(i));
    std::vector<Value> filters;
    for (int i = 0; i < kFilters; ++i) filters.push_back(gen.filter(2));
    add_number_edges(docs, filters);
    std::vector<Find> sorted;
    for (int i = 0; i < kFilters / 4; ++i) {
      sorted.push_back(gen.sorted_find(gen.chance(50) ? Value::object() : gen.filter(1)));
    }
    int prefiltered = 0, valid = 0;
    for (const Value& f : filters) {
      try {
        prefiltered += detail::compile_pg_filter(query::parse_filter(f)).sql != "TRUE" ? 1 : 0;
        ++valid;
      } catch (const Error&) {
      }
    }
    // Not asserted; shows how many filters narrow the rows in SQL before the re-check.
    std::printf("seed %u: %d of %d valid filters have a SQL pre-filter\n", seed, prefiltered,
                valid);

    {
      auto db = superduper(schema.uri());
      DataBackend& data = db->databackend();
      data.insert_many("docs", docs);
      ASSERT_EQ(all_docs(data), by_id(docs));
      EXPECT_EQ(compare_filters(data, docs, filters, "fresh"), 0);
      EXPECT_EQ(compare_sorted(data, docs, sorted, "fresh"), 0);

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
          data.update(UpdateMany{"docs", filter, update, false, many});
        } catch (const Error& e) {
          if (e.code() == ErrorCode::internal) ADD_FAILURE() << "internal error: " << e.what();
          got_error = true;
        }
        ASSERT_EQ(want_error, got_error) << filter.to_json() << " " << update.to_json();
        if (!want_error) docs = std::move(expected);
        ASSERT_EQ(all_docs(data), by_id(docs)) << filter.to_json() << " " << update.to_json();
      }
      for (int d = 0; d < 3; ++d) {
        const Value filter = gen.filter(1);
        Outcome want = reference(docs, filter);
        if (want.error) continue;
        const bool many = gen.chance(50);
        DeleteResult r = data.remove(DeleteMany{"docs", filter, many});
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
      EXPECT_EQ(compare_filters(data, docs, filters, "after updates"), 0);
      EXPECT_EQ(compare_sorted(data, docs, sorted, "after updates"), 0);
    }
    // Another DB on the same schema: the same answers from what the server holds, with
    // indexes (which change the SQL of ranges on their paths and the plans, never answers). Its
    // sessions avoid table scans wherever an index can serve, so that the index plans run, and
    // JIT, which the cost of a plan refused a table scan would otherwise set off on every query.
    {
      auto db = superduper(schema.uri() + "&options=-c%20enable_seqscan%3Doff%20-c%20jit%3Doff");
      DataBackend& data = db->databackend();
      ASSERT_EQ(all_docs(data), by_id(docs));
      for (const char* path : {"a", "b", "c", "a.b", "a.c", "b.a", "c.a", "a.b.c", "b.c.a", "a b",
                               "k\\", "q\"", "\xc3\xa9", "a.0", "a.01"}) {
        data.create_index("docs", path);
      }
      EXPECT_EQ(compare_filters(data, docs, filters, "reopened, indexed"), 0);
      EXPECT_EQ(compare_sorted(data, docs, sorted, "reopened, indexed"), 0);
    }
  }
}

}  // namespace
}  // namespace sddb
