// parse_update / apply_update / upsert_document: edge cases, error messages (naming the _id and
// the path) and the promise that the input document is never changed.

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"
#include "sddb/value.h"

namespace sddb::query {
namespace {

Value update(const std::string& upd, const std::string& doc) {
  return apply_update(parse_update(json(upd)), json(doc));
}

// The message of the invalid_argument error the update raises on `doc`.
std::string update_error(const std::string& upd, const std::string& doc) {
  try {
    (void)update(upd, doc);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument) << upd;
    return e.what();
  }
  ADD_FAILURE() << "no error for " << upd << " on " << doc;
  return "";
}

std::string parse_error(const std::string& upd) {
  try {
    (void)parse_update(json(upd));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument) << upd;
    return e.what();
  }
  ADD_FAILURE() << "no error for " << upd;
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(QueryUpdate, NeverChangesItsInput) {
  const Value doc = json(R"({"_id": "1", "a": [1, 2], "n": 1, "o": {"x": 1}})");
  const Value before = doc;
  Value out = apply_update(
      parse_update(json(
          R"({"$set": {"o.y": 2}, "$inc": {"n": 1}, "$push": {"a": 3}, "$unset": {"zz": 1}})")),
      doc);
  EXPECT_EQ(doc, before);
  EXPECT_EQ(out, json(R"({"_id": "1", "a": [1, 2, 3], "n": 2, "o": {"x": 1, "y": 2}})"));
  // A failing update leaves it alone too.
  EXPECT_THROW(apply_update(parse_update(json(R"({"$set": {"a.f": 1}})")), doc), Error);
  EXPECT_EQ(doc, before);
}

TEST(QueryUpdate, ApplicationOrderIsByPathWithNumbersByValue) {
  Update u = parse_update(json(R"({"$set": {"b": 1, "a.10": 1, "a.9": 1, "a.b": 1}})"));
  ASSERT_EQ(u.ops.size(), 4u);
  EXPECT_EQ(u.ops[0].path.dotted, "a.9");
  EXPECT_EQ(u.ops[1].path.dotted, "a.10");
  EXPECT_EQ(u.ops[2].path.dotted, "a.b");
  EXPECT_EQ(u.ops[3].path.dotted, "b");
}

TEST(QueryUpdate, SetPadsAndCreates) {
  EXPECT_EQ(update(R"({"$set": {"a.3": 1}})", R"({"_id": "1", "a": [0]})"),
            json(R"({"_id": "1", "a": [0, null, null, 1]})"));
  EXPECT_EQ(update(R"({"$set": {"a.0": 4}})", R"({"_id": "1"})"),
            json(R"({"_id": "1", "a": {"0": 4}})"));
  EXPECT_EQ(update(R"({"$set": {"a.b.c": 4}})", R"({"_id": "1", "a": {}})"),
            json(R"({"_id": "1", "a": {"b": {"c": 4}}})"));
}

TEST(QueryUpdate, LeadingZeroIsNoArrayIndex) {
  EXPECT_THROW(update(R"({"$set": {"a.01": 1}})", R"({"_id": "1", "a": [0, 0]})"), Error);
  EXPECT_EQ(update(R"({"$set": {"a.01": 1}})", R"({"_id": "1", "a": {}})"),
            json(R"({"_id": "1", "a": {"01": 1}})"));
}

TEST(QueryUpdate, PathNotViableNamesIdAndPath) {
  std::string m = update_error(R"({"$set": {"a.f": 1}})", R"({"_id": "doc7", "a": [1]})");
  EXPECT_TRUE(contains(m, "\"doc7\"")) << m;
  EXPECT_TRUE(contains(m, "Cannot create field 'f'")) << m;
  EXPECT_TRUE(contains(m, "'a.f'")) << m;
  m = update_error(R"({"$set": {"a.b": 1}})", R"({"_id": "x", "a": 4})");
  EXPECT_TRUE(contains(m, "Cannot create field 'b' in element {a: 4}")) << m;
}

TEST(QueryUpdate, IncTypesAndOverflow) {
  EXPECT_EQ(update(R"({"$inc": {"n": 2}})", R"({"_id": "1", "n": 1})"),
            json(R"({"_id": "1", "n": 3})"));
  EXPECT_TRUE(update(R"({"$inc": {"n": 1}})", R"({"_id": "1", "n": 1.5})").find("n")->is_double());
  EXPECT_TRUE(update(R"({"$inc": {"n": 1.0}})", R"({"_id": "1", "n": 1})").find("n")->is_double());
  std::string m =
      update_error(R"({"$inc": {"n": 1}})", R"({"_id": "big", "n": 9223372036854775807})");
  EXPECT_TRUE(contains(m, "\"big\"") && contains(m, "'n'") && contains(m, "overflow")) << m;
  m = update_error(R"({"$inc": {"s.t": 1}})", R"({"_id": "k", "s": {"t": "str"}})");
  EXPECT_TRUE(contains(m, "non-numeric") && contains(m, "'s.t'") && contains(m, "\"k\"")) << m;
  EXPECT_TRUE(
      contains(update_error(R"({"$inc": {"n": 1}})", R"({"_id": "1", "n": null})"), "non-numeric"));
  EXPECT_TRUE(contains(parse_error(R"({"$inc": {"n": "1"}})"), "$inc needs a number"));
}

TEST(QueryUpdate, PushModifiersInOrder) {
  EXPECT_EQ(update(R"({"$push": {"a": {"$each": [3, 4], "$position": 0, "$sort": -1,
                                        "$slice": 3}}})",
                   R"({"_id": "1", "a": [5, 1]})"),
            json(R"({"_id": "1", "a": [5, 4, 3]})"));
  EXPECT_EQ(update(R"({"$push": {"a": [1]}})", R"({"_id": "1"})"),
            json(R"({"_id": "1", "a": [[1]]})"));
  std::string m = update_error(R"({"$push": {"a": 1}})", R"({"_id": "p", "a": 3})");
  EXPECT_TRUE(contains(m, "The field 'a' must be an array but is of type int")) << m;
  EXPECT_TRUE(contains(m, "\"p\"")) << m;
  EXPECT_TRUE(contains(parse_error(R"({"$push": {"a": {"$each": [1], "$bad": 1}}})"), "$bad"));
}

