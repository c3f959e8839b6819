// parse_filter: the tree it builds (what backend compilers read) and its error messages.

#include <gtest/gtest.h>

#include <string>

#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"
#include "sddb/value.h"

namespace sddb::query {
namespace {

using Kind = FilterNode::Kind;

// The message of the invalid_argument error `text` raises as a filter; fails the test when it
// parses or raises anything else.
std::string parse_error(const std::string& text) {
  try {
    (void)parse_filter(json(text));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument) << text;
    return e.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

TEST(QueryFilterParse, EmptyFilterIsAlways) {
  EXPECT_EQ(parse_filter(json("{}")).kind, Kind::always);
}

TEST(QueryFilterParse, ImplicitEqualityOnDottedPath) {
  FilterNode n = parse_filter(json(R"({"a.b.0": 5})"));
  EXPECT_EQ(n.kind, Kind::compare);
  EXPECT_EQ(n.op, CompareOp::eq);
  ASSERT_EQ(n.path.parts.size(), 3u);
  EXPECT_EQ(n.path.dotted, "a.b.0");
  EXPECT_FALSE(n.path.is_index(0));
  EXPECT_TRUE(n.path.is_index(2));
  EXPECT_EQ(n.operand, Value(5));
}

TEST(QueryFilterParse, SeveralFieldsAreAnAnd) {
  FilterNode n = parse_filter(json(R"({"a": 1, "b": {"$gt": 2, "$lt": 5}})"));
  ASSERT_EQ(n.kind, Kind::and_);
  ASSERT_EQ(n.children.size(), 2u);
  EXPECT_EQ(n.children[1].kind, Kind::and_);
  EXPECT_EQ(n.children[1].children[0].op, CompareOp::gt);
  EXPECT_EQ(n.children[1].children[1].op, CompareOp::lt);
}

TEST(QueryFilterParse, NegationsAreNotNodes) {
  FilterNode ne = parse_filter(json(R"({"a": {"$ne": 5}})"));
  ASSERT_EQ(ne.kind, Kind::not_);
  EXPECT_EQ(ne.children.at(0).kind, Kind::compare);
  FilterNode nin = parse_filter(json(R"({"a": {"$nin": [1, 2]}})"));
  ASSERT_EQ(nin.kind, Kind::not_);
  EXPECT_EQ(nin.children.at(0).kind, Kind::in);
  FilterNode nt = parse_filter(json(R"({"a": {"$not": {"$gt": 1}}})"));
  ASSERT_EQ(nt.kind, Kind::not_);
  EXPECT_EQ(nt.children.at(0).kind, Kind::compare);
  EXPECT_EQ(nt.children.at(0).op, CompareOp::gt);
}

TEST(QueryFilterParse, InSeparatesRegexes) {
  FilterNode n = parse_filter(json(
      R"({"a": {"$in": [1, {"$regularExpression": {"pattern": "^x", "options": "i"}}, null]}})"));
  ASSERT_EQ(n.kind, Kind::in);
  EXPECT_EQ(n.operand, json("[1, null]"));
  ASSERT_EQ(n.regexes.size(), 1u);
  EXPECT_EQ(n.regexes[0].pattern, "^x");
  EXPECT_EQ(n.regexes[0].options, "i");
  EXPECT_NE(n.regexes[0].compiled, nullptr);
}

TEST(QueryFilterParse, TypeAliases) {
  FilterNode n = parse_filter(json(R"({"a": {"$type": ["number", 2, "long", "date"]}})"));
  ASSERT_EQ(n.kind, Kind::type);
  EXPECT_EQ(n.types, (std::vector<std::string>{"int", "double", "string"}));
}

TEST(QueryFilterParse, ElemMatchForms) {
  FilterNode value = parse_filter(json(R"({"a": {"$elemMatch": {"$gt": 1, "$lt": 5}}})"));
  ASSERT_EQ(value.kind, Kind::elem_match);
  EXPECT_TRUE(value.elem_value_form);
  ASSERT_EQ(value.children.size(), 2u);
  EXPECT_TRUE(value.children[0].path.empty());
  FilterNode doc = parse_filter(json(R"({"a": {"$elemMatch": {"b": 1, "c": {"$gt": 1}}}})"));
  ASSERT_EQ(doc.kind, Kind::elem_match);
  EXPECT_FALSE(doc.elem_value_form);
  ASSERT_EQ(doc.children.size(), 2u);
  EXPECT_EQ(doc.children[0].path.dotted, "b");
  FilterNode logical = parse_filter(json(R"({"a": {"$elemMatch": {"$or": [{"b": 1}]}}})"));
  EXPECT_FALSE(logical.elem_value_form);
}

TEST(QueryFilterParse, RegexWithOptionsBesideIt) {
  FilterNode n = parse_filter(json(R"({"a": {"$regex": "^x", "$options": "xsimu"}})"));
  ASSERT_EQ(n.kind, Kind::regex);
  ASSERT_EQ(n.regexes.size(), 1u);
  EXPECT_EQ(n.regexes[0].options, "xsim");  // u is accepted and dropped
}

TEST(QueryFilterParse, AllAndSize) {
  FilterNode all = parse_filter(json(R"({"a": {"$all": [1, [2]]}})"));
  ASSERT_EQ(all.kind, Kind::all);
  EXPECT_EQ(all.children.size(), 2u);
  FilterNode size = parse_filter(json(R"({"a": {"$size": 3.0}})"));
  ASSERT_EQ(size.kind, Kind::size);
  EXPECT_EQ(size.operand, Value(3));
}

TEST(QueryFilterParse, ExistsReadsTruth) {
  EXPECT_EQ(parse_filter(json(R"({"a": {"$exists": 0}})")).operand, Value(false));
  EXPECT_EQ(parse_filter(json(R"({"a": {"$exists": 1}})")).operand, Value(true));
  EXPECT_EQ(parse_filter(json(R"({"a": {"$exists": null}})")).operand, Value(false));
}

TEST(QueryFilterErrors, MessagesNameThePathAndOperator) {
  EXPECT_EQ(parse_error(R"({"a.b": {"$size": -1}})"),
            "filter path 'a.b': $size needs a whole number, got -1");
  EXPECT_EQ(parse_error(R"({"a": {"$foo": 1}})"), "unknown operator $foo at 'a'");
  EXPECT_NE(parse_error(R"({"$and": []})").find("$and needs a non-empty array of objects"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"$or": [1]})").find("$or needs a non-empty array of objects"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$size": "2"}})").find("$size needs a number"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$size": 2.5}})").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error(R"({"x.y": {"$in": 5}})").find("filter path 'x.y': $in needs an array"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$not": 5}})").find("$not needs a regex or a document"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$not": {}}})").find("$not"), std::string::npos);
  EXPECT_NE(parse_error(R"({"$foo": 1})").find("unknown top-level operator $foo"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a..b": 1})").find("'a..b' has an empty component"), std::string::npos);
  EXPECT_NE(parse_error(R"([1])").find("filter must be an object"), std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$elemMatch": 3}})").find("$elemMatch needs an object"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$type": "foo"}})").find("unknown type name 'foo'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$options": "i"}})").find("$options needs a $regex"),
            std::string::npos);
}

