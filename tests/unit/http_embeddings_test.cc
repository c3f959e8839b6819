// The http_embeddings model kind against a local server that speaks the OpenAI embeddings
// protocol (cpp-httplib on 127.0.0.1, a port of the system's choosing) and can be told to
// misbehave: fail with 503/429, stall, return malformed bodies, wrong counts or dimensions, or
// refuse the key. No test measures time: stalls only have to outlast a short client timeout.
//
// The case through a DB runs on each backend: SQLite here, PostgreSQL in
// tests/postgres/postgres_http_embeddings_test, which builds this file with
// SDDB_HTTP_EMBEDDINGS_TEST_POSTGRES (only that case, so that SQLite-only builds need no libpq).

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models/kinds.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "sddb/model.h"
#include "sddb/value.h"
#include "testing/backends.h"
#include "testing/temp_dir.h"

#ifdef SDDB_HTTP_EMBEDDINGS_TEST_POSTGRES
#include "testing/postgres.h"
#endif

namespace sddb {
namespace {

// Deterministic values that are exact in float and in JSON, so vectors compare with ==.
std::vector<float> fake_embedding(const std::string& text, std::size_t dim) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  std::vector<float> v(dim);
  for (std::size_t j = 0; j < dim; ++j) {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    v[j] = static_cast<float>(static_cast<int>((h >> 40) % 2001) - 1000) / 1024.0f;
  }
  return v;
}

class FakeServer {
 public:
  enum class Mode {
    ok,
    malformed,
    no_data,
    wrong_count,
    wrong_dim,
    bad_index,
    unauthorized,
    bad_request
  };

  FakeServer() {
    server_.set_keep_alive_timeout(1);
    server_.Post("/v1/embeddings",
                 [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only stops a server that is running.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Behaviour, set before a call.
  std::size_t dim = 8;
  Mode mode = Mode::ok;
  int fail_next = 0;  // the next requests answered with fail_status
  int fail_status = 503;
  std::string retry_after;  // sent with the failures when not empty
  int delay_ms = 0;

  // What the server got.
  std::vector<std::size_t> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  std::vector<std::string> authorizations() {
    std::lock_guard<std::mutex> lock(mu_);
    return authorizations_;
  }
  std::vector<std::string> models() {
    std::lock_guard<std::mutex> lock(mu_);
    return models_;
  }
  std::size_t requests() { return batch_sizes().size(); }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mu_);
    const Value body = Value::parse(req.body);
    const Array& input = body.find("input")->as_array();
    batch_sizes_.push_back(input.size());
    models_.push_back(body.find("model")->as_string());
    authorizations_.push_back(req.get_header_value("Authorization"));
    if (fail_next > 0) {
      --fail_next;
      res.status = fail_status;
      if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
      res.set_content(R"({"error": {"message": "the server is busy"}})", "application/json");
      return;
    }
    const int delay = delay_ms;
    lock.unlock();
    if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    lock.lock();
    switch (mode) {
      case Mode::malformed:
        res.set_content(R"({"data": [{"embedding": [0.5, )", "application/json");
        return;
      case Mode::no_data:
        res.set_content(R"({"object": "list"})", "application/json");
        return;
      case Mode::unauthorized:
        res.status = 401;
        res.set_content(R"({"error": {"message": "Incorrect API key provided: sk-te***", )"
                        R"("type": "invalid_request_error", "code": "invalid_api_key"}})",
                        "application/json");
        return;
      case Mode::bad_request:
        res.status = 400;
        res.set_content(R"({"error": {"message": "input is too long for the context"}})",
                        "application/json");
        return;
      default:
        break;
    }
    Value data = Value::array();
    std::size_t n = input.size();
    if (mode == Mode::wrong_count) --n;
    // Last input first: the client must put the vectors back in order by "index".
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = n - 1 - k;
      Value vec = Value::array();
      for (float x : fake_embedding(input[i].as_string(), dim + (mode == Mode::wrong_dim))) {
        vec.push_back(Value(static_cast<double>(x)));
      }
      Value item = Value::object();
      item.set("object", Value("embedding"));
      item.set("index", mode == Mode::bad_index ? Value(static_cast<std::int64_t>(n))
                                                : Value(static_cast<std::int64_t>(i)));
      item.set("embedding", std::move(vec));
      data.push_back(std::move(item));
    }
    Value out = Value::object();
    out.set("object", Value("list"));
    out.set("data", std::move(data));
    out.set("model", *body.find("model"));
    res.set_content(out.to_json(), "application/json");
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::size_t> batch_sizes_;
  std::vector<std::string> authorizations_;
  std::vector<std::string> models_;
};

const char* const kEnvVars[] = {"SDDB_CONFIG", "SDDB_EMBEDDINGS_URL", "SDDB_EMBEDDINGS_MODEL",
                                "SDDB_EMBEDDINGS_API_KEY", "OPENAI_API_KEY"};

// Each test runs in an empty folder (no sddb.toml) with none of kEnvVars set; both restored.
class HttpEmbeddingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_.path());
    for (const char* name : kEnvVars) {
      if (const char* v = std::getenv(name)) saved_env_[name] = v;
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : kEnvVars) {
      auto it = saved_env_.find(name);
      if (it == saved_env_.end()) {
        ::unsetenv(name);
      } else {
        ::setenv(name, it->second.c_str(), 1);
      }
    }
    std::filesystem::current_path(old_cwd_);
  }

  HttpEmbeddingOptions options(std::size_t dim = 8) const {
    HttpEmbeddingOptions o;
    o.url = server_.url();
    o.model = "fake-embed";
    o.dim = dim;
    o.timeout_ms = 5000;
    o.max_retries = 2;
    return o;
  }

  std::unique_ptr<ModelRuntime> make(const HttpEmbeddingOptions& o) {
    return detail::make_http_embeddings(o);
  }

  // The error `f` throws, after checking its code and that its message names each of `parts`.
  static std::string expect_error(const std::function<void()>& f, ErrorCode code,
                                  std::initializer_list<std::string> parts) {
    try {
      f();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      for (const std::string& p : parts) {
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
            << "'" << e.what() << "' does not name '" << p << "'";
      }
      return e.what();
    }
    ADD_FAILURE() << "no sddb::Error thrown";
    return {};
  }

  static std::vector<Value> texts(std::size_t n) {
    std::vector<Value> out;
    for (std::size_t i = 0; i < n; ++i) out.emplace_back("text number " + std::to_string(i));
    return out;
  }

  // Declared first so that it outlives the runtimes (which close their connections).
  FakeServer server_;
  testutil::TempDir dir_{"sddb-http-embeddings"};
  std::filesystem::path old_cwd_;
  std::map<std::string, std::string> saved_env_;
};

