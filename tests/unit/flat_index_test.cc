// The "inmemory://" VectorSearch (exact flat index) against a double-precision brute-force
// reference, and its contract: score conventions, ties, within, add/remove/get, validation,
// save/load and rejection of damaged blobs, concurrent readers and writers.

#include "vector/flat_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sddb/error.h"
#include "sddb/vector_search.h"
#include "testing/errors.h"
#include "vector/inmemory.h"

namespace sddb::detail {
namespace {

using testutil::code_of;
using Results = std::vector<std::pair<std::string, double>>;

constexpr Measure kMeasures[] = {Measure::cosine, Measure::dot, Measure::l2};

// sddb::to_string(Measure) lives in the DB layer; a local name keeps this test to sddb_vector.
std::string name(Measure m) {
  return m == Measure::cosine ? "cosine" : m == Measure::dot ? "dot" : "l2";
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// The score of the header's conventions in double precision, and how far a float32 computation
// may be from it (relative to the sums of absolute terms, as the distance kernel tests do).
struct Ref {
  double score, tol;
};

Ref reference(Measure m, const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, abs_dot = 0, l2 = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    dot += x * y;
    abs_dot += std::fabs(x * y);
    l2 += (x - y) * (x - y);
    na += x * x;
    nb += y * y;
  }
  const double eps = 8.0 * static_cast<double>(a.size()) * std::ldexp(1.0, -24) + 1e-12;
  switch (m) {
    case Measure::dot:
      return {dot, eps * abs_dot + 1e-9};
    case Measure::l2: {
      const double d = std::sqrt(l2);
      // |sqrt(x + e) - sqrt(x)| <= sqrt(e)
      return {-d, std::sqrt(eps * l2) + 1e-9};
    }
    case Measure::cosine:
      if (na == 0 || nb == 0) return {0.0, 1e-12};
      return {dot / std::sqrt(na * nb), eps * abs_dot / std::sqrt(na * nb) + 1e-6};
  }
  return {};
}

std::vector<float> random_vector(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(dim);
  for (float& x : v) x = g(rng);
  return v;
}

std::shared_ptr<VectorSearch> make() {
  auto vs = make_inmemory_vector_search();
  EXPECT_NE(vs, nullptr);
  return vs;
}

TEST(FlatIndex, Uri) { EXPECT_EQ(make()->uri(), "inmemory://"); }

// Every measure, many dims, against brute force in double: the same scores within rounding, best
// first, and nothing better left out.
TEST(FlatIndex, MatchesBruteForceReference) {
  std::mt19937 rng(7);
  for (std::size_t dim : {1u, 2u, 7u, 100u, 784u}) {
    for (Measure m : kMeasures) {
      auto vs = make();
      vs->create_index("v", dim, m);
      const std::size_t n_rows = dim >= 784 ? 700 : 2500;  // crosses the 1024-row scan blocks
      std::vector<std::string> ids;
      std::vector<std::vector<float>> vecs;
      for (std::size_t i = 0; i < n_rows; ++i) {
        ids.push_back("id" + std::to_string(i));
        vecs.push_back(random_vector(rng, dim));
      }
      vecs[3].assign(dim, 0.0f);  // a zero vector scores 0 under cosine
      vs->add("v", ids, vecs);
      ASSERT_EQ(vs->size("v"), n_rows);
      std::map<std::string, std::size_t> row_of;
      for (std::size_t i = 0; i < n_rows; ++i) row_of[ids[i]] = i;

      for (int qi = 0; qi < 5; ++qi) {
        const std::vector<float> q = random_vector(rng, dim);
        std::vector<double> ref_sorted;
        double max_tol = 0;
        for (const auto& v : vecs) {
          const Ref r = reference(m, q, v);
          ref_sorted.push_back(r.score);
          max_tol = std::max(max_tol, r.tol);
        }
        std::sort(ref_sorted.rbegin(), ref_sorted.rend());
        for (std::size_t n : {1u, 10u, 100u}) {
          SCOPED_TRACE("dim " + std::to_string(dim) + " measure " + name(m) + " n " +
                       std::to_string(n));
          const Results got = vs->search("v", q, n);
          ASSERT_EQ(got.size(), std::min<std::size_t>(n, n_rows));
          std::set<std::string> seen;
          for (std::size_t i = 0; i < got.size(); ++i) {
            ASSERT_TRUE(seen.insert(got[i].first).second) << "duplicate " << got[i].first;
            const Ref r = reference(m, q, vecs[row_of.at(got[i].first)]);
            EXPECT_NEAR(got[i].second, r.score, r.tol);
            EXPECT_NEAR(got[i].second, ref_sorted[i], max_tol);
            if (i > 0) {
              EXPECT_GE(got[i - 1].second, got[i].second);
            }
          }
        }
      }
      // The zero vector against itself and anything: cosine 0.
      if (m == Measure::cosine) {
        const std::vector<std::string> only{"id3"};
        const Results got = vs->search("v", vecs[0], 1, &only);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].second, 0.0);
        const Results zero_q = vs->search("v", std::vector<float>(dim, 0.0f), 3);
        for (const auto& [id, s] : zero_q) EXPECT_EQ(s, 0.0);
      }
    }
  }
}

