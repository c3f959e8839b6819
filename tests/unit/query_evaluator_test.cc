// The evaluator: compare_values (BSON order), NaN (which JSON cannot carry to the conformance
// files), sort keys and projections.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"
#include "sddb/value.h"

namespace sddb::query {
namespace {

bool match(const std::string& filter, const Value& doc) {
  return matches(parse_filter(json(filter)), doc);
}

bool match_value(const Value& filter, const Value& doc) {
  return matches(parse_filter(filter), doc);
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(QueryCompareValues, TypeOrder) {
  // null < numbers < string < object < array < bool, each strictly.
  std::vector<Value> ordered = {Value(),      Value(-5),           Value(2.5),
                                Value("a"),   json(R"({"a": 1})"), json("[1]"),
                                Value(false), Value(true)};
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    for (std::size_t j = 0; j < ordered.size(); ++j) {
      int c = compare_values(ordered[i], ordered[j]);
      EXPECT_EQ(c < 0 ? -1 : (c > 0 ? 1 : 0), i < j ? -1 : (i > j ? 1 : 0)) << i << " " << j;
    }
  }
}

TEST(QueryCompareValues, NumbersExactlyAcrossIntAndDouble) {
  EXPECT_EQ(compare_values(Value(1), Value(1.0)), 0);
  EXPECT_EQ(compare_values(Value(0), Value(-0.0)), 0);
  const std::int64_t two53_plus1 = 9007199254740993;
  EXPECT_GT(compare_values(Value(two53_plus1), Value(9007199254740992.0)), 0);
  EXPECT_LT(compare_values(Value(two53_plus1), Value(9007199254740994.0)), 0);
  EXPECT_LT(compare_values(Value(9007199254740992.0), Value(two53_plus1)), 0);
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  EXPECT_LT(compare_values(Value(max), Value(9223372036854775808.0)), 0);
  EXPECT_EQ(compare_values(Value(min), Value(-9223372036854775808.0)), 0);
  EXPECT_GT(compare_values(Value(min), Value(-kInf)), 0);
  EXPECT_LT(compare_values(Value(max), Value(kInf)), 0);
  EXPECT_LT(compare_values(Value(3), Value(3.0000000000000004)), 0);
  EXPECT_GT(compare_values(Value(-3), Value(-3.0000000000000004)), 0);
  EXPECT_GT(compare_values(Value(-2), Value(-2.5)), 0);
}

TEST(QueryCompareValues, NaNSortsBelowEveryNumberAndEqualsItself) {
  EXPECT_EQ(compare_values(Value(kNaN), Value(kNaN)), 0);
  EXPECT_LT(compare_values(Value(kNaN), Value(-kInf)), 0);
  EXPECT_LT(compare_values(Value(kNaN), Value(std::numeric_limits<std::int64_t>::min())), 0);
  EXPECT_GT(compare_values(Value(kNaN), Value()), 0);  // still a number, above null
}

TEST(QueryCompareValues, StringsByteByByte) {
  EXPECT_LT(compare_values(Value("B"), Value("a")), 0);
  EXPECT_LT(compare_values(Value("z"), Value("\xc3\xa9")), 0);  // bytes above 0x7f sort last
  EXPECT_LT(compare_values(Value("ab"), Value("abc")), 0);
}

TEST(QueryCompareValues, ObjectsAndArrays) {
  // Objects: type of the value, then the name, then the value; shorter is smaller.
  EXPECT_LT(compare_values(json(R"({"z": 1})"), json(R"({"a": "s"})")), 0);
  EXPECT_LT(compare_values(json(R"({"a": 1})"), json(R"({"b": 1})")), 0);
  EXPECT_LT(compare_values(json(R"({"a": 1})"), json(R"({"a": 1, "b": 0})")), 0);
  EXPECT_NE(compare_values(json(R"({"a": 1, "b": 2})"), json(R"({"b": 2, "a": 1})")), 0);
  EXPECT_EQ(compare_values(json(R"({"a": 1})"), json(R"({"a": 1.0})")), 0);
  // Arrays: element by element with full BSON order.
  EXPECT_LT(compare_values(json("[1, 5]"), json("[2]")), 0);
  EXPECT_GT(compare_values(json("[[1]]"), json("[2]")), 0);
  EXPECT_LT(compare_values(json("[]"), json("[null]")), 0);
}

TEST(QueryNaN, ReferenceRow36) {
  Value nan_doc{{"_id", "1"}, {"a", kNaN}};
  Value one_doc{{"_id", "2"}, {"a", 1}};
  EXPECT_TRUE(match_value(Value{{"a", kNaN}}, nan_doc));
  EXPECT_FALSE(match_value(Value{{"a", kNaN}}, one_doc));
  for (const char* op : {"$gt", "$lt"}) {
    EXPECT_FALSE(match_value(Value{{"a", Value{{op, kNaN}}}}, nan_doc)) << op;
    EXPECT_FALSE(match_value(Value{{"a", Value{{op, kNaN}}}}, one_doc)) << op;
    EXPECT_FALSE(match_value(Value{{"a", Value{{op, 0}}}}, nan_doc)) << op;
  }
  for (const char* op : {"$gte", "$lte"}) {
    EXPECT_TRUE(match_value(Value{{"a", Value{{op, kNaN}}}}, nan_doc)) << op;
    EXPECT_FALSE(match_value(Value{{"a", Value{{op, kNaN}}}}, one_doc)) << op;
    EXPECT_FALSE(match_value(Value{{"a", Value{{op, 0}}}}, nan_doc)) << op;
  }
  EXPECT_TRUE(match_value(Value{{"a", Value{{"$in", Value::array({kNaN})}}}}, nan_doc));
  EXPECT_TRUE(match_value(Value{{"a", Value{{"$ne", 1}}}}, nan_doc));
}

TEST(QueryMatches, PathCandidates) {
  EXPECT_TRUE(match(R"({"a.1": 4})", json(R"({"a": [{"1": 4}, 5]})")));
  EXPECT_TRUE(match(R"({"a.1": 5})", json(R"({"a": [{"1": 4}, 5]})")));
  EXPECT_FALSE(match(R"({"a.0": 42})", json(R"({"a": [[42]]})")));
  EXPECT_TRUE(match(R"({"a.0.0": 42})", json(R"({"a": [[42]]})")));
  EXPECT_FALSE(match(R"({"a": "foo"})", json(R"({"a": [["foo"]]})")));
  EXPECT_FALSE(match(R"({"a.b": null})", json(R"({"a": [1, 2]})")));  // V1
  EXPECT_TRUE(match(R"({"a.b": null})", json(R"({"a": 4})")));
  EXPECT_TRUE(match(R"({"a": {"$elemMatch": {"b": null}}})", json(R"({"a": [[]]})")));
  EXPECT_FALSE(match(R"({"a": {"$elemMatch": {"$ne": null}}})", json(R"({"a": 4})")));
}

TEST(QueryMatches, LeadingZeroIsAFieldNameOnly) {
  EXPECT_FALSE(match(R"({"a.01": 5})", json(R"({"a": [0, 5]})")));
  EXPECT_TRUE(match(R"({"a.01": 5})", json(R"({"a": {"01": 5}})")));
  EXPECT_TRUE(match(R"({"a.01": 5})", json(R"({"a": [{"01": 5}]})")));
  EXPECT_TRUE(match(R"({"a.0": 0})", json(R"({"a": [0, 5]})")));
}

TEST(QueryMatches, HugeIndexDoesNotThrow) {
  EXPECT_FALSE(match(R"({"a.99999999999999999999999": 1})", json(R"({"a": [1]})")));
  EXPECT_TRUE(match(R"({"a.99999999999999999999999": 1})",
                    json(R"({"a": {"99999999999999999999999": 1}})")));
}

TEST(QuerySort, ArraysEmptyArraysAndMissing) {
  std::vector<SortKey> asc = {{"v", 1}};
  std::vector<SortKey> desc = {{"v", -1}};
  Value empty = json(R"({"v": []})");
  Value null = json(R"({"v": null})");
  Value missing = json(R"({})");
  Value arr = json(R"({"v": [3, 0, 8]})");
  Value one = json(R"({"v": 1})");
  EXPECT_LT(compare_for_sort(asc, empty, null), 0);
  EXPECT_GT(compare_for_sort(desc, empty, null), 0);
  EXPECT_EQ(compare_for_sort(asc, missing, null), 0);
  EXPECT_LT(compare_for_sort(asc, arr, one), 0);   // key 0
  EXPECT_LT(compare_for_sort(desc, arr, one), 0);  // key 8 comes first descending
  EXPECT_EQ(compare_for_sort(asc, json(R"({"v": [1]})"), one), 0);
}

TEST(QuerySort, ParallelArraysAreAnError) {
  std::vector<SortKey> keys = {{"a", 1}, {"b", 1}};
  Value doc{{"_id", "x"}, {"a", Value::array({1})}, {"b", Value::array({2})}};
  try {
    (void)compare_for_sort(keys, doc, doc);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
}

TEST(QueryFindInMemory, FilterSortSkipLimitProjection) {
  std::vector<Document> docs = {
      json(R"({"_id": "a", "n": 3, "k": 1})"), json(R"({"_id": "b", "n": 1, "k": 1})"),
      json(R"({"_id": "c", "n": 2, "k": 0})"), json(R"({"_id": "d", "n": 0, "k": 1})")};
  Find q;
  q.filter = json(R"({"k": 1})");
  q.sort_keys = {{"n", -1}};
  q.skip_n = 1;
  q.limit_n = 5;
  q.projection = json(R"({"n": 1, "_id": 0})");
  std::vector<Document> out = find_in_memory(docs, q);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], json(R"({"n": 1})"));
  EXPECT_EQ(out[1], json(R"({"n": 0})"));
}

TEST(QueryProjection, RulesAndErrors) {
  Value doc = json(R"({"_id": "1", "a": [{"b": 1, "c": 2}, 5, [{"b": 3}]], "d": {"e": 1}})");
  EXPECT_EQ(apply_projection(parse_projection(json(R"({"a.b": 1})")), doc),
            json(R"({"_id": "1", "a": [{"b": 1}, [{"b": 3}]]})"));
  EXPECT_EQ(apply_projection(parse_projection(json(R"({"a.b": 0, "d": 0})")), doc),
            json(R"({"_id": "1", "a": [{"c": 2}, 5, [{}]]})"));
  EXPECT_EQ(apply_projection(parse_projection(json(R"({"_id": 0, "d.e": 1})")), doc),
            json(R"({"d": {"e": 1}})"));
  EXPECT_FALSE(parse_projection(Value()).active);
  EXPECT_FALSE(parse_projection(json("{}")).active);
  EXPECT_THROW(parse_projection(json(R"({"a": 1, "b": 0})")), Error);
  EXPECT_THROW(parse_projection(json(R"({"a": 1, "a.b": 1})")), Error);
  EXPECT_THROW(parse_projection(json(R"({"a": {"$slice": 1}})")), Error);
  try {
    (void)parse_projection(json(R"({"a": 0, "b": 1})"));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sddb::query