#ifndef SDDB_HTTP_EMBEDDINGS_TEST_POSTGRES
TEST_F(HttpEmbeddingsTest, VectorsComeBackInInputOrder) {
  auto rt = make(options());
  EXPECT_EQ(server_.requests(), 0u);  // dim given: nothing asked at construction
  const auto inputs = texts(5);
  const auto out = rt->predict(inputs);
  ASSERT_EQ(out.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(out[i], fake_embedding(inputs[i].as_string(), 8)) << i;
  }
  EXPECT_EQ(server_.batch_sizes(), std::vector<std::size_t>{5});
  EXPECT_EQ(server_.models(), std::vector<std::string>{"fake-embed"});
  EXPECT_EQ(rt->save(), "");
}

TEST_F(HttpEmbeddingsTest, BatchesOfBatchSize) {
  auto o = options();
  o.batch_size = 3;
  auto rt = make(o);
  const auto inputs = texts(10);
  const auto out = rt->predict(inputs);
  EXPECT_EQ(server_.batch_sizes(), (std::vector<std::size_t>{3, 3, 3, 1}));
  ASSERT_EQ(out.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(out[i], fake_embedding(inputs[i].as_string(), 8)) << i;
  }
}

TEST_F(HttpEmbeddingsTest, AsksTheServerForDimWhenZero) {
  server_.dim = 12;
  auto rt = make(options(0));
  EXPECT_EQ(rt->dim(), 12u);
  EXPECT_EQ(server_.batch_sizes(), std::vector<std::size_t>{1});
  EXPECT_EQ(rt->predict(texts(2)).at(1).size(), 12u);
}

TEST_F(HttpEmbeddingsTest, RetriesOn503ThenSucceeds) {
  server_.fail_next = 2;
  auto rt = make(options());
  const auto out = rt->predict(texts(3));
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(server_.requests(), 3u);
}

