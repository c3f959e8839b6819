#include "sddb/value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/document.h"
#include "sddb/error.h"

namespace sddb {
namespace {

TEST(Value, KeepsIntAndDoubleApart) {
  Value v = Value::parse(R"({"i": 1, "d": 1.0, "e": 2e3, "n": -0})");
  EXPECT_TRUE(v.find("i")->is_int());
  EXPECT_TRUE(v.find("d")->is_double());
  EXPECT_TRUE(v.find("e")->is_double());
  EXPECT_EQ(v.to_json(), R"({"i":1,"d":1.0,"e":2000.0,"n":0})");
}

TEST(Value, KeepsMemberOrder) {
  Value v = Value::parse(R"({"b": 1, "a": 2})");
  EXPECT_EQ(v.to_json(), R"({"b":1,"a":2})");
  EXPECT_NE(Value::parse(R"({"a":2,"b":1})"), v);
}

TEST(Value, RoundTripsStringsAndEscapes) {
  const std::string text = R"(["a\"b\\c\n\u0001","é","\ud83d\ude00"])";
  Value v = Value::parse(text);
  EXPECT_EQ(v.as_array()[1].as_string(), "é");
  EXPECT_EQ(v.as_array()[2].as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(Value::parse(v.to_json()), v);
}

TEST(Value, DoublesRoundTripExactly) {
  for (double d : {0.1, 1e300, -2.5e-300, 123456789.125, 1.0 / 3}) {
    Value v(d);
    EXPECT_EQ(Value::parse(v.to_json()).as_double(), d) << v.to_json();
  }
}

TEST(Value, ErrorsNameLineAndColumn) {
  try {
    Value::parse("{\n  \"a\": tru\n}", "line 7 of x.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("line 7 of x.jsonl at line 2 column 8"), std::string::npos)
        << e.what();
  }
}

TEST(Value, RejectsWhatJsonDoesNotAllow) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "nul", "\"\\x\"", "\"\x01\"",
                          "{\"a\":1,\"a\":2}", "1 2", "\"\xC0\xAF\"", "\"\\ud800\"",
                          "99999999999999999999", "1e999"}) {
    EXPECT_THROW(Value::parse(bad), Error) << bad;
  }
  std::string deep(300, '[');
  EXPECT_THROW(Value::parse(deep), Error);
}

TEST(Value, NanHasNoJsonForm) { EXPECT_THROW(Value(std::nan("")).to_json(), Error); }

TEST(Value, BuildsObjectsFromInitializerLists) {
  Value v{{"section", "graphics"}, {"size", Value{{"$gt", 10}}}};
  EXPECT_EQ(v.to_json(), R"({"section":"graphics","size":{"$gt":10}})");
  v["x"].push_back(1);
  EXPECT_EQ(v.find("x")->to_json(), "[1]");
  EXPECT_TRUE(v.erase("x"));
  EXPECT_FALSE(v.contains("x"));
}

}  // namespace
}  // namespace sddb

namespace sddb {
namespace {

// The serializer scans eight bytes at a time; check it against a byte-at-a-time reading for
// strings with escapes at every offset.
TEST(Value, EscapesAtEveryOffsetRoundTrip) {
  const std::string specials = std::string("\"\\\n\x01\x1f", 5) + "\x7f" + "\xc3\xa9";
  for (std::size_t len = 0; len < 40; ++len) {
    for (char special : specials) {
      for (std::size_t pos = 0; pos < len; ++pos) {
        std::string s(len, 'a');
        s[pos] = special;
        if (static_cast<unsigned char>(special) >= 0x80) continue;  // half a UTF-8 sequence
        const std::string json = Value(s).to_json();
        EXPECT_EQ(Value::parse(json).as_string(), s) << json;
        // Exactly the specials are escaped: plain bytes come through unchanged.
        const bool escaped =
            special == '"' || special == '\\' || static_cast<unsigned char>(special) < 0x20;
        EXPECT_EQ(json.size(),
                  len + 2 + (escaped ? (special == '\x01' || special == '\x1f' ? 5 : 1) : 0))
            << json;
      }
    }
  }
}

TEST(Value, UnsignedIntegersAndSizes) {
  std::vector<int> items(3);
  EXPECT_EQ(Value(items.size()), Value(3));
  EXPECT_TRUE(Value(std::size_t{7}).is_int());
  EXPECT_EQ(Value(std::uint64_t{42}).as_int(), 42);
  EXPECT_EQ(Value(3ull).as_int(), 3);
  constexpr auto kMax = static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(Value(kMax).as_int(), std::numeric_limits<std::int64_t>::max());
  // Above INT64_MAX is an error, not a negative number.
  try {
    Value v(kMax + 1);
    ADD_FAILURE() << "stored as " << v.to_json();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("9223372036854775808"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Value(std::numeric_limits<std::size_t>::max()), Error);
}

// {"a": {"a": ...}}: `levels` nested objects, the value itself included.
Value nested_objects(int levels) {
  Value v = Value::object();
  for (int i = 1; i < levels; ++i) v = Value{{"a", std::move(v)}};
  return v;
}

// What check_document lets through, parse reads back: both stop at Value::kMaxDepth.
TEST(Value, ParseAndCheckDocumentShareTheDepthLimit) {
  const int max = Value::kMaxDepth;
  EXPECT_NO_THROW(Value::parse(std::string(max, '[') + std::string(max, ']')));
  EXPECT_THROW(Value::parse(std::string(max + 1, '[') + std::string(max + 1, ']')), Error);

  Value deepest = nested_objects(max);
  EXPECT_NO_THROW(detail::check_document(deepest, "test"));
  EXPECT_EQ(Value::parse(deepest.to_json()), deepest);

  Value too_deep = nested_objects(max + 1);
  EXPECT_THROW(Value::parse(too_deep.to_json()), Error);
  try {
    detail::check_document(too_deep, "test");
    ADD_FAILURE() << "a document nested " << max + 1 << " levels was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("deeper than 256 levels"), std::string::npos) << e.what();
  }
  // Arrays count as levels too, and a 300-deep document built in C++ is refused.
  Value arrays = Value::object();
  Value inner = Value::array();
  for (int i = 1; i < max; ++i) inner = Value(Array{std::move(inner)});
  arrays.set("a", inner);  // the document, then `max` arrays
  EXPECT_THROW(detail::check_document(arrays, "test"), Error);
  EXPECT_THROW(detail::check_document(nested_objects(300), std::size_t{3}, "docs"), Error);
}

}  // namespace
}  // namespace sddb

namespace sddb {
namespace {

// The parser skips plain ASCII eight bytes at a time; UTF-8 checks and escapes must still apply
// wherever they fall inside such a block.
TEST(Value, ParserChecksEveryOffset) {
  for (std::size_t len = 1; len < 24; ++len) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      std::string s(len, 'a');
      std::string good = s;
      good.replace(pos, 1, "\xc3\xa9");
      EXPECT_EQ(Value::parse("\"" + good + "\"").as_string(), good);
      std::string bad = s;
      bad[pos] = '\xff';
      EXPECT_THROW(Value::parse("\"" + bad + "\""), Error) << pos;
      std::string control = s;
      control[pos] = '\x02';
      EXPECT_THROW(Value::parse("\"" + control + "\""), Error) << pos;
      std::string escaped = s;
      escaped.replace(pos, 1, "\\n");
      EXPECT_EQ(Value::parse("\"" + escaped + "\"").as_string().find('\n'), pos);
      EXPECT_THROW(Value::parse("\"" + s.substr(0, pos)), Error);  // unterminated
    }
  }
}

}  // namespace
}  // namespace sddb
