// The conformance runner: every case of tests/conformance/cases/*.json against every target.
// The format is described in tests/conformance/README.md. Each (target, case) pair is one test,
// so a skip can give its reason and a failure names the file and the case.
//
// Targets: "evaluator" (src/query, the reference), "sqlite" (the DB on sqlite://:memory:) and,
// in a build with SDDB_WITH_POSTGRES, "postgres" (the DB on a schema of its own for each case on
// the server of SDDB_TEST_POSTGRES_URI; without the variable those cases skip, saying so).
// SDDB_CONFORMANCE_TARGETS=evaluator (comma-separated) limits the targets;
// SDDB_CONFORMANCE_DIR overrides the folder of case files.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/document.h"
#include "query/evaluator.h"
#include "query/filter.h"
#include "sddb/error.h"
#include "sddb/query.h"
#include "sddb/value.h"

#ifndef SDDB_CONFORMANCE_EVALUATOR_ONLY
#include <sddb/sddb.h>
#endif
#ifdef SDDB_CONFORMANCE_POSTGRES
#include "testing/postgres.h"
#endif

namespace {

using sddb::Array;
using sddb::Document;
using sddb::Value;

constexpr const char* kCollection = "c";
constexpr const char* kVersion = "7.0";

std::string cases_dir() {
  if (const char* env = std::getenv("SDDB_CONFORMANCE_DIR")) return env;
  return SDDB_CONFORMANCE_DIR;
}

std::vector<std::string> targets() {
#ifdef SDDB_CONFORMANCE_EVALUATOR_ONLY
  std::vector<std::string> all = {"evaluator"};
#elif defined(SDDB_CONFORMANCE_POSTGRES)
  std::vector<std::string> all = {"evaluator", "sqlite", "postgres"};
#else
  std::vector<std::string> all = {"evaluator", "sqlite"};
#endif
  const char* env = std::getenv("SDDB_CONFORMANCE_TARGETS");
  if (env == nullptr || *env == '\0') return all;
  std::vector<std::string> chosen;
  std::stringstream in(env);
  std::string t;
  while (std::getline(in, t, ',')) {
    if (std::find(all.begin(), all.end(), t) != all.end()) chosen.push_back(t);
  }
  return chosen;
}

struct FileCases {
  std::string path;
  std::string stem;
  Value body;         // the parsed file; null when it failed to parse
  std::string error;  // why it failed to parse or is malformed
};

const std::vector<FileCases>& all_files() {
  static const std::vector<FileCases> files = [] {
    std::vector<FileCases> out;
    std::vector<std::filesystem::path> paths;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(cases_dir(), ec)) {
      if (entry.path().extension() == ".json") paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      FileCases f;
      f.path = p.string();
      f.stem = p.stem().string();
      std::ifstream in(p, std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      try {
        f.body = Value::parse(text.str(), f.path);
        const Value* version = f.body.find("mongodb_version");
        const Value* cases = f.body.find("cases");
        if (version == nullptr || !version->is_string() || version->as_string() != kVersion) {
          f.error = "the file must record \"mongodb_version\": \"7.0\"";
        } else if (cases == nullptr || !cases->is_array()) {
          f.error = "the file needs a \"cases\" array";
        }
      } catch (const sddb::Error& e) {
        f.error = e.what();
      }
      out.push_back(std::move(f));
    }
    return out;
  }();
  return files;
}

struct CaseParam {
  std::string target;
  std::size_t file = 0;
  std::size_t index = 0;  // case index; SIZE_MAX when the file itself is broken
  std::string name;
};

// gtest prints parameters of failed tests; the default is a byte dump.
void PrintTo(const CaseParam& p, std::ostream* os) {
  *os << p.target << " " << all_files()[p.file].stem << " #" << p.index << " '" << p.name << "'";
}

std::vector<CaseParam> all_params() {
  std::vector<CaseParam> out;
  const auto& files = all_files();
  for (const std::string& target : targets()) {
    for (std::size_t f = 0; f < files.size(); ++f) {
      if (!files[f].error.empty()) {
        out.push_back({target, f, SIZE_MAX, files[f].stem + "_file"});
        continue;
      }
      const Array& cases = files[f].body.find("cases")->as_array();
      for (std::size_t i = 0; i < cases.size(); ++i) {
        const Value* name = cases[i].find("name");
        std::string n = name != nullptr && name->is_string() ? name->as_string() : "unnamed";
        out.push_back({target, f, i, n});
      }
    }
  }
  return out;
}

std::string test_name(const testing::TestParamInfo<CaseParam>& info) {
  const CaseParam& p = info.param;
  std::string raw = p.target + "_" + all_files()[p.file].stem + "_" +
                    (p.index == SIZE_MAX ? std::string("file") : std::to_string(p.index)) + "_" +
                    p.name;
  std::string out;
  for (char c : raw) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  if (out.size() > 120) out.resize(120);
  return out;
}

std::string json(const Value& v) {
  try {
    return v.to_json();
  } catch (const sddb::Error&) {
    return "<" + std::string(Value::type_name(v.type())) + " without JSON form>";
  }
}

// Extended JSON's {"$numberDouble": "NaN"} (also "Infinity", "-Infinity") stands for the
// doubles JSON cannot write; everything a case holds is read through this.
Value decode(const Value& v) {
  if (v.is_object() && v.size() == 1 && v.as_object().front().first == "$numberDouble" &&
      v.as_object().front().second.is_string()) {
    const std::string& text = v.as_object().front().second.as_string();
    if (text == "NaN") return Value(std::numeric_limits<double>::quiet_NaN());
    if (text == "Infinity") return Value(std::numeric_limits<double>::infinity());
    if (text == "-Infinity") return Value(-std::numeric_limits<double>::infinity());
    return Value(std::stod(text));
  }
  if (v.is_array()) {
    Array out;
    for (const Value& item : v.as_array()) out.push_back(decode(item));
    return Value(std::move(out));
  }
  if (v.is_object()) {
    sddb::Object out;
    for (const auto& [key, item] : v.as_object()) out.emplace_back(key, decode(item));
    return Value(std::move(out));
  }
  return v;
}

std::string ids_json(const std::vector<Document>& docs) {
  Value ids = Value::array();
  for (const Document& d : docs) {
    const Value* id = d.find("_id");
    ids.push_back(id != nullptr ? *id : Value("<no _id>"));
  }
  return json(ids);
}

// ---------------------------------------------------------------------------------------------
// Targets

class Target {
 public:
  virtual ~Target() = default;
  virtual void load(const std::vector<Document>& docs) = 0;
  // An insert_many under test (load() only sets the stage).
  virtual void insert(const std::vector<Document>& docs) = 0;
  virtual std::vector<Document> find(const sddb::Find& q) = 0;
  virtual std::int64_t count(const sddb::Count& q) = 0;
  virtual sddb::UpdateResult update(const sddb::UpdateMany& q) = 0;
  virtual sddb::UpdateResult replace(const sddb::ReplaceOne& q) = 0;
  virtual sddb::DeleteResult remove(const sddb::DeleteMany& q) = 0;
  // The whole collection, in any order.
  virtual std::vector<Document> all() = 0;
};

// The reference: the evaluator's functions over a vector, with the DB's write contract (a
// failing write changes nothing).
class EvaluatorTarget : public Target {
 public:
  void load(const std::vector<Document>& docs) override { docs_ = docs; }
  // The DB's contract: every document checked, _id unique, all or nothing.
  void insert(const std::vector<Document>& docs) override {
    std::vector<Document> next = docs_;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      sddb::detail::check_document(docs[i], "document " + std::to_string(i) + " of the insert");
      const Value* id = docs[i].find("_id");
      if (id == nullptr) {
        throw std::runtime_error("conformance case error: inserted documents need an _id");
      }
      for (const Document& d : next) {
        if (*d.find("_id") == *id) {
          throw sddb::Error(sddb::ErrorCode::already_exists, "duplicate _id " + json(*id));
        }
      }
      next.push_back(docs[i]);
    }
    docs_ = std::move(next);
  }
  std::vector<Document> find(const sddb::Find& q) override {
    return sddb::query::find_in_memory(docs_, q);
  }
  std::int64_t count(const sddb::Count& q) override {
    sddb::query::FilterNode f = sddb::query::parse_filter(q.filter);
    return std::count_if(docs_.begin(), docs_.end(),
                         [&](const Document& d) { return sddb::query::matches(f, d); });
  }
  sddb::UpdateResult update(const sddb::UpdateMany& q) override {
    return write(q.filter, sddb::query::parse_update(q.update), q.many, q.upsert);
  }
  sddb::UpdateResult replace(const sddb::ReplaceOne& q) override {
    return write(q.filter, sddb::query::parse_update(q.replacement, true), false, q.upsert);
  }
  sddb::DeleteResult remove(const sddb::DeleteMany& q) override {
    sddb::query::FilterNode f = sddb::query::parse_filter(q.filter);
    sddb::DeleteResult r;
    std::vector<Document> kept;
    for (const Document& d : docs_) {
      if ((q.many || r.deleted == 0) && sddb::query::matches(f, d)) {
        ++r.deleted;
        r.deleted_ids.push_back(d.find("_id")->as_string());
      } else {
        kept.push_back(d);
      }
    }
    docs_ = std::move(kept);
    return r;
  }
  std::vector<Document> all() override { return docs_; }

