// Properties the evaluator must keep on any input, checked over random documents and filters
// from a fixed seed (so a failure reproduces): negations are exact complements, compare_values
// is a total order, and a sort is consistent with it.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/value.h"

namespace sddb::query {
namespace {

class Gen {
 public:
  explicit Gen(unsigned seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  Value scalar() {
    switch (pick(8)) {
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
    o.emplace_back("_id", Value(std::to_string(id)));
    for (const char* name : {"a", "b"}) {
      if (pick(3) != 0) o.emplace_back(name, value(0));
    }
    return Value(std::move(o));
  }

  std::string path() {
    static const std::vector<std::string> kPaths = {"a",   "b",     "a.a",   "a.b",
                                                    "a.0", "a.0.a", "b.a.b", "a.1"};
    return kPaths[static_cast<std::size_t>(pick(static_cast<int>(kPaths.size())))];
  }

  // A positive operator object for one path.
  Value condition() {
    static const std::vector<std::string> kOps = {"$eq", "$gt", "$gte", "$lt", "$lte"};
    switch (pick(8)) {
      case 0:
      case 1:
        return Value{{kOps[static_cast<std::size_t>(pick(5))], value(1)}};
      case 2:
        return Value{{"$in", Value::array({value(1), scalar()})}};
      case 3:
        return Value{{"$exists", pick(2) == 0}};
      case 4:
        return Value{{"$size", pick(3)}};
      case 5:
        return Value{{"$type", pick(2) == 0 ? "number" : "array"}};
      case 6:
        return Value{{"$elemMatch", Value{{"$gte", scalar()}}}};
      default:
        return Value{{"$all", Value::array({scalar()})}};
    }
  }

 private:
  std::mt19937 rng_;
};

TEST(QueryProperties, NegationsAreComplements) {
  Gen g(20261126);
  for (int round = 0; round < 3000; ++round) {
    Value doc = g.document(round);
    std::string path = g.path();
    Value cond = g.condition();
    const std::string& op = cond.as_object().front().first;
    const Value& arg = cond.as_object().front().second;
    bool positive = matches(parse_filter(Value{{path, cond}}), doc);
    std::string where = "doc " + doc.to_json() + " path " + path + " cond " + cond.to_json();
    EXPECT_EQ(matches(parse_filter(Value{{path, Value{{"$not", cond}}}}), doc), !positive) << where;
    EXPECT_EQ(matches(parse_filter(Value{{"$nor", Value::array({Value{{path, cond}}})}}), doc),
              !positive)
        << where;
    if (op == "$eq") {
      EXPECT_EQ(matches(parse_filter(Value{{path, Value{{"$ne", arg}}}}), doc), !positive) << where;
      if (!arg.is_object()) {
        EXPECT_EQ(matches(parse_filter(Value{{path, arg}}), doc), positive) << where;
      }
    }
    if (op == "$in") {
      EXPECT_EQ(matches(parse_filter(Value{{path, Value{{"$nin", arg}}}}), doc), !positive)
          << where;
    }
  }
}

TEST(QueryProperties, CompareValuesIsATotalOrder) {
  Gen g(7);
  std::vector<Value> values;
  for (int i = 0; i < 150; ++i) values.push_back(g.value(0));
  for (const Value& a : values) {
    EXPECT_EQ(compare_values(a, a), 0) << a.to_json();
    for (const Value& b : values) {
      int ab = compare_values(a, b);
      int ba = compare_values(b, a);
      ASSERT_EQ(ab<0, ba> 0) << a.to_json() << " vs " << b.to_json();
      ASSERT_EQ(ab == 0, ba == 0) << a.to_json() << " vs " << b.to_json();
    }
  }
  std::vector<Value> sorted = values;
  std::sort(sorted.begin(), sorted.end(),
            [](const Value& a, const Value& b) { return compare_values(a, b) < 0; });
  for (std::size_t i = 0; i + 2 < sorted.size(); ++i) {
    EXPECT_LE(compare_values(sorted[i], sorted[i + 1]), 0);
    EXPECT_LE(compare_values(sorted[i], sorted[i + 2]), 0);  // transitivity, sampled
  }
}

TEST(QueryProperties, SortAgreesWithItsComparator) {
  Gen g(99);
  std::vector<Document> docs;
  for (int i = 0; i < 200; ++i) docs.push_back(g.document(i));
  for (int direction : {1, -1}) {
    Find q;
    q.sort_keys = {{"a", direction}, {"_id", 1}};
    // _id is a string, so there are never arrays at two of the sort paths.
    std::vector<Document> out = find_in_memory(docs, q);
    ASSERT_EQ(out.size(), docs.size());
    for (std::size_t i = 0; i + 1 < out.size(); ++i) {
      EXPECT_LE(compare_for_sort(q.sort_keys, out[i], out[i + 1]), 0)
          << out[i].to_json() << " before " << out[i + 1].to_json();
    }
  }
}

}  // namespace
}  // namespace sddb::query