TEST(FlatIndex, ExactScoresOnSmallIntegers) {
  auto vs = make();
  for (Measure m : kMeasures) {
    vs->create_index(name(m), 2, m);
    vs->add(name(m), {"a", "b"}, {{3, 4}, {0, 2}});
  }
  const std::vector<float> q{3, 0};
  EXPECT_EQ(vs->search("dot", q, 5), (Results{{"a", 9.0}, {"b", 0.0}}));
  EXPECT_EQ(vs->search("l2", q, 5), (Results{{"b", -std::sqrt(13.0)}, {"a", -4.0}}));
  const Results c = vs->search("cosine", q, 5);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].first, "a");
  EXPECT_NEAR(c[0].second, 0.6, 1e-7);
  EXPECT_EQ(c[1], (std::pair<std::string, double>{"b", 0.0}));
}

// The seed's test: equal distances keep the order the vectors were added in.
TEST(FlatIndex, SuperDuperDbFirstAddedWinsTies) {
  for (Measure m : kMeasures) {
    auto vs = make();
    vs->create_index("v", 3, m);
    vs->add("v", {"e3", "e2", "e1"}, {{0, 0, 1}, {0, 1, 0}, {1, 0, 0}});
    const Results got = vs->search("v", {0, 0.5f, 0.5f}, 3);
    ASSERT_EQ(got.size(), 3u) << name(m);
    EXPECT_EQ(got[0].first, "e3") << name(m);
    EXPECT_EQ(got[1].first, "e2") << name(m);
    EXPECT_EQ(got[2].first, "e1") << name(m);
    EXPECT_EQ(got[0].second, got[1].second) << name(m);
    EXPECT_EQ(vs->search("v", {0, 0.5f, 0.5f}, 1)[0].first, "e3") << name(m);
  }
}

TEST(FlatIndex, TiesBrokenByInsertionOrderAcrossBlocksAndWithin) {
  for (Measure m : kMeasures) {
    auto vs = make();
    vs->create_index("v", 4, m);
    std::vector<std::string> ids;
    std::vector<std::vector<float>> vecs;
    for (int i = 0; i < 3000; ++i) {
      ids.push_back("t" + std::to_string(i));
      vecs.push_back({1, 2, 3, 4});
    }
    // A single better vector late in the scan.
    ids.push_back("best");
    vecs.push_back({2, 4, 6, 8.5f});
    vs->add("v", ids, vecs);
    const std::vector<float> q{1, 2, 3, 4.25f};
    const Results got = vs->search("v", q, 6);
    ASSERT_EQ(got.size(), 6u);
    std::vector<std::string> tied;
    for (const auto& [id, s] : got) {
      if (id != "best") tied.push_back(id);
    }
    for (std::size_t i = 0; i < tied.size(); ++i) EXPECT_EQ(tied[i], "t" + std::to_string(i));

    // Within lists candidates in any order, possibly repeated; ties still follow insertion.
    const std::vector<std::string> within{"t2900", "t17", "t5", "nope", "t17", "t1200"};
    const Results w = vs->search("v", q, 10, &within);
    ASSERT_EQ(w.size(), 4u) << name(m);
    EXPECT_EQ(w[0].first, "t5");
    EXPECT_EQ(w[1].first, "t17");
    EXPECT_EQ(w[2].first, "t1200");
    EXPECT_EQ(w[3].first, "t2900");
  }
}

TEST(FlatIndex, Within) {
  auto vs = make();
  vs->create_index("v", 2, Measure::l2);
  vs->add("v", {"a", "b", "c", "d"}, {{0, 0}, {1, 0}, {2, 0}, {3, 0}});
  const std::vector<float> q{0, 0};
  const std::vector<std::string> subset{"d", "b", "missing"};
  EXPECT_EQ(vs->search("v", q, 10, &subset), (Results{{"b", -1.0}, {"d", -3.0}}));
  EXPECT_EQ(vs->search("v", q, 1, &subset), (Results{{"b", -1.0}}));
  const std::vector<std::string> empty;
  EXPECT_TRUE(vs->search("v", q, 10, &empty).empty());
  const std::vector<std::string> none{"x", "y"};
  EXPECT_TRUE(vs->search("v", q, 10, &none).empty());
  EXPECT_TRUE(vs->search("v", q, 0, &subset).empty());
  EXPECT_TRUE(vs->search("v", q, 0).empty());
}

TEST(FlatIndex, AddReplacesRemoveGetIdsSize) {
  auto vs = make();
  vs->create_index("v", 2, Measure::dot);
  EXPECT_EQ(vs->size("v"), 0u);
  EXPECT_TRUE(vs->search("v", {1, 1}, 5).empty());
  vs->add("v", {"a", "b", "c"}, {{1, 0}, {2, 0}, {3, 0}});
  EXPECT_EQ(vs->size("v"), 3u);
  vs->add("v", {"a"}, {{10, 0}});
  EXPECT_EQ(vs->size("v"), 3u);
  EXPECT_EQ(vs->get("v", "a"), (std::vector<float>{10, 0}));
  EXPECT_EQ(vs->search("v", {1, 0}, 1), (Results{{"a", 10.0}}));
  // A repeated id within one call: the last vector wins.
  vs->add("v", {"d", "d"}, {{4, 0}, {5, 0}});
  EXPECT_EQ(vs->size("v"), 4u);
  EXPECT_EQ(vs->get("v", "d"), (std::vector<float>{5, 0}));

  vs->remove("v", {"b", "nope", "b"});
  EXPECT_EQ(vs->size("v"), 3u);
  EXPECT_FALSE(vs->get("v", "b").has_value());
  EXPECT_FALSE(vs->get("v", "nope").has_value());
  std::vector<std::string> ids = vs->ids("v");
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_EQ(vs->search("v", {1, 0}, 10), (Results{{"a", 10.0}, {"d", 5.0}, {"c", 3.0}}));
  vs->remove("v", {"a", "c", "d"});
  EXPECT_EQ(vs->size("v"), 0u);
  EXPECT_TRUE(vs->search("v", {1, 0}, 10).empty());
  vs->add("v", {"e"}, {{1, 1}});
  EXPECT_EQ(vs->search("v", {1, 0}, 10), (Results{{"e", 1.0}}));
}