TEST_F(HttpEmbeddingsTest, RetriesOn429WithRetryAfter) {
  server_.fail_next = 1;
  server_.fail_status = 429;
  server_.retry_after = "0";
  auto rt = make(options());
  EXPECT_EQ(rt->predict(texts(1)).size(), 1u);
  EXPECT_EQ(server_.requests(), 2u);
}

TEST_F(HttpEmbeddingsTest, RetriesExhaustedIsUnavailable) {
  server_.fail_next = 100;
  auto rt = make(options());  // max_retries 2
  expect_error([&] { rt->predict(texts(2)); }, ErrorCode::unavailable,
               {"POST " + server_.url() + "/v1/embeddings", "failed after 3 attempts", "HTTP 503",
                "the server is busy"});
  EXPECT_EQ(server_.requests(), 3u);
}

TEST_F(HttpEmbeddingsTest, ConnectionRefusedIsRetriedThenUnavailable) {
  std::string url;
  {
    FakeServer gone;
    url = gone.url();
  }
  auto o = options();
  o.url = url;
  o.max_retries = 1;
  auto rt = make(o);
  expect_error([&] { rt->predict(texts(1)); }, ErrorCode::unavailable,
               {url, "failed after 2 attempts"});
}

TEST_F(HttpEmbeddingsTest, BadRequestIsNotRetried) {
  server_.mode = FakeServer::Mode::bad_request;
  auto rt = make(options());
  expect_error([&] { rt->predict(texts(1)); }, ErrorCode::invalid_argument,
               {"HTTP 400", "input is too long for the context"});
  EXPECT_EQ(server_.requests(), 1u);
}

TEST_F(HttpEmbeddingsTest, UnauthorizedIsNotRetriedAndHintsAtTheKey) {
  server_.mode = FakeServer::Mode::unauthorized;
  auto o = options();
  o.api_key = "sk-test";
  auto rt = make(o);
  const std::string msg =
      expect_error([&] { rt->predict(texts(1)); }, ErrorCode::failed_precondition,
                   {"HTTP 401", "Incorrect API key provided", "SDDB_EMBEDDINGS_API_KEY"});
  EXPECT_EQ(msg.find("sk-test"), std::string::npos) << "the key itself is never in a message";
  EXPECT_EQ(server_.requests(), 1u);
}

TEST_F(HttpEmbeddingsTest, WrongPathIsNotFound) {
  auto o = options();
  o.url = server_.url() + "/elsewhere";
  auto rt = make(o);
  expect_error([&] { rt->predict(texts(1)); }, ErrorCode::not_found,
               {"HTTP 404", "/elsewhere/v1/embeddings", "fake-embed"});
}

TEST_F(HttpEmbeddingsTest, TimeoutIsUnavailable) {
  server_.delay_ms = 600;
  auto o = options();
  o.timeout_ms = 200;
  o.max_retries = 0;
  auto rt = make(o);
  expect_error([&] { rt->predict(texts(1)); }, ErrorCode::unavailable,
               {"failed after 1 attempt", "imeout"});
}

TEST_F(HttpEmbeddingsTest, MalformedResponses) {
  auto rt = make(options());
  server_.mode = FakeServer::Mode::malformed;
  expect_error([&] { rt->predict(texts(2)); }, ErrorCode::unavailable,
               {"malformed response", "not JSON"});
  server_.mode = FakeServer::Mode::no_data;
  expect_error([&] { rt->predict(texts(2)); }, ErrorCode::unavailable,
               {"malformed response", "\"data\""});
  server_.mode = FakeServer::Mode::wrong_count;
  expect_error([&] { rt->predict(texts(3)); }, ErrorCode::unavailable,
               {"malformed response", "2 embeddings for 3 inputs"});
  server_.mode = FakeServer::Mode::bad_index;
  expect_error([&] { rt->predict(texts(3)); }, ErrorCode::unavailable,
               {"malformed response", "index is 3"});
  server_.mode = FakeServer::Mode::wrong_dim;
  expect_error([&] { rt->predict(texts(3)); }, ErrorCode::failed_precondition,
               {"a vector of 9 numbers", "expected 8"});
  EXPECT_EQ(server_.requests(), 5u);  // none of these is retried
}