TEST(QueryUpdate, PullForms) {
  EXPECT_EQ(update(R"({"$pull": {"a": {"$gte": 2}}})", R"({"_id": "1", "a": [1, 2, 3]})"),
            json(R"({"_id": "1", "a": [1]})"));
  EXPECT_EQ(update(R"({"$pull": {"a": {"b": 1}}})",
                   R"({"_id": "1", "a": [{"b": 1, "c": 1}, {"b": 2}, 1]})"),
            json(R"({"_id": "1", "a": [{"b": 2}, 1]})"));
  EXPECT_EQ(update(R"({"$pull": {"a": [1, 2]}})", R"({"_id": "1", "a": [[1, 2], [2, 1]]})"),
            json(R"({"_id": "1", "a": [[2, 1]]})"));
  Update u = parse_update(json(R"({"$pull": {"a": {"$in": [1]}, "b": {"c": 1}, "d": 5}})"));
  ASSERT_EQ(u.ops.size(), 3u);
  EXPECT_TRUE(u.ops[0].pull_by_condition && u.ops[0].pull_value_form);
  EXPECT_TRUE(u.ops[1].pull_by_condition && !u.ops[1].pull_value_form);
  EXPECT_FALSE(u.ops[2].pull_by_condition);
  EXPECT_TRUE(contains(update_error(R"({"$pull": {"a": 1}})", R"({"_id": "1", "a": 1})"),
                       "Cannot apply $pull to a non-array value"));
}