 private:
  sddb::UpdateResult write(const Value& filter_doc, const sddb::query::Update& u, bool many,
                           bool upsert) {
    sddb::query::FilterNode f = sddb::query::parse_filter(filter_doc);
    std::vector<Document> next = docs_;
    sddb::UpdateResult r;
    for (Document& d : next) {
      if (!sddb::query::matches(f, d)) continue;
      ++r.matched;
      Document changed = sddb::query::apply_update(u, d);
      if (!(changed == d)) {
        ++r.modified;
        r.modified_ids.push_back(d.find("_id")->as_string());
        d = std::move(changed);
      }
      if (!many) break;
    }
    if (r.matched == 0 && upsert) {
      Document doc = sddb::query::upsert_document(f, u);
      const Value* id = doc.find("_id");
      if (id == nullptr || !id->is_string()) {
        throw std::runtime_error("conformance case error: an upsert case must give a string _id");
      }
      r.upserted_id = id->as_string();
      r.modified_ids.push_back(id->as_string());
      next.push_back(std::move(doc));
    }
    docs_ = std::move(next);
    return r;
  }

  std::vector<Document> docs_;
};

#ifndef SDDB_CONFORMANCE_EVALUATOR_ONLY
// The DB on a URI: "sqlite://:memory:", or a PostgreSQL schema of the case's own.
class DbTarget : public Target {
 public:
  explicit DbTarget(const std::string& uri) : db_(sddb::superduper(uri)) {}
  void load(const std::vector<Document>& docs) override {
    if (!docs.empty()) db_->execute(sddb::Collection(kCollection).insert_many(docs));
  }
  void insert(const std::vector<Document>& docs) override {
    db_->execute(sddb::Collection(kCollection).insert_many(docs));
  }
  std::vector<Document> find(const sddb::Find& q) override { return db_->execute(q).to_vector(); }
  std::int64_t count(const sddb::Count& q) override { return db_->execute(q); }
  sddb::UpdateResult update(const sddb::UpdateMany& q) override { return db_->execute(q); }
  sddb::UpdateResult replace(const sddb::ReplaceOne& q) override { return db_->execute(q); }
  sddb::DeleteResult remove(const sddb::DeleteMany& q) override { return db_->execute(q); }
  std::vector<Document> all() override {
    sddb::Find q;
    q.collection = kCollection;
    return db_->execute(q).to_vector();
  }