TEST_F(HttpEmbeddingsTest, NonStringInputNamesItsPosition) {
  auto rt = make(options());
  expect_error(
      [&] {
        rt->predict({Value("a"), Value(3)});
      },
      ErrorCode::invalid_argument, {"input 1", "int", "string"});
  EXPECT_EQ(server_.requests(), 0u);
}

TEST_F(HttpEmbeddingsTest, KeyIsSentAsBearerOnlyWhenSet) {
  auto o = options();
  make(o)->predict(texts(1));
  o.api_key = "sk-test";
  make(o)->predict(texts(1));
  EXPECT_EQ(server_.authorizations(), (std::vector<std::string>{"", "Bearer sk-test"}));
}

TEST_F(HttpEmbeddingsTest, UrlMayEndInV1OrTheEndpoint) {
  auto o = options();
  o.url = server_.url() + "/v1/";
  make(o)->predict(texts(1));
  o.url = server_.url() + "/v1/embeddings";
  make(o)->predict(texts(1));
  EXPECT_EQ(server_.requests(), 2u);
}

TEST_F(HttpEmbeddingsTest, UrlModelAndKeyFromEnvironment) {
  ::setenv("SDDB_EMBEDDINGS_URL", server_.url().c_str(), 1);
  ::setenv("SDDB_EMBEDDINGS_MODEL", "env-model", 1);
  ::setenv("SDDB_EMBEDDINGS_API_KEY", "env-key", 1);
  HttpEmbeddingOptions o;
  o.dim = 8;
  make(o)->predict(texts(1));
  o.api_key = "explicit-key";  // explicit options win
  o.model = "explicit-model";
  make(o)->predict(texts(1));
  EXPECT_EQ(server_.models(), (std::vector<std::string>{"env-model", "explicit-model"}));
  EXPECT_EQ(server_.authorizations(),
            (std::vector<std::string>{"Bearer env-key", "Bearer explicit-key"}));
}

TEST_F(HttpEmbeddingsTest, UrlAndModelFromConfigFile) {
  std::ofstream("sddb.toml") << "embeddings_url = \"" << server_.url()
                             << "\"\nembeddings_model = \"file-model\"\n";
  HttpEmbeddingOptions o;
  o.dim = 8;
  make(o)->predict(texts(1));
  EXPECT_EQ(server_.models(), std::vector<std::string>{"file-model"});
}

TEST_F(HttpEmbeddingsTest, OpenAiKeyIsNotSentToOtherServers) {
  ::setenv("OPENAI_API_KEY", "sk-openai", 1);
  make(options())->predict(texts(1));
  EXPECT_EQ(server_.authorizations(), std::vector<std::string>{""});
}

TEST_F(HttpEmbeddingsTest, MissingUrlOrModel) {
  HttpEmbeddingOptions o;
  o.model = "m";
  expect_error([&] { make(o); }, ErrorCode::invalid_argument,
               {"no url", "embeddings_url", "SDDB_EMBEDDINGS_URL"});
  o = HttpEmbeddingOptions{};
  o.url = server_.url();
  expect_error([&] { make(o); }, ErrorCode::invalid_argument,
               {"no model", "embeddings_model", "SDDB_EMBEDDINGS_MODEL"});
}

TEST_F(HttpEmbeddingsTest, BadOptions) {
  auto o = options();
  o.url = "ftp://127.0.0.1/";
  expect_error([&] { make(o); }, ErrorCode::invalid_argument, {"ftp://127.0.0.1/", "http://"});
  o = options();
  o.batch_size = 0;
  expect_error([&] { make(o); }, ErrorCode::invalid_argument, {"batch_size"});
  o = options();
  o.timeout_ms = 0;
  expect_error([&] { make(o); }, ErrorCode::invalid_argument, {"timeout_ms"});
  o = options();
  o.max_retries = -1;
  expect_error([&] { make(o); }, ErrorCode::invalid_argument, {"max_retries"});
  o = options();
  o.api_key = "sk\r\nX-Injected: 1";
  expect_error([&] { make(o); }, ErrorCode::invalid_argument, {"line break"});
}

