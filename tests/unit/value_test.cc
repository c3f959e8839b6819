#include "sddb/value.h"

#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace sddb
