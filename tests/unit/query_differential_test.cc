// Differential test: random filters and sorts over random documents, run by the evaluator (the
// reference) and by the DB on the embedded SQLite backend, which compiles filters to SQL. Any
// difference is a bug in one of them. Fixed seeds, so a failure reproduces.

#include <gtest/gtest.h>
#include <sddb/sddb.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "query/evaluator.h"
#include "query/filter.h"

namespace sddb::query {
namespace {

class Gen {
 public:
  explicit Gen(unsigned seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  Value scalar() {
    switch (pick(9)) {
      case 0:
        return Value();
      case 1:
        return Value(pick(2) == 0);
      case 2:
        return Value(pick(5) - 2);
      case 3:
        return Value((pick(9) - 4) / 2.0);
      case 4:
        return Value(std::string(1, static_cast<char>('a' + pick(3))));
      case 5:
        return Value(9007199254740992.0 + pick(3) - 1);
      case 6:
        return Value(static_cast<std::int64_t>(9007199254740992) + pick(3) - 1);
      case 7:
        return Value(std::string(pick(2) == 0 ? "ab" : "B"));
      default:
        return Value("");
    }
  }

  Value value(int depth) {
    int kind = depth > 2 ? 0 : pick(5);
    if (kind == 3) {
      Array a;
      for (int i = pick(4); i > 0; --i) a.push_back(value(depth + 1));
      return Value(std::move(a));
    }
    if (kind == 4) {
      Object o;
      for (const char* name : {"a", "b", "0"}) {
        if (pick(2) == 0) o.emplace_back(name, value(depth + 1));
      }
      return Value(std::move(o));
    }
    return scalar();
  }

  Value document(int id) {
    Object o;
    o.emplace_back("_id", Value("d" + std::to_string(id)));
    for (const char* name : {"a", "b"}) {
      if (pick(4) != 0) o.emplace_back(name, value(0));
    }
    return Value(std::move(o));
  }

  std::string path() {
    static const std::vector<std::string> kPaths = {"a",     "b",     "a.a", "a.b",  "a.0",
                                                    "a.0.a", "b.a.b", "a.1", "b.0.0"};
    return kPaths[static_cast<std::size_t>(pick(static_cast<int>(kPaths.size())))];
  }

  Value condition() {
    static const std::vector<std::string> kOps = {"$eq", "$gt", "$gte", "$lt", "$lte", "$ne"};
    switch (pick(12)) {
      case 0:
      case 1:
      case 2:
        return Value{{kOps[static_cast<std::size_t>(pick(6))], value(1)}};
      case 3:
        return Value{{"$in", Value::array({value(1), scalar()})}};
      case 4:
        return Value{{"$nin", Value::array({scalar(), scalar()})}};
      case 5:
        return Value{{"$exists", pick(2) == 0}};
      case 6:
        return Value{{"$size", pick(3)}};
      case 7: {
        static const std::vector<std::string> kTypes = {"number", "array", "null",   "string",
                                                        "object", "bool",  "double", "int"};
        return Value{{"$type", kTypes[static_cast<std::size_t>(pick(8))]}};
      }
      case 8:
        return pick(2) == 0 ? Value{{"$elemMatch", Value{{"$gte", scalar()}}}}
                            : Value{{"$elemMatch", Value{{"a", scalar()}}}};
      case 9:
        return Value{{"$all", Value::array({scalar(), scalar()})}};
      case 10:
        return Value{{"$regex", pick(2) == 0 ? "^a" : "b$"}};
      default:
        return Value{{"$not", Value{{kOps[static_cast<std::size_t>(pick(5))], scalar()}}}};
    }
  }

  Value filter(int depth) {
    switch (depth > 1 ? 0 : pick(6)) {
      case 0:
      case 1:
      case 2:
        return Value{{path(), pick(4) == 0 ? value(1) : condition()}};
      default: {
        static const std::vector<std::string> kLogic = {"$and", "$or", "$nor"};
        Array clauses;
        for (int i = 1 + pick(2); i > 0; --i) clauses.push_back(filter(depth + 1));
        return Value{{kLogic[static_cast<std::size_t>(pick(3))], Value(std::move(clauses))}};
      }
    }
  }

 private:
  std::mt19937 rng_;
};

std::vector<std::string> ids(const std::vector<Document>& docs) {
  std::vector<std::string> out;
  for (const Document& d : docs) out.push_back(d.find("_id")->as_string());
  return out;
}

TEST(QueryDifferential, FiltersAgreeWithSqlite) {
  Gen g(424242);
  std::vector<Document> docs;
  for (int i = 0; i < 120; ++i) docs.push_back(g.document(i));
  auto db = superduper("sqlite://:memory:");
  db->execute(Collection("c").insert_many(docs));
  int compared = 0;
  for (int round = 0; round < 600; ++round) {
    Value filter = g.filter(0);
    Find q;
    q.collection = "c";
    q.filter = filter;
    std::vector<std::string> want = ids(find_in_memory(docs, q));
    std::vector<std::string> have = ids(db->execute(q).to_vector());
    std::sort(want.begin(), want.end());
    std::sort(have.begin(), have.end());
    EXPECT_EQ(have, want) << "filter " << filter.to_json();
    EXPECT_EQ(db->execute(Count{"c", filter}), static_cast<std::int64_t>(want.size()))
        << "count, filter " << filter.to_json();
    ++compared;
  }
  EXPECT_EQ(compared, 600);
}

TEST(QueryDifferential, SortsAgreeWithSqlite) {
  Gen g(777);
  std::vector<Document> docs;
  for (int i = 0; i < 120; ++i) docs.push_back(g.document(i));
  auto db = superduper("sqlite://:memory:");
  db->execute(Collection("c").insert_many(docs));
  for (const char* path : {"a", "b", "a.a", "a.b", "b.a.b"}) {
    for (int direction : {1, -1}) {
      Find q;
      q.collection = "c";
      q.sort_keys = {{path, direction}, {"_id", 1}};
      q.skip_n = 3;
      q.limit_n = 50;
      EXPECT_EQ(ids(db->execute(q).to_vector()), ids(find_in_memory(docs, q)))
          << "sort " << path << " " << direction;
    }
  }
}

}  // namespace
}  // namespace sddb::query