// Random adds, replaces and removes against a map: swap-with-last keeps every id's vector.
TEST(FlatIndex, RandomOperationsAgainstAMap) {
  std::mt19937 rng(11);
  for (Measure m : kMeasures) {
    auto vs = make();
    vs->create_index("v", 5, m);
    std::map<std::string, std::vector<float>> model;
    for (int step = 0; step < 2000; ++step) {
      const std::string id = "k" + std::to_string(rng() % 200);
      if (rng() % 3 == 0) {
        vs->remove("v", {id});
        model.erase(id);
      } else {
        const std::vector<float> v = random_vector(rng, 5);
        vs->add("v", {id}, {v});
        model[id] = v;
      }
    }
    ASSERT_EQ(vs->size("v"), model.size());
    for (const auto& [id, v] : model) EXPECT_EQ(vs->get("v", id), v);
    std::vector<std::string> ids = vs->ids("v");
    std::sort(ids.begin(), ids.end());
    std::vector<std::string> want;
    for (const auto& [id, v] : model) want.push_back(id);
    EXPECT_EQ(ids, want);
    const std::vector<float> q = random_vector(rng, 5);
    const Results got = vs->search("v", q, model.size() + 10);
    ASSERT_EQ(got.size(), model.size());
    for (const auto& [id, s] : got) {
      const Ref r = reference(m, q, model.at(id));
      EXPECT_NEAR(s, r.score, r.tol);
    }
  }
}

TEST(FlatIndex, NLargerThanSize) {
  auto vs = make();
  vs->create_index("v", 1, Measure::l2);
  vs->add("v", {"a", "b"}, {{1}, {2}});
  EXPECT_EQ(vs->search("v", {0}, 1000).size(), 2u);
  EXPECT_EQ(vs->search("v", {0}, std::numeric_limits<std::size_t>::max()).size(), 2u);
}