TEST(QueryUpdate, ConflictsAndIdRules) {
  EXPECT_TRUE(contains(parse_error(R"({"$set": {"a": 1}, "$inc": {"a.b": 1}})"),
                       "would create a conflict at 'a'"));
  EXPECT_TRUE(contains(parse_error(R"({"$set": {"a.b": 1}, "$unset": {"a.b": 1}})"), "conflict"));
  EXPECT_NO_THROW(parse_update(json(R"({"$set": {"a.b": 1, "a.bc": 1}})")));
  std::string m = update_error(R"({"$set": {"_id": "2"}})", R"({"_id": "1"})");
  EXPECT_TRUE(contains(m, "immutable field '_id'")) << m;
  m = update_error(R"({"$unset": {"_id": 1}})", R"({"_id": "1"})");
  EXPECT_TRUE(contains(m, "immutable field '_id'")) << m;
  EXPECT_EQ(update(R"({"$set": {"_id": "1", "a": 1}})", R"({"_id": "1"})"),
            json(R"({"_id": "1", "a": 1})"));
}

TEST(QueryUpdate, Replacements) {
  Update r = parse_update(json(R"({"b": 1})"), /*replacement_only=*/true);
  EXPECT_TRUE(r.is_replacement);
  EXPECT_EQ(apply_update(r, json(R"({"_id": "1", "a": 1})")), json(R"({"_id": "1", "b": 1})"));
  EXPECT_TRUE(parse_update(json(R"({"b": 1})")).is_replacement);
  Update other_id = parse_update(json(R"({"_id": "2"})"), true);
  try {
    (void)apply_update(other_id, json(R"({"_id": "1"})"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "(immutable) field '_id' was found to have been altered"))
        << e.what();
  }
  EXPECT_THROW(parse_update(json(R"({"$set": {"a": 1}})"), true), Error);
  EXPECT_TRUE(contains(parse_error(R"({"$set": {"a": 1}, "b": 1})"), "'b'"));
  EXPECT_TRUE(contains(parse_error(R"({"$min": {"a": 1}})"), "unknown update operator $min"));
  EXPECT_TRUE(contains(parse_error(R"([1])"), "must be an object"));
}

TEST(QueryUpdate, EmptyOperandIsANoOp) {
  EXPECT_EQ(update(R"({"$set": {}, "$unset": {}})", R"({"_id": "1", "a": 1})"),
            json(R"({"_id": "1", "a": 1})"));
}

TEST(QueryUpsert, DocumentFromFilterAndUpdate) {
  FilterNode f = parse_filter(json(R"({"a.b": 1, "c": {"$gt": 5}, "$and": [{"d": 2}],
                                       "e": {"$eq": 3}, "_id": "n"})"));
  Value doc = upsert_document(f, parse_update(json(R"({"$inc": {"n": 1}})")));
  EXPECT_EQ(doc, json(R"({"_id": "n", "a": {"b": 1}, "d": 2, "e": 3, "n": 1})"));
  Value repl = upsert_document(f, parse_update(json(R"({"z": 1})"), true));
  EXPECT_EQ(repl, json(R"({"_id": "n", "z": 1})"));
  Value no_id = upsert_document(parse_filter(json(R"({"a": 1})")),
                                parse_update(json(R"({"$set": {"b": 1}})")));
  EXPECT_EQ(no_id, json(R"({"a": 1, "b": 1})"));
}

// {"p": {"p": ... {"leaf": 1}}}: `levels` nested objects in all (the value itself is one).
Value nested(int levels) {
  Value v{{"leaf", 1}};
  for (int i = 1; i < levels; ++i) v = Value{{"p", std::move(v)}};
  return v;
}

std::string dotted_p(int parts) {
  std::string path = "p";
  for (int i = 1; i < parts; ++i) path += ".p";
  return path;
}