TEST(QueryFilterErrors, NestedErrorsNameTheInnerPath) {
  EXPECT_NE(parse_error(R"({"$or": [{"a": 1}, {"q.r": {"$size": -3}}]})").find("'q.r'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$elemMatch": {"b": {"$bad": 1}}}})").find("$bad"),
            std::string::npos);
}

TEST(QueryFilterErrors, BadRegexesAreRejectedAtParseTime) {
  std::string bad_pattern = parse_error(R"({"p.q": {"$regex": "(unclosed"}})");
  EXPECT_NE(bad_pattern.find("filter path 'p.q'"), std::string::npos) << bad_pattern;
  EXPECT_NE(bad_pattern.find("(unclosed"), std::string::npos) << bad_pattern;
  std::string bad_option = parse_error(R"({"a": {"$regex": "x", "$options": "g"}})");
  EXPECT_NE(bad_option.find("unknown option 'g'"), std::string::npos) << bad_option;
  EXPECT_NE(parse_error(R"({"a": {"$regex": 5}})").find("$regex needs a string"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"a": {"$in": [{"$regex": "x"}]}})").find("operator object"),
            std::string::npos);
}

TEST(QueryRegex, OptionsAndPcreReading) {
  EXPECT_TRUE(regex_search(make_regex("^ab", "i", "t"), "ABc"));
  EXPECT_FALSE(regex_search(make_regex("^ab", "", "t"), "ABc"));
  EXPECT_TRUE(regex_search(make_regex("^b$", "m", "t"), "a\nb\nc"));
  EXPECT_FALSE(regex_search(make_regex("^b$", "", "t"), "a\nb\nc"));
  EXPECT_TRUE(regex_search(make_regex("a.c", "s", "t"), "a\nc"));
  EXPECT_FALSE(regex_search(make_regex("a.c", "", "t"), "a\nc"));
  // s leaves dots inside classes and escaped dots alone.
  EXPECT_FALSE(regex_search(make_regex("a[.]c", "s", "t"), "a\nc"));
  EXPECT_FALSE(regex_search(make_regex("a\\.c", "s", "t"), "a\nc"));
  // x drops whitespace and comments outside classes, keeps escaped and class whitespace.
  EXPECT_TRUE(regex_search(make_regex("^a b  c # note\n d$", "x", "t"), "abcd"));
  EXPECT_TRUE(regex_search(make_regex("^a\\ b$", "x", "t"), "a b"));
  EXPECT_TRUE(regex_search(make_regex("^a[ #]b$", "x", "t"), "a#b"));
  EXPECT_TRUE(regex_search(make_regex("^a[]x]b$", "x", "t"), "a]b"));
  // PCRE's reading: '$' also before a final newline, '.' also matches '\r'.
  EXPECT_TRUE(regex_search(make_regex("b$", "", "t"), "ab\n"));
  EXPECT_FALSE(regex_search(make_regex("b$", "", "t"), "ab\nc"));
  EXPECT_TRUE(regex_search(make_regex("a.b", "", "t"), "a\rb"));
  EXPECT_FALSE(regex_search(make_regex("a.b", "", "t"), "a\nb"));
  EXPECT_TRUE(regex_search(make_regex("a\\$", "", "t"), "a$"));
  EXPECT_THROW(make_regex("[", "", "t"), Error);
  // PCRE syntax that std::regex lacked, read as MongoDB reads it.
  EXPECT_TRUE(regex_search(make_regex("(?i)abc", "", "t"), "xABC"));
  EXPECT_TRUE(regex_search(make_regex("(?<=a)b", "", "t"), "ab"));
  EXPECT_FALSE(regex_search(make_regex("(?<=a)b", "", "t"), "cb"));
  EXPECT_FALSE(regex_search(make_regex("^a++a", "", "t"), "aaa"));  // possessive: no giving back
  EXPECT_TRUE(regex_search(make_regex("\\Aab\\z", "", "t"), "ab"));
  EXPECT_FALSE(regex_search(make_regex("\\Aab\\z", "", "t"), "ab\n"));
  EXPECT_TRUE(regex_search(make_regex("^\\p{L}+$", "", "t"), "caf\xC3\xA9"));
  EXPECT_FALSE(regex_search(make_regex("^\\p{L}+$", "", "t"), "cafe1"));
  EXPECT_TRUE(regex_search(make_regex("^(?<year>\\d{4})-\\k<year>$", "", "t"), "2024-2024"));
  EXPECT_TRUE(regex_search(make_regex("a\\hb", "", "t"), "a\tb"));
  // UTF-8: one character is one '.', and i folds beyond ASCII.
  EXPECT_TRUE(regex_search(make_regex("^caf.$", "", "t"), "caf\xC3\xA9"));
  EXPECT_TRUE(regex_search(make_regex("^\xC3\x89T\xC3\x89$", "i", "t"), "\xC3\xA9t\xC3\xA9"));
  // A string that is not UTF-8 is searched, not an error.
  EXPECT_TRUE(regex_search(make_regex("b", "", "t"),
                           "a\xFF"
                           "b"));
  EXPECT_FALSE(regex_search(make_regex("^a.b$", "", "t"),
                            "a\xFF"
                            "b"));
  EXPECT_TRUE(regex_search(make_regex("^a+?b??c*?$", "", "t"), "aac"));
  EXPECT_TRUE(regex_search(make_regex("[+*]+", "", "t"), "+"));
  EXPECT_TRUE(regex_search(make_regex("\\d\\w\\s\\x41\\x{42}", "", "t"), "1_ AB"));
  EXPECT_THROW(make_regex("a", "l", "t"), Error);
  // \C could split a UTF-8 character, and \u is not PCRE: both are refused.
  EXPECT_THROW(make_regex("a\\Cb", "", "t"), Error);
  EXPECT_THROW(make_regex("\\u0042", "", "t"), Error);
}