TEST(FlatIndex, DimensionErrorsNameBothDimensions) {
  auto vs = make();
  vs->create_index("v", 4, Measure::cosine);
  vs->add("v", {"keep"}, {{1, 2, 3, 4}});
  const std::string add_msg = message_of([&] {
    vs->add("v", {"ok", "bad"}, {{1, 1, 1, 1}, {1, 2, 3}});
  });
  EXPECT_NE(add_msg.find("'bad'"), std::string::npos) << add_msg;
  EXPECT_NE(add_msg.find('3'), std::string::npos) << add_msg;
  EXPECT_NE(add_msg.find('4'), std::string::npos) << add_msg;
  EXPECT_EQ(code_of([&] {
              vs->add("v", {"ok", "bad"}, {{1, 1, 1, 1}, {1, 2, 3}});
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(vs->size("v"), 1u);
  EXPECT_FALSE(vs->get("v", "ok").has_value());

  const std::string q_msg = message_of([&] { vs->search("v", {1, 2, 3, 4, 5, 6, 7}, 1); });
  EXPECT_NE(q_msg.find('7'), std::string::npos) << q_msg;
  EXPECT_NE(q_msg.find('4'), std::string::npos) << q_msg;
  EXPECT_EQ(code_of([&] { vs->search("v", {}, 1); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              vs->add("v", {"a", "b"}, {{1, 2, 3, 4}});
            }),
            ErrorCode::invalid_argument);
}

TEST(FlatIndex, NonFiniteValuesRefusedAndNothingAdded) {
  auto vs = make();
  vs->create_index("v", 3, Measure::l2);
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (float x : bad) {
    EXPECT_EQ(code_of([&] {
                vs->add("v", {"ok", "bad"}, {{1, 2, 3}, {1, x, 3}});
              }),
              ErrorCode::invalid_argument);
    EXPECT_EQ(vs->size("v"), 0u);
    EXPECT_EQ(code_of([&] { vs->search("v", {x, 0, 0}, 1); }), ErrorCode::invalid_argument);
  }
  const std::string msg = message_of([&] { vs->add("v", {"bad"}, {{1, 2, bad[0]}}); });
  EXPECT_NE(msg.find("'bad'"), std::string::npos) << msg;
}

TEST(FlatIndex, CreateDropHasIndexAndMissingIndexes) {
  auto vs = make();
  EXPECT_FALSE(vs->has_index("v"));
  EXPECT_EQ(code_of([&] { vs->create_index("v", 0, Measure::l2); }), ErrorCode::invalid_argument);
  vs->create_index("v", 3, Measure::l2);
  vs->add("v", {"a"}, {{1, 2, 3}});
  vs->create_index("v", 3, Measure::l2);  // same: nothing changes
  EXPECT_EQ(vs->size("v"), 1u);
  const std::string dim_msg = message_of([&] { vs->create_index("v", 5, Measure::l2); });
  EXPECT_NE(dim_msg.find('3'), std::string::npos) << dim_msg;
  EXPECT_NE(dim_msg.find('5'), std::string::npos) << dim_msg;
  const std::string m_msg = message_of([&] { vs->create_index("v", 3, Measure::cosine); });
  EXPECT_NE(m_msg.find("l2"), std::string::npos) << m_msg;
  EXPECT_NE(m_msg.find("cosine"), std::string::npos) << m_msg;
  EXPECT_EQ(code_of([&] { vs->create_index("v", 3, Measure::dot); }), ErrorCode::invalid_argument);
  EXPECT_TRUE(vs->has_index("v"));
  EXPECT_EQ(vs->size("v"), 1u);

  vs->drop_index("v");
  vs->drop_index("v");
  EXPECT_FALSE(vs->has_index("v"));
  EXPECT_EQ(code_of([&] { vs->size("v"); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { vs->add("v", {"a"}, {{1, 2, 3}}); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { vs->remove("v", {"a"}); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { vs->get("v", "a"); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { vs->ids("v"); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { vs->search("v", {1, 2, 3}, 1); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { vs->save("v"); }), ErrorCode::not_found);
  vs->create_index("v", 5, Measure::cosine);  // a dropped name can come back with other settings
  EXPECT_EQ(vs->size("v"), 0u);
}

TEST(FlatIndex, SaveLoadRoundTripIsExact) {
  std::mt19937 rng(3);
  for (Measure m : kMeasures) {
    for (std::size_t dim : {1u, 7u, 100u}) {
      auto vs = make();
      vs->create_index("v", dim, m);
      std::vector<std::string> ids;
      std::vector<std::vector<float>> vecs;
      for (int i = 0; i < 300; ++i) {
        ids.push_back(i % 7 == 0 ? std::string("bin\0ary", 7) + std::to_string(i)
                                 : "id" + std::to_string(i));
        vecs.push_back(random_vector(rng, dim));
      }
      ids.push_back("");  // the empty id is an id too
      vecs.push_back(random_vector(rng, dim));
      vs->add("v", ids, vecs);
      vs->remove("v", {"id5", "id100", "id299"});
      const std::string bytes = vs->save("v");

      auto other = make();
      other->load("w", bytes);
      EXPECT_TRUE(other->has_index("w"));
      EXPECT_EQ(other->size("w"), vs->size("v"));
      EXPECT_EQ(other->save("w"), bytes);
      EXPECT_EQ(code_of([&] { other->create_index("w", dim + 1, m); }),
                ErrorCode::invalid_argument);
      other->create_index("w", dim, m);
      for (const std::string& id : vs->ids("v")) EXPECT_EQ(other->get("w", id), vs->get("v", id));
      for (int qi = 0; qi < 3; ++qi) {
        const std::vector<float> q = random_vector(rng, dim);
        EXPECT_EQ(other->search("w", q, 20), vs->search("v", q, 20));
      }
      // load replaces an index of that name whatever it was.
      vs->create_index("x", 2, Measure::dot);
      vs->load("x", bytes);
      EXPECT_EQ(vs->save("x"), bytes);
    }
  }
  auto vs = make();
  vs->create_index("empty", 9, Measure::cosine);
  const std::string empty = vs->save("empty");
  vs->load("e2", empty);
  EXPECT_EQ(vs->size("e2"), 0u);
  EXPECT_EQ(code_of([&] { vs->create_index("e2", 9, Measure::l2); }), ErrorCode::invalid_argument);
}

// Rewrites the trailing checksum so a hand-made blob reaches the structural checks.
std::string reseal(std::string bytes) {
  const std::uint64_t h = flat_index_checksum(std::string_view(bytes).substr(0, bytes.size() - 8));
  for (int b = 0; b < 8; ++b)
    bytes[bytes.size() - 8 + b] = static_cast<char>((h >> (8 * b)) & 0xff);
  return bytes;
}

void put_u64_at(std::string& s, std::size_t at, std::uint64_t v) {
  for (int b = 0; b < 8; ++b) s[at + b] = static_cast<char>((v >> (8 * b)) & 0xff);
}

TEST(FlatIndex, LoadRejectsDamagedBytesAndChangesNothing) {
  auto vs = make();
  vs->create_index("small", 2, Measure::cosine);
  vs->add("small", {"ab", "cd", "ef"}, {{1, 2}, {3, 4}, {5, 6}});
  const std::string good = vs->save("small");
  ASSERT_EQ(good.size(), 32u + 3 * 6 + 3 * 2 * 4 + 8);

  vs->create_index("t", 3, Measure::l2);
  vs->add("t", {"x", "y"}, {{1, 2, 3}, {4, 5, 6}});
  const std::string before = vs->save("t");
  auto expect_rejected = [&](const std::string& bytes, const std::string& what) {
    for (const char* target : {"t", "fresh"}) {
      const std::string msg = message_of([&] { vs->load(target, bytes); });
      EXPECT_EQ(code_of([&] { vs->load(target, bytes); }), ErrorCode::invalid_argument) << what;
      EXPECT_FALSE(msg.empty()) << what;
    }
    EXPECT_EQ(vs->save("t"), before) << what;
    EXPECT_FALSE(vs->has_index("fresh")) << what;
  };

  for (std::size_t len = 0; len < good.size(); ++len) {
    expect_rejected(good.substr(0, len), "truncated to " + std::to_string(len));
  }
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (int mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      expect_rejected(bad, "byte " + std::to_string(i) + " ^ " + std::to_string(mask));
    }
  }
  expect_rejected(good + "x", "trailing byte");

  // Structural damage under a valid checksum. Layout: magic 0..7, version 8, measure 12, dim 16,
  // count 24, then (u32 length, bytes) per id, then the floats.
  auto with = [&](auto edit) {
    std::string s = good;
    edit(s);
    return reseal(s);
  };
  ASSERT_EQ(reseal(good), good);
  expect_rejected(with([](std::string& s) { s[8] = 2; }), "version 2");
  expect_rejected(with([](std::string& s) { s[12] = 3; }), "measure 3");
  expect_rejected(with([](std::string& s) { put_u64_at(s, 16, 0); }), "dim 0");
  expect_rejected(with([](std::string& s) { put_u64_at(s, 16, 3); }), "dim 3");
  expect_rejected(with([](std::string& s) { put_u64_at(s, 16, 1ULL << 62); }), "dim 2^62");
  expect_rejected(with([](std::string& s) { put_u64_at(s, 24, 4); }), "count 4");
  expect_rejected(with([](std::string& s) { put_u64_at(s, 24, 2); }), "count 2");
  expect_rejected(with([](std::string& s) { put_u64_at(s, 24, ~0ULL); }), "count max");
  expect_rejected(with([](std::string& s) { s[32] = 100; }), "id length past the end");
  expect_rejected(with([](std::string& s) { s[32 + 6 + 4] = 'a', s[32 + 6 + 5] = 'b'; }),
                  "duplicate id");
  const std::string dup_msg = message_of(
      [&] { vs->load("fresh", with([](std::string& s) { s[42] = 'a', s[43] = 'b'; })); });
  EXPECT_NE(dup_msg.find("duplicate"), std::string::npos) << dup_msg;
  for (float x :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    expect_rejected(with([x](std::string& s) { std::memcpy(&s[s.size() - 12], &x, 4); }),
                    "non-finite float");
  }
  std::string trailing = good;
  trailing.insert(trailing.size() - 8, "\0\0\0\0", 4);
  expect_rejected(reseal(trailing), "4 trailing bytes");
  std::string magic = good;
  magic[0] = 'X';
  const std::string magic_msg = message_of([&] { vs->load("fresh", reseal(magic)); });
  EXPECT_NE(magic_msg.find("magic"), std::string::npos) << magic_msg;
}

// One thread searches while another adds and removes: every search sees a consistent index.
TEST(FlatIndex, ConcurrentSearchAndAdd) {
  auto vs = make();
  vs->create_index("v", 16, Measure::cosine);
  std::mt19937 rng(5);
  for (int i = 0; i < 200; ++i)
    vs->add("v", {"base" + std::to_string(i)}, {random_vector(rng, 16)});
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::mt19937 wrng(6);
    for (int i = 0; i < 2000; ++i) {
      const std::string id = "w" + std::to_string(i % 100);
      if (i % 3 == 2) {
        vs->remove("v", {id});
      } else {
        vs->add("v", {id}, {random_vector(wrng, 16)});
      }
    }
    done = true;
  });
  std::mt19937 rrng(7);
  int searches = 0;
  while (!done || searches < 100) {
    const Results got = vs->search("v", random_vector(rrng, 16), 10);
    ASSERT_EQ(got.size(), 10u);
    for (std::size_t i = 1; i < got.size(); ++i) ASSERT_GE(got[i - 1].second, got[i].second);
    ++searches;
  }
  writer.join();
  EXPECT_GE(vs->size("v"), 200u);
}

// --- the hnsw-backed index through the same VectorSearch --------------------------------------

IndexOptions hnsw_options() {
  IndexOptions o;
  o.type = IndexOptions::Type::hnsw;
  return o;
}

TEST(HnswSearch, AddRemoveGetIdsAndScoresFollowTheConventions) {
  auto vs = make();
  for (Measure m : kMeasures) {
    const std::string index = "h-" + name(m);
    vs->create_index(index, 3, m, hnsw_options());
    vs->create_index(index, 3, m, hnsw_options());  // same: nothing changes
    EXPECT_EQ(code_of([&] { vs->create_index(index, 3, m); }), ErrorCode::invalid_argument);
    IndexOptions other = hnsw_options();
    other.m = 8;
    const std::string msg = message_of([&] { vs->create_index(index, 3, m, other); });
    EXPECT_NE(msg.find("m 16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("m 8"), std::string::npos) << msg;

    const std::vector<float> a{1, 2, 3}, b{-1, 0.5f, 2}, c{3, -1, 0};
    vs->add(index, {"a", "b", "c"}, {a, b, c});
    EXPECT_EQ(vs->size(index), 3u);
    EXPECT_EQ(vs->get(index, "b"), b);
    EXPECT_EQ(vs->get(index, "zz"), std::nullopt);
    const std::vector<float> q{0.5f, 1, -0.25f};
    Results got = vs->search(index, q, 3);
    ASSERT_EQ(got.size(), 3u);
    for (const auto& [id, score] : got) {
      const Ref r = reference(m, q, *vs->get(index, id));
      EXPECT_NEAR(score, r.score, 1e-4 + r.tol) << name(m) << " " << id;
    }
    EXPECT_GE(got[0].second, got[1].second);
    EXPECT_GE(got[1].second, got[2].second);

    // Bad vectors change nothing.
    EXPECT_EQ(code_of([&] {
                vs->add(index, {"d", "e"}, {{1, 1, 1}, {1, 1}});
              }),
              ErrorCode::invalid_argument);
    EXPECT_EQ(code_of([&] {
                vs->add(index, {"d"}, {{1, std::numeric_limits<float>::quiet_NaN(), 1}});
              }),
              ErrorCode::invalid_argument);
    EXPECT_EQ(code_of([&] { vs->search(index, {1, 2}, 1); }), ErrorCode::invalid_argument);
    EXPECT_EQ(vs->size(index), 3u);

    // Replace and remove.
    vs->add(index, {"a"}, {c});
    EXPECT_EQ(vs->get(index, "a"), c);
    EXPECT_EQ(vs->size(index), 3u);
    vs->remove(index, {"c", "nope"});
    EXPECT_EQ(vs->size(index), 2u);
    auto all = vs->ids(index);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, (std::vector<std::string>{"a", "b"}));
    got = vs->search(index, c, 5);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].first, "a");
    EXPECT_TRUE(vs->search(index, c, 0).empty());
  }
  IndexOptions bad = hnsw_options();
  bad.m = 1;
  EXPECT_EQ(code_of([&] { vs->create_index("bad", 3, Measure::l2, bad); }),
            ErrorCode::invalid_argument);
  EXPECT_FALSE(vs->has_index("bad"));
}

// A large add to an hnsw index holds the index in pieces: searches run between them and see
// the rows added so far (a size strictly between before and after), each one whole. Before,
// the whole batch held every index, and no read could see a size in between.
TEST(HnswSearch, ReadsRunBetweenThePiecesOfALargeAdd) {
  auto vs = make();
  constexpr std::size_t kDim = 16, kBase = 500, kBatch = 30000;
  vs->create_index("v", kDim, Measure::l2, hnsw_options());
  vs->create_index("other", kDim, Measure::l2, hnsw_options());
  std::mt19937 rng(11);
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
  for (std::size_t i = 0; i < kBase + kBatch; ++i) {
    ids.push_back("r" + std::to_string(i));
    vectors.push_back(random_vector(rng, kDim));
  }
  vs->add("v", {ids.begin(), ids.begin() + kBase}, {vectors.begin(), vectors.begin() + kBase});
  vs->add("other", {ids.begin(), ids.begin() + kBase}, {vectors.begin(), vectors.begin() + kBase});
  const std::vector<std::string> batch_ids(ids.begin() + kBase, ids.end());
  const std::vector<std::vector<float>> batch(vectors.begin() + kBase, vectors.end());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    vs->add("v", batch_ids, batch);
    done = true;
  });
  std::set<std::size_t> sizes_between;
  std::size_t reads_between = 0, other_searches = 0;
  std::mt19937 rrng(12);
  while (!done) {
    const Results got = vs->search("v", random_vector(rrng, kDim), 10);
    ASSERT_EQ(got.size(), 10u);
    for (const auto& [id, score] : got) {
      // A row found is whole: its stored vector is the one added, and its score agrees.
      const auto v = vs->get("v", id);
      ASSERT_TRUE(v.has_value()) << id;
      ASSERT_EQ(*v, vectors[std::stoul(id.substr(1))]) << id;
    }
    const std::size_t n = vs->size("v");
    if (n > kBase && n < kBase + kBatch) {
      sizes_between.insert(n);
      ++reads_between;
    }
    // Another index is not held by this index's add at all.
    ASSERT_EQ(vs->search("other", random_vector(rrng, kDim), 3).size(), 3u);
    ++other_searches;
  }
  writer.join();
  EXPECT_EQ(vs->size("v"), kBase + kBatch);
  EXPECT_GE(sizes_between.size(), 2u) << reads_between << " reads between pieces";
  EXPECT_GE(other_searches, 2u);
  // Every row of the batch is found by its own vector once the add returns.
  std::size_t found = 0;
  for (std::size_t i = kBase; i < kBase + kBatch; i += 97) {
    found += vs->search("v", vectors[i], 1).at(0).first == ids[i];
  }
  EXPECT_GE(found, (kBatch / 97) * 95 / 100);
}

// A bad vector anywhere in a large batch is found before the first piece: nothing is added.
TEST(HnswSearch, ABadVectorLateInALargeBatchAddsNothing) {
  auto vs = make();
  constexpr std::size_t kDim = 8, kBatch = 5000;
  vs->create_index("v", kDim, Measure::cosine, hnsw_options());
  std::mt19937 rng(13);
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
  for (std::size_t i = 0; i < kBatch; ++i) {
    ids.push_back("r" + std::to_string(i));
    vectors.push_back(random_vector(rng, kDim));
  }
  vectors[kBatch - 2][3] = std::numeric_limits<float>::infinity();
  const std::string msg = message_of([&] { vs->add("v", ids, vectors); });
  EXPECT_NE(msg.find("'r4998'"), std::string::npos) << msg;
  EXPECT_EQ(vs->size("v"), 0u);
  vectors[kBatch - 1].pop_back();
  vectors[kBatch - 2][3] = 0;
  EXPECT_EQ(code_of([&] { vs->add("v", ids, vectors); }), ErrorCode::invalid_argument);
  EXPECT_EQ(vs->size("v"), 0u);
}

TEST(HnswSearch, WithinSearchAndSaveLoadRoundTrip) {
  auto vs = make();
  constexpr std::size_t kDim = 8, kCount = 600;
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
  for (std::size_t i = 0; i < kCount; ++i) {
    ids.push_back("id" + std::to_string(i));
    std::vector<float> v(kDim);
    for (float& x : v) x = g(rng);
    vectors.push_back(v);
  }
  vs->create_index("h", kDim, Measure::l2, hnsw_options());
  vs->create_index("f", kDim, Measure::l2);
  vs->add("h", ids, vectors);
  vs->add("f", ids, vectors);
  vs->remove("h", {"id7", "id8"});
  vs->remove("f", {"id7", "id8"});

  // Own vectors come first; within gives exactly the allowed ids that are in the index.
  for (std::size_t i : {0u, 100u, 599u}) {
    auto got = vs->search("h", vectors[i], 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, ids[i]);
    EXPECT_NEAR(got[0].second, 0.0, 1e-3);
  }
  std::vector<std::string> within;
  for (std::size_t i = 0; i < kCount; i += 3) within.push_back(ids[i]);
  within.push_back("id7");  // removed
  within.push_back("zz");   // never there
  auto got = vs->search("h", vectors[1], 20, &within);
  ASSERT_EQ(got.size(), 20u);
  const std::set<std::string> allowed(within.begin(), within.end());
  for (const auto& [id, score] : got) {
    EXPECT_TRUE(allowed.contains(id)) << id;
    EXPECT_NE(id, "id7");
  }
  auto exact = vs->search("f", vectors[1], 20, &within);
  int agreed = 0;
  for (const auto& [id, score] : got) {
    agreed += static_cast<int>(
        std::count_if(exact.begin(), exact.end(), [&](const auto& e) { return e.first == id; }));
  }
  EXPECT_GE(agreed, 18);
  const std::vector<std::string> small{"id1", "id2", "id9"};
  EXPECT_EQ(vs->search("h", vectors[0], 10, &small).size(), 3u);
  const std::vector<std::string> none;
  EXPECT_TRUE(vs->search("h", vectors[0], 10, &none).empty());

  const std::string bytes = vs->save("h");
  EXPECT_EQ(bytes.substr(0, 8), "SDDBVIX1");
  EXPECT_EQ(vs->save("f").substr(0, 8), "SDDBFLAT");  // the flat format is unchanged
  auto other = make();
  other->load("h", bytes);
  other->load("f", vs->save("f"));
  EXPECT_EQ(other->size("h"), kCount - 2);
  EXPECT_EQ(other->get("h", "id5"), vectors[5]);
  EXPECT_EQ(other->get("h", "id7"), std::nullopt);
  EXPECT_EQ(other->search("h", vectors[42], 10), vs->search("h", vectors[42], 10));
  EXPECT_EQ(other->search("h", vectors[1], 20, &within), got);
  // The loaded index keeps its options, and new ids get fresh labels.
  other->create_index("h", kDim, Measure::l2, hnsw_options());
  EXPECT_EQ(code_of([&] { other->create_index("h", kDim, Measure::l2); }),
            ErrorCode::invalid_argument);
  other->add("h", {"new"}, {vectors[7]});
  EXPECT_EQ(other->search("h", vectors[7], 1)[0].first, "new");
  EXPECT_EQ(other->get("h", "id5"), vectors[5]);

  // Damaged envelopes are rejected and change nothing.
  for (std::size_t cut : {9u, 40u, static_cast<unsigned>(bytes.size() / 2)}) {
    EXPECT_EQ(code_of([&] { other->load("h", bytes.substr(0, cut)); }), ErrorCode::invalid_argument)
        << cut;
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 3] ^= 0x10;
  EXPECT_EQ(code_of([&] { other->load("h", flipped); }), ErrorCode::invalid_argument);
  EXPECT_EQ(other->size("h"), kCount - 1);
}

// An automatic index with storage u8 refuses a vector that u8 cannot hold while it is still
// exact, and changes nothing; so the add that grows it into hnsw cannot fail on its storage.
TEST(AutoIndex, StorageU8RefusesOtherVectorsBeforeItGrows) {
  auto vs = make();
  IndexOptions o;
  o.type = IndexOptions::Type::automatic;
  o.storage = IndexStorage::u8;
  vs->create_index("a", 4, Measure::l2, o);
  vs->add("a", {"ok"}, {{0, 1, 2, 255}});
  std::string message;
  try {
    vs->add("a", {"x", "bad"}, {{1, 2, 3, 4}, {0, 0.5f, 0, 0}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    message = e.what();
  }
  EXPECT_NE(message.find("'bad'"), std::string::npos) << message;
  EXPECT_NE(message.find("u8"), std::string::npos) << message;
  EXPECT_EQ(vs->size("a"), 1u);
  // The same vectors are fine when the storage is left to the index.
  IndexOptions any = o;
  any.storage = IndexStorage::automatic;
  vs->create_index("b", 4, Measure::l2, any);
  vs->add("b", {"x", "bad"}, {{1, 2, 3, 4}, {0, 0.5f, 0, 0}});
  EXPECT_EQ(vs->size("b"), 2u);
}

TEST(AutoIndex, ExactBelowTheThresholdThenHnswForGood) {
  auto vs = make();
  constexpr std::size_t kDim = 2048;
  const std::size_t n = IndexOptions::auto_hnsw_size(kDim);
  EXPECT_EQ(n, 2048u) << "16 MiB of 2048-float vectors";
  EXPECT_EQ(IndexOptions::auto_hnsw_size(100), 41943u);
  IndexOptions o;
  o.type = IndexOptions::Type::automatic;
  o.m = 4;
  o.ef_construction = 16;
  std::mt19937 rng(11);
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
  for (std::size_t i = 0; i < n; ++i) {
    ids.push_back("v" + std::to_string(i));
    // 8 random numbers repeated: wide vectors of low intrinsic dimension, which a small graph
    // searches well.
    const std::vector<float> p = random_vector(rng, 8);
    std::vector<float> v(kDim);
    for (std::size_t j = 0; j < kDim; ++j) v[j] = p[j % 8];
    vectors.push_back(v);
  }
  IndexOptions bad = o;
  bad.m = 1;
  EXPECT_EQ(code_of([&] { vs->create_index("a", kDim, Measure::l2, bad); }),
            ErrorCode::invalid_argument)
      << "hnsw numbers are checked when the index is made, not when it grows";
  EXPECT_FALSE(vs->has_index("a"));
  vs->create_index("a", kDim, Measure::l2, o);
  vs->add("a", std::vector<std::string>(ids.begin(), ids.end() - 1),
          std::vector<std::vector<float>>(vectors.begin(), vectors.end() - 1));
  const std::string flat_bytes = vs->save("a");
  EXPECT_EQ(flat_bytes.substr(0, 8), "SDDBFLAT") << "exact below the threshold";
  EXPECT_EQ(code_of([&] { vs->create_index("a", kDim, Measure::l2); }),
            ErrorCode::invalid_argument);
  vs->create_index("a", kDim, Measure::l2, o);  // the same request is fine

  vs->add("a", {ids.back()}, {vectors.back()});
  EXPECT_EQ(vs->save("a").substr(0, 8), "SDDBVIX1") << "hnsw from the threshold on";
  EXPECT_EQ(vs->size("a"), n);
  for (std::size_t i : {0u, 777u, 2047u}) {
    auto got = vs->search("a", vectors[i], 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, ids[i]);
  }
  vs->remove("a", std::vector<std::string>(ids.begin(), ids.begin() + n / 2));
  EXPECT_EQ(vs->save("a").substr(0, 8), "SDDBVIX1") << "and it stays hnsw when it shrinks";

  // A loaded snapshot learns that it is automatic, and grows into hnsw at the threshold.
  auto other = make();
  other->load("a", flat_bytes);
  other->create_index("a", kDim, Measure::l2, o);
  other->add("a", {ids.back()}, {vectors.back()});
  EXPECT_EQ(other->save("a").substr(0, 8), "SDDBVIX1");
  // A loaded hnsw index serves automatic requests with its own numbers only.
  auto third = make();
  third->load("a", vs->save("a"));
  IndexOptions other_m = o;
  other_m.m = 8;
  EXPECT_EQ(code_of([&] { third->create_index("a", kDim, Measure::l2, other_m); }),
            ErrorCode::invalid_argument);
  third->create_index("a", kDim, Measure::l2, o);
}

TEST(HnswSearch, CompressedStoragesKeepExactVectorsScoresAndRoundTrip) {
  std::mt19937 rng(12);
  std::vector<std::string> ids;
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < 600; ++i) {
    ids.push_back("d" + std::to_string(i));
    vectors.push_back(random_vector(rng, 24));
  }
  for (IndexStorage storage : {IndexStorage::sq8, IndexStorage::f16}) {
    SCOPED_TRACE(std::string(to_string(storage)));
    auto vs = make();
    IndexOptions o;
    o.type = IndexOptions::Type::hnsw;
    o.storage = storage;
    vs->create_index("c", 24, Measure::cosine, o);
    vs->add("c", ids, vectors);
    // get() returns the vectors as added, scores are the exact cosines.
    EXPECT_EQ(vs->get("c", "d7"), vectors[7]);
    const Results got = vs->search("c", vectors[3], 5);
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0].first, "d3");
    for (const auto& [id, score] : got) {
      const std::vector<float>& v = vectors[std::stoul(id.substr(1))];
      double dot = 0, na = 0, nb = 0;
      for (std::size_t j = 0; j < 24; ++j) {
        dot += double(v[j]) * vectors[3][j];
        na += double(v[j]) * v[j];
        nb += double(vectors[3][j]) * vectors[3][j];
      }
      EXPECT_NEAR(score, dot / std::sqrt(na * nb), 1e-5) << id;
    }
    // Another storage is another index.
    IndexOptions f32 = o;
    f32.storage = IndexStorage::f32;
    EXPECT_NE(message_of([&] {
                vs->create_index("c", 24, Measure::cosine, f32);
              }).find("storage " + std::string(to_string(storage))),
              std::string::npos);
    vs->remove("c", {"d3"});
    const std::string bytes = vs->save("c");
    auto other = make();
    other->load("c", bytes);
    other->create_index("c", 24, Measure::cosine, o);
    EXPECT_EQ(other->size("c"), 599u);
    EXPECT_EQ(other->get("c", "d7"), vectors[7]);
    EXPECT_FALSE(other->get("c", "d3"));
    EXPECT_EQ(other->search("c", vectors[3], 5), vs->search("c", vectors[3], 5));
  }
  EXPECT_EQ(parse_index_storage("sq8"), IndexStorage::sq8);
  EXPECT_EQ(parse_index_storage("auto"), IndexStorage::automatic);
  EXPECT_FALSE(parse_index_storage("float16"));
}

}  // namespace
}  // namespace sddb::detail