// An update may not build a document deeper than Value::parse reads back: every value was
// shallow enough on its own, but $set put one deep inside another.
TEST(QueryUpdate, ResultDeeperThanParseReadsIsRefused) {
  Value doc{{"_id", "deep"}, {"a", nested(200)}};
  Value upd{{"$set", Value{{dotted_p(100), nested(200)}}}};
  try {
    (void)apply_update(parse_update(upd), doc);
    ADD_FAILURE() << "a document nested 300 levels was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_TRUE(contains(e.what(), "_id \"deep\"")) << e.what();
    EXPECT_TRUE(contains(e.what(), "deeper than 256 levels")) << e.what();
  }
  // $push and the array padding of $set nest too.
  Value pushed{{"$push", Value{{dotted_p(100), nested(200)}}}};
  EXPECT_THROW((void)apply_update(parse_update(pushed), doc), Error);
  // Up to the limit is fine, and what is stored reads back: the value set at 56 components
  // sits at level 57 and its innermost object at level 256.
  Value ok{{"$set", Value{{dotted_p(56), nested(200)}}}};
  Value out = apply_update(parse_update(ok), doc);
  EXPECT_EQ(Value::parse(out.to_json()), out);
  Value too_deep{{"$set", Value{{dotted_p(57), nested(200)}}}};
  EXPECT_THROW((void)apply_update(parse_update(too_deep), doc), Error);
  // A replacement is checked as a whole as well.
  EXPECT_THROW((void)apply_update(parse_update(Value{{"x", nested(256)}}, true), doc), Error);
  EXPECT_NO_THROW((void)apply_update(parse_update(Value{{"x", nested(255)}}, true), doc));
}

// The upsert's document comes from the filter's equalities; a path matched twice (or with its
// prefix) leaves it ambiguous, and MongoDB refuses it (NotSingleValueField, code 54) rather
// than letting one value win.
TEST(QueryUpsert, PathMatchedTwiceIsAnError) {
  const Update set_x = parse_update(json(R"({"$set": {"x": 1}})"));
  auto upsert_error = [&](const std::string& filter) {
    try {
      (void)upsert_document(parse_filter(json(filter)), set_x);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument) << filter;
      return std::string(e.what());
    }
    ADD_FAILURE() << "no error for " << filter;
    return std::string();
  };
  std::string twice = upsert_error(R"({"_id": "u", "$and": [{"a": 1}, {"a": 2}]})");
  EXPECT_TRUE(contains(twice, "path 'a' is matched twice")) << twice;
  EXPECT_TRUE(contains(upsert_error(R"({"_id": "u", "$and": [{"a": 1}, {"a": 1}]})"),
                       "path 'a' is matched twice"));
  EXPECT_TRUE(contains(upsert_error(R"({"_id": "u", "a": 1, "$and": [{"a": {"$eq": 1}}]})"),
                       "path 'a' is matched twice"));
  std::string prefix = upsert_error(R"({"_id": "u", "a": {"b": 1}, "a.c": 2})");
  EXPECT_TRUE(contains(prefix, "'a'") && contains(prefix, "'a.c'")) << prefix;
  EXPECT_TRUE(contains(upsert_error(R"({"$and": [{"a.c": 2}], "a": {"b": 1}})"), "'a.c'"));
  // Sibling paths and conditions other than equality are no conflict.
  EXPECT_EQ(upsert_document(parse_filter(json(R"({"_id": "u", "a.b": 1, "a.c": 2,
                                                  "d": {"$gt": 1}, "$and": [{"d": 5}]})")),
                            set_x),
            json(R"({"_id": "u", "a": {"b": 1, "c": 2}, "d": 5, "x": 1})"));
}

TEST(QueryUpdate, NullUpdateReadsWell) {
  std::string null_update = parse_error("null");
  EXPECT_TRUE(contains(null_update, "an update must be an object, got null")) << null_update;
  EXPECT_FALSE(contains(null_update, "null null")) << null_update;
  std::string null_fields = parse_error(R"({"$set": null})");
  EXPECT_TRUE(contains(null_fields, "$set needs an object of fields, got null")) << null_fields;
  EXPECT_FALSE(contains(null_fields, "null null")) << null_fields;
}

}  // namespace
}  // namespace sddb::query