TEST_F(HttpEmbeddingsTest, KindLoadsFromParamsWithoutAsking) {
  ::setenv("SDDB_EMBEDDINGS_API_KEY", "env-key", 1);
  Value params = Value::object();
  params.set("url", Value(server_.url()));
  params.set("model", Value("fake-embed"));
  params.set("batch_size", Value(2));
  params.set("timeout_ms", Value(5000));
  params.set("max_retries", Value(1));
  params.set("dim", Value(8));
  const ModelKind& kind = model_kind("http_embeddings");
  auto rt = kind.load(params, "");
  EXPECT_EQ(server_.requests(), 0u);
  EXPECT_EQ(rt->dim(), 8u);
  const auto inputs = texts(3);
  const auto out = rt->predict(inputs);
  EXPECT_EQ(out.at(2), fake_embedding(inputs[2].as_string(), 8));
  EXPECT_EQ(server_.batch_sizes(), (std::vector<std::size_t>{2, 1}));
  EXPECT_EQ(server_.authorizations().at(0), "Bearer env-key");

  params.set("batch_size", Value("two"));
  expect_error([&] { kind.load(params, ""); }, ErrorCode::invalid_argument,
               {"'batch_size'", "string"});
  params.set("batch_size", Value(0));
  expect_error([&] { kind.load(params, ""); }, ErrorCode::invalid_argument, {"'batch_size'"});
}

TEST_F(HttpEmbeddingsTest, ModelRecordsNoKeyAndPredicts) {
  auto o = options(0);
  o.api_key = "sk-secret";
  Model m = Model::http_embeddings("emb", o);
  EXPECT_EQ(m.kind(), "http_embeddings");
  EXPECT_EQ(m.dim(), 8u);
  EXPECT_EQ(m.params().find("dim")->as_int(), 8);
  EXPECT_EQ(m.params().to_json().find("sk-secret"), std::string::npos);
  const auto v = m.predict(Value("hello"));
  EXPECT_EQ(v, fake_embedding("hello", 8));
}

#endif  // SDDB_HTTP_EMBEDDINGS_TEST_POSTGRES

// The same fixture with a backend's empty database (testing/backends.h).
class HttpEmbeddingsDbTest : public HttpEmbeddingsTest,
                             public ::testing::WithParamInterface<testutil::TestBackend> {
 protected:
  void SetUp() override {
    HttpEmbeddingsTest::SetUp();
    database_ = GetParam().make();
  }
  void TearDown() override {
    database_.reset();
    HttpEmbeddingsTest::TearDown();
  }

  std::unique_ptr<testutil::TestDatabase> database_;
};

// Through a DB: the model is a component, a listener embeds documents over HTTP, like() searches
// them, and after a restart the model is rebuilt from its record without the key.
TEST_P(HttpEmbeddingsDbTest, ThroughADbWithAListenerAndLike) {
  if (!database_) return;  // make() skipped or failed the test, saying why
  const std::string uri = database_->uri();
  Collection docs("docs");
  {
    auto db = superduper(uri);
    db->execute(docs.insert_many({{{"_id", "a"}, {"t", "alpha"}}, {{"_id", "b"}, {"t", "beta"}}}));
    auto o = options(0);
    o.api_key = "sk-secret";
    db->add(Model::http_embeddings("emb", o));
    db->add(Listener(docs.find(), "t", "emb"));
    db->add(VectorIndex("by-t", "emb/t", Measure::cosine));
    EXPECT_EQ(db->show("model", "emb", 0).body.to_json().find("sk-secret"), std::string::npos);
    // The document's own text comes back first.
    auto hits = db->execute(docs.like({{"t", "beta"}}, "by-t", 2)).to_vector();
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].find("_id")->as_string(), "b");
    EXPECT_NEAR(hits[0].find("_score")->as_double(), 1.0, 1e-5);
  }
  auto db = superduper(uri);
  db->execute(docs.insert_one({{"_id", "c"}, {"t", "gamma"}}));
  auto rows = db->databackend().get_outputs("_outputs/emb/t/0", {"c"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].vector, fake_embedding("gamma", 8));
}

#ifdef SDDB_HTTP_EMBEDDINGS_TEST_POSTGRES
INSTANTIATE_TEST_SUITE_P(Backends, HttpEmbeddingsDbTest,
                         ::testing::Values(testutil::postgres_test_backend()),
                         testutil::backend_name);
#else
INSTANTIATE_TEST_SUITE_P(Backends, HttpEmbeddingsDbTest,
                         ::testing::Values(testutil::sqlite_test_backend()),
                         testutil::backend_name);
#endif

}  // namespace
}  // namespace sddb