 protected:
  void reset_db() { db_.reset(); }

 private:
  std::unique_ptr<sddb::DB> db_;
};

#ifdef SDDB_CONFORMANCE_POSTGRES
// Declared before the DB so that the schema is dropped after the DB's connections close.
class PostgresTarget : public DbTarget {
 public:
  explicit PostgresTarget(std::unique_ptr<sddb::testutil::PgTestSchema> schema)
      : DbTarget(schema->uri()), schema_(std::move(schema)) {}
  ~PostgresTarget() override { reset_db(); }

 private:
  std::unique_ptr<sddb::testutil::PgTestSchema> schema_;
};
#endif
#endif

std::unique_ptr<Target> make_target(const std::string& name) {
#ifndef SDDB_CONFORMANCE_EVALUATOR_ONLY
  if (name == "sqlite") return std::make_unique<DbTarget>("sqlite://:memory:");
#endif
#ifdef SDDB_CONFORMANCE_POSTGRES
  if (name == "postgres") {
    return std::make_unique<PostgresTarget>(std::make_unique<sddb::testutil::PgTestSchema>());
  }
#endif
  if (name == "evaluator") return std::make_unique<EvaluatorTarget>();
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Running one case

std::vector<Document> sorted_by_id(std::vector<Document> docs) {
  std::sort(docs.begin(), docs.end(), [](const Document& a, const Document& b) {
    const Value* x = a.find("_id");
    const Value* y = b.find("_id");
    if (x == nullptr || y == nullptr) return json(a) < json(b);
    return sddb::query::compare_values(*x, *y) < 0;
  });
  return docs;
}

std::vector<Document> sorted_by_text(std::vector<Document> docs) {
  std::sort(docs.begin(), docs.end(),
            [](const Document& a, const Document& b) { return json(a) < json(b); });
  return docs;
}

std::string docs_json(const std::vector<Document>& docs) {
  Value v = Value(Array(docs.begin(), docs.end()));
  return json(v);
}

std::vector<Document> as_docs(const Value& v, const std::string& what) {
  if (!v.is_array())
    throw std::runtime_error("conformance case error: " + what + " must be an array");
  return std::vector<Document>(v.as_array().begin(), v.as_array().end());
}

// Error messages must name what is at fault; an empty message or "internal" is a finding.
void expect_error(const std::string& code, const std::function<void()>& run,
                  const std::string& where) {
  try {
    run();
  } catch (const sddb::Error& e) {
    EXPECT_EQ(sddb::to_string(e.code()), code) << where << "\n  message: " << e.what();
    EXPECT_NE(std::string(e.what()), "") << where;
    return;
  }
  ADD_FAILURE() << where << "\n  expected an error " << code << ", got none";
}

// A misspelt key would make a case check less than it says, so every key must be known.
void check_case_keys(const Value& c, const std::string& where) {
  static const std::vector<std::string> kKnown = {
      "name",         "docs",           "filter",          "sort",           "skip",
      "limit",        "projection",     "expect",          "expect_docs",    "error",
      "update",       "many",           "upsert",          "replace",        "delete",
      "expect_after", "expect_matched", "expect_modified", "expect_deleted", "note",
      "insert"};
  ASSERT_TRUE(c.is_object()) << where << ": a case must be an object";
  for (const auto& [key, value] : c.as_object()) {
    ASSERT_NE(std::find(kKnown.begin(), kKnown.end(), key), kKnown.end())
        << where << ": unknown key '" << key << "'";
  }
  bool checks = c.contains("expect") || c.contains("expect_docs") || c.contains("error") ||
                c.contains("expect_after") || c.contains("expect_matched") ||
                c.contains("expect_modified") || c.contains("expect_deleted");
  ASSERT_TRUE(checks) << where << ": the case checks nothing (no expect, expect_docs, "
                      << "expect_after or error)";
}

void run_case(Target& target, const Value& c, const Value& file, const std::string& where) {
  // A case's own "docs" win over the file's shared "docs".
  const Value* docs_v = c.find("docs");
  Value shared_docs;
  if (docs_v == nullptr && file.find("docs") != nullptr) {
    shared_docs = decode(*file.find("docs"));
    docs_v = &shared_docs;
  }
  std::vector<Document> docs =
      docs_v != nullptr ? as_docs(*docs_v, "docs") : std::vector<Document>{};
  for (const Document& d : docs) {
    const Value* id = d.find("_id");
    ASSERT_TRUE(id != nullptr && id->is_string()) << where << ": every doc needs a string _id";
  }
  target.load(docs);

  const Value* filter_v = c.find("filter");
  Value filter = filter_v != nullptr ? *filter_v : Value::object();
  const Value* error = c.find("error");
  std::string context = where + "\n  filter: " + json(filter);

  if (const Value* inserted = c.find("insert")) {
    std::vector<Document> batch = as_docs(*inserted, "insert");
    context += "\n  insert: " + json(*inserted);
    if (error != nullptr) {
      expect_error(
          error->as_string(), [&] { target.insert(batch); }, context);
    } else {
      target.insert(batch);
    }
  } else if (const Value* update = c.find("update")) {
    sddb::UpdateMany q;
    q.collection = kCollection;
    q.filter = filter;
    q.update = *update;
    const Value* many = c.find("many");
    q.many = many == nullptr || many->as_bool();
    const Value* upsert = c.find("upsert");
    q.upsert = upsert != nullptr && upsert->as_bool();
    context += "\n  update: " + json(*update);
    if (error != nullptr) {
      expect_error(
          error->as_string(), [&] { target.update(q); }, context);
    } else {
      sddb::UpdateResult r = target.update(q);
      if (const Value* m = c.find("expect_matched")) {
        EXPECT_EQ(r.matched, m->as_int()) << context;
      }
      if (const Value* m = c.find("expect_modified")) {
        EXPECT_EQ(r.modified, m->as_int()) << context;
      }
    }
  } else if (const Value* replacement = c.find("replace")) {
    sddb::ReplaceOne q;
    q.collection = kCollection;
    q.filter = filter;
    q.replacement = *replacement;
    const Value* upsert = c.find("upsert");
    q.upsert = upsert != nullptr && upsert->as_bool();
    context += "\n  replacement: " + json(*replacement);
    if (error != nullptr) {
      expect_error(
          error->as_string(), [&] { target.replace(q); }, context);
    } else {
      sddb::UpdateResult r = target.replace(q);
      if (const Value* m = c.find("expect_matched")) {
        EXPECT_EQ(r.matched, m->as_int()) << context;
      }
    }
  } else if (c.find("delete") != nullptr) {
    sddb::DeleteMany q;
    q.collection = kCollection;
    q.filter = filter;
    const Value* many = c.find("many");
    q.many = many == nullptr || many->as_bool();
    if (error != nullptr) {
      expect_error(
          error->as_string(), [&] { target.remove(q); }, context);
    } else {
      sddb::DeleteResult r = target.remove(q);
      if (const Value* m = c.find("expect_deleted")) {
        EXPECT_EQ(r.deleted, m->as_int()) << context;
      }
    }
  } else {
    sddb::Find q;
    q.collection = kCollection;
    q.filter = filter;
    const Value* sort = c.find("sort");
    if (sort != nullptr) {
      for (const auto& [path, dir] : sort->as_object()) {
        q.sort_keys.push_back({path, static_cast<int>(dir.as_int())});
      }
      context += "\n  sort: " + json(*sort);
    }
    // "skip" is a number of documents here; as an object it names skipped targets.
    if (const Value* v = c.find("skip"); v != nullptr && v->is_number()) q.skip_n = v->as_int();
    if (const Value* v = c.find("limit")) q.limit_n = v->as_int();
    if (const Value* v = c.find("projection")) {
      q.projection = *v;
      context += "\n  projection: " + json(*v);
    }
    if (error != nullptr) {
      expect_error(
          error->as_string(), [&] { target.find(q); }, context);
      return;
    }
    std::vector<Document> got = target.find(q);
    bool ordered = sort != nullptr;
    if (const Value* expect = c.find("expect")) {
      std::vector<std::string> want;
      for (const Value& id : expect->as_array()) want.push_back(id.as_string());
      std::vector<std::string> have;
      for (const Document& d : got) {
        const Value* id = d.find("_id");
        have.push_back(id != nullptr && id->is_string() ? id->as_string() : "<no _id>");
      }
      if (!ordered) {
        std::sort(want.begin(), want.end());
        std::sort(have.begin(), have.end());
      }
      EXPECT_EQ(have, want) << context << "\n  expected ids: " << json(*expect)
                            << "\n  got ids: " << ids_json(got);
    }
    if (const Value* expect = c.find("expect_docs")) {
      std::vector<Document> want = as_docs(*expect, "expect_docs");
      std::vector<Document> have = got;
      if (!ordered) {
        want = sorted_by_text(want);
        have = sorted_by_text(have);
      }
      EXPECT_TRUE(have == want) << context << "\n  expected: " << docs_json(want)
                                << "\n  got:      " << docs_json(have);
    }
    // The count path is a separate query on a backend; it must agree with find.
    if (q.skip_n == 0 && q.limit_n == 0) {
      sddb::Count cq{kCollection, filter};
      EXPECT_EQ(target.count(cq), static_cast<std::int64_t>(got.size())) << context << " (count)";
    }
    return;
  }
  if (const Value* after = c.find("expect_after")) {
    std::vector<Document> want = sorted_by_id(as_docs(*after, "expect_after"));
    std::vector<Document> have = sorted_by_id(target.all());
    EXPECT_TRUE(have == want) << context << "\n  expected after: " << docs_json(want)
                              << "\n  got after:      " << docs_json(have);
  }
}

class Conformance : public testing::TestWithParam<CaseParam> {};

TEST_P(Conformance, Case) {
  const CaseParam& p = GetParam();
  const FileCases& file = all_files()[p.file];
  ASSERT_TRUE(file.error.empty()) << file.path << ": " << file.error;
  const Value c = decode(file.body.find("cases")->as_array()[p.index]);
  std::string where =
      file.path + " case " + std::to_string(p.index) + " '" + p.name + "' on " + p.target;
  check_case_keys(c, where);
  if (HasFatalFailure()) return;
  if (const Value* skip = c.find("skip"); skip != nullptr && skip->is_object()) {
    if (const Value* reason = skip->find(p.target)) {
      GTEST_SKIP() << where << ": " << json(*reason);
    }
  }
#ifdef SDDB_CONFORMANCE_POSTGRES
  if (p.target == "postgres") SDDB_REQUIRE_POSTGRES();
#endif
  std::unique_ptr<Target> target = make_target(p.target);
  ASSERT_NE(target, nullptr) << "unknown target " << p.target;
  try {
    run_case(*target, c, file.body, where);
  } catch (const sddb::Error& e) {
    ADD_FAILURE() << where << "\n  unexpected error " << sddb::to_string(e.code()) << ": "
                  << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << where << "\n  unexpected exception: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Conformance, testing::ValuesIn(all_params()), test_name);

// A run that finds no case files proves nothing.
TEST(ConformanceFiles, Present) {
  EXPECT_FALSE(all_files().empty()) << "no case files in " << cases_dir();
}

}  // namespace