// std::regex recursed once per character and overflowed the stack on long strings.
TEST(QueryRegex, LongStringsDoNotCrash) {
  const Value doc{{"_id", "1"}, {"s", std::string(20000, 'a')}};
  EXPECT_FALSE(matches(parse_filter(json(R"({"s": {"$regex": "(a|b)*c"}})")), doc));
  EXPECT_TRUE(matches(parse_filter(json(R"({"s": {"$regex": "^(a|b)*$"}})")), doc));
  EXPECT_TRUE(matches(parse_filter(json(R"({"s": {"$regex": "^(a|b)*?$"}})")), doc));
  EXPECT_TRUE(matches(parse_filter(json(R"({"s": {"$regex": "^(?:a|b)*a$"}})")), doc));
  const std::string huge(1'000'000, 'a');
  EXPECT_TRUE(regex_search(make_regex("^a*$", "", "t"), huge));
  EXPECT_FALSE(regex_search(make_regex("(a|b)*c", "", "t"), huge));
  // A group repeated a million times needs that deep a backtracking record: past the depth
  // limit this is an error, never a crash.
  try {
    EXPECT_TRUE(regex_search(make_regex("^(a|b)*$", "", "t"), huge));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
  }
}

// A pattern that backtracks without end stops at PCRE2's match limit with an error naming the
// path, rather than hanging the process.
TEST(QueryRegex, CatastrophicBacktrackingIsAnError) {
  const Value doc{{"_id", "1"}, {"p", Value{{"q", std::string(40, 'a') + "!"}}}};
  const FilterNode f = parse_filter(json(R"({"p.q": {"$regex": "^(a+)+$"}})"));
  try {
    (void)matches(f, doc);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    const std::string m = e.what();
    EXPECT_NE(m.find("filter path 'p.q'"), std::string::npos) << m;
    EXPECT_NE(m.find("/^(a+)+$/"), std::string::npos) << m;
    EXPECT_NE(m.find("limit"), std::string::npos) << m;
  }
  // The same pattern on a short string is an ordinary answer.
  EXPECT_FALSE(matches(f, Value{{"p", Value{{"q", "aaa!"}}}}));
  EXPECT_TRUE(matches(f, Value{{"p", Value{{"q", "aaa"}}}}));
}

TEST(QueryRegex, CompiledOnceAndSharedByCopies) {
  FilterNode n = parse_filter(json(R"({"a": {"$regex": "x"}})"));
  FilterNode copy = n;
  EXPECT_EQ(copy.regexes.at(0).compiled.get(), n.regexes.at(0).compiled.get());
}

TEST(QueryPath, MakePath) {
  Path p = make_path("a.10.b", "test path");
  EXPECT_EQ(p.parts, (std::vector<std::string>{"a", "10", "b"}));
  EXPECT_TRUE(p.is_index(1));
  EXPECT_FALSE(p.is_index(3));
  EXPECT_THROW(make_path("", "test path"), Error);
  EXPECT_THROW(make_path("a.", "test path"), Error);
  EXPECT_THROW(make_path(".a", "test path"), Error);
}

}  // namespace
}  // namespace sddb::query
