// The generator and the reference of the backends' differential tests
// (tests/unit/sqlite_differential_test.cc, tests/postgres/postgres_differential_test.cc): random
// documents (nested objects, arrays, nulls, numbers, strings, booleans), filters, sorts and
// updates, and the ids query::matches accepts over the same documents. Both backends are tested
// on the same kinds of input.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/data_backend.h"
#include "sddb/error.h"
#include "sddb/query.h"

namespace sddb::testutil {

class Gen {
 public:
  explicit Gen(std::uint32_t seed) : rng_(seed) {}

  int below(int n) { return static_cast<int>(rng_() % static_cast<std::uint32_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }

  std::string key() {
    // Mostly short keys so that paths meet; now and then one that a JSON path must quote or
    // escape, or cannot name at all ('"').
    static const char* kKeys[] = {"a", "b", "c", "0", "1"};
    static const char* kOdd[] = {"a b", "\xc3\xa9", "k\\", "q\"", "01", "$x"};
    if (below(40) == 0) return kOdd[below(6)];
    return kKeys[below(5)];
  }

  Value scalar() {
    switch (below(9)) {
      case 0:
        return Value();
      case 1:
        return Value(below(5) - 1);
      case 2:
        return Value(static_cast<double>(below(5) - 1));  // 1.0 equals 1
      case 3:
        return Value(static_cast<double>(below(9)) / 2 - 1);
      case 4: {
        static const char* kStrings[] = {"", "a", "ab", "b", "A", "ba", "1"};
        return Value(kStrings[below(7)]);
      }
      case 5:
        return Value(chance(50));
      case 6:
        return Value(below(3));
      case 7:
        return Value("x");
      default:
        return Value(2);
    }
  }

  Value value(int depth) {
    const int r = below(10);
    if (depth <= 0 || r < 5) return scalar();
    if (r < 8) {
      Array arr;
      const int n = below(4);
      for (int i = 0; i < n; ++i) arr.push_back(value(depth - 1));
      return Value(std::move(arr));
    }
    Value obj = Value::object();
    const int n = below(3) + 1;
    for (int i = 0; i < n; ++i) obj.set(key(), value(depth - 1));
    return obj;
  }

  Document doc(int i) {
    Value d{{"_id", "d" + std::to_string(1000 + i)}};
    const int n = below(4);
    for (int k = 0; k < n; ++k) d.set(key(), value(3));
    return d;
  }

  std::string path() {
    std::string p = key();
    const int extra = below(3);
    for (int i = 0; i < extra; ++i) p += "." + key();
    return p;
  }

  Value operand() { return chance(80) ? scalar() : value(2); }

  Value regex() {
    static const char* kPatterns[] = {"^a", "b$", "a", "^$", "^A", "1"};
    Value r{{"$regex", kPatterns[below(6)]}};
    if (chance(30)) r.set("$options", "i");
    return r;
  }

  // An operator object for one path ({$gt: 1, ...}); `value_form` when it tests the value
  // itself (inside $elemMatch).
  Value ops(int depth) {
    Value o = Value::object();
    const int n = below(2) + 1;
    for (int i = 0; i < n; ++i) {
      switch (below(15)) {
        case 0:
          o.set("$eq", operand());
          break;
        case 1:
          o.set("$ne", operand());
          break;
        case 2:
          o.set("$gt", operand());
          break;
        case 3:
          o.set("$gte", operand());
          break;
        case 4:
          o.set("$lt", operand());
          break;
        case 5:
          o.set("$lte", operand());
          break;
        case 6:
        case 7: {
          Array items;
          const int k = below(3) + (chance(10) ? 0 : 1);
          for (int j = 0; j < k; ++j) items.push_back(operand());
          o.set(chance(60) ? "$in" : "$nin", Value(std::move(items)));
          break;
        }
        case 8:
          o.set("$exists", chance(50));
          break;
        case 9: {
          static const char* kTypes[] = {"null",   "bool",  "int",    "double",
                                         "string", "array", "object", "number"};
          o.set("$type", kTypes[below(8)]);
          break;
        }
        case 10:
          o.set("$size", below(3));
          break;
        case 11: {
          Array items;
          const int k = below(3);
          for (int j = 0; j < k; ++j) items.push_back(scalar());
          o.set("$all", Value(std::move(items)));
          break;
        }
        case 12:
          if (depth > 0) {
            o.set("$elemMatch", chance(50) ? ops(depth - 1) : filter(depth - 1));
          } else {
            o.set("$exists", true);
          }
          break;
        case 13: {
          Value r = regex();
          for (auto& [k, v] : r.as_object()) o.set(k, v);
          break;
        }
        default:
          if (depth > 0) {
            Value inner = ops(depth - 1);
            // $not takes an operator object but not $regex's companion $options alone.
            o.set("$not", inner);
          } else {
            o.set("$eq", operand());
          }
          break;
      }
    }
    return o;
  }

  Value filter(int depth) {
    Value f = Value::object();
    const int n = below(2) + 1;
    for (int i = 0; i < n; ++i) {
      const int r = below(10);
      if (depth > 0 && r == 0) {
        Array kids;
        const int k = below(2) + 1;
        for (int j = 0; j < k; ++j) kids.push_back(filter(depth - 1));
        static const char* kLogic[] = {"$and", "$or", "$nor"};
        f.set(kLogic[below(3)], Value(std::move(kids)));
      } else if (r < 4) {
        f.set(path(), operand());
      } else {
        f.set(path(), ops(depth));
      }
    }
    return f;
  }

  Find sorted_find(const Value& filter) {
    Find f = Collection("docs").find(filter);
    const int keys = below(2) + 1;
    for (int i = 0; i < keys; ++i) f.sort_keys.push_back({path(), chance(50) ? 1 : -1});
    f.skip_n = chance(50) ? 0 : below(4);
    f.limit_n = chance(30) ? 0 : below(6);
    return f;
  }

  Value update() {
    Value u = Value::object();
    switch (below(4)) {
      case 0:
        u.set("$set", Value{{path(), value(2)}});
        break;
      case 1:
        u.set("$unset", Value{{key(), ""}});
        break;
      case 2:
        u.set("$inc", Value{{"n", below(3)}});
        break;
      default:
        u.set("$push", Value{{"p", scalar()}});
        break;
    }
    return u;
  }

 private:
  std::mt19937 rng_;
};

// What a find gave: the ids in order, or an error.
struct Outcome {
  bool error = false;
  std::vector<std::string> ids;
};

// The evaluator's answer over `docs`.
inline Outcome reference(const std::vector<Document>& docs, const Value& filter) {
  Outcome out;
  query::FilterNode node;
  try {
    node = query::parse_filter(filter);
  } catch (const Error&) {
    out.error = true;
    return out;
  }
  for (const Document& d : docs) {
    if (query::matches(node, d)) out.ids.push_back(d.find("_id")->as_string());
  }
  return out;
}

// The backend's answer; its count must agree with its find.
inline Outcome backend(DataBackend& data, const Value& filter) {
  Outcome out;
  try {
    for (const Document& d : data.find(Collection("docs").find(filter)).to_vector()) {
      out.ids.push_back(d.find("_id")->as_string());
    }
    const std::int64_t n = data.count(Count{"docs", filter});
    if (n != static_cast<std::int64_t>(out.ids.size())) {
      ADD_FAILURE() << "count " << n << " but find returned " << out.ids.size() << " for "
                    << filter.to_json();
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::internal) ADD_FAILURE() << "internal error: " << e.what();
    out.error = true;
  }
  return out;
}

}  // namespace sddb::testutil
