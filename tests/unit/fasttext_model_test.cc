// The fastText model kind: fit on a small synthetic corpus, predict, save/load round trips, and
// load of bytes that are not a model (garbage, truncated, mutated) failing cleanly.

#include <fasttext/fasttext.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "artifacts/stores.h"
#include "models/kinds.h"
#include "sddb/config.h"
#include "sddb/db.h"
#include "sddb/error.h"
#include "sddb/model.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

using testutil::code_of;

const std::vector<std::vector<std::string>> kTopics = {
    {"image", "pixel", "resize", "crop", "photo", "jpeg", "png", "thumbnail", "rotate", "color",
     "bitmap", "canvas", "render", "sharpen", "blur"},
    {"network", "socket", "tcp", "packet", "router", "http", "latency", "bandwidth", "dns",
     "firewall", "ethernet", "proxy", "udp", "gateway", "port"},
    {"audio", "sound", "mp3", "volume", "speaker", "microphone", "wav", "codec", "stereo",
     "decibel", "equalizer", "podcast", "playback", "mixer", "waveform"},
};

std::string sentence(std::mt19937& rng, std::size_t topic) {
  const auto& words = kTopics[topic];
  std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1);
  std::uniform_int_distribution<int> length(6, 9);
  std::string s;
  for (int i = length(rng); i > 0; --i) s += (s.empty() ? "" : " ") + words[pick(rng)];
  return s;
}

std::vector<Value> corpus(std::size_t per_topic) {
  std::mt19937 rng(42);
  std::vector<Value> texts;
  for (std::size_t i = 0; i < per_topic; ++i) {
    for (std::size_t t = 0; t < kTopics.size(); ++t) texts.emplace_back(sentence(rng, t));
  }
  return texts;
}

// Words only (no character n-grams, so no buckets): a small model that trains fast.
Value small_params() {
  Value p = Model::fasttext("ft", {.dim = 16,
                                   .epochs = 30,
                                   .min_count = 1,
                                   .minn = 0,
                                   .maxn = 0,
                                   .lr = 0.1,
                                   .ws = 5,
                                   .model = "skipgram",
                                   .threads = 1,
                                   .seed = 7})
                .params();
  return p;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0;
  double aa = 0;
  double bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return aa == 0 || bb == 0 ? 0 : ab / std::sqrt(aa * bb);
}

const ModelKind& kind() { return model_kind("fasttext"); }

// One fitted small model shared by the tests that only read it (training is the slow part).
struct Fitted {
  std::unique_ptr<ModelRuntime> runtime;
  std::string bytes;
};
Fitted& fitted() {
  static Fitted f = [] {
    Fitted r;
    r.runtime = kind().fit(small_params(), corpus(200), nullptr);
    r.bytes = r.runtime->save();
    return r;
  }();
  return f;
}

TEST(FastTextModel, KindIsListed) {
  EXPECT_EQ(kind().name, "fasttext");
  EXPECT_TRUE(kind().load);
  EXPECT_TRUE(kind().fit);
}

TEST(FastTextModel, FitGivesVectorsOfDim) {
  auto& rt = *fitted().runtime;
  EXPECT_EQ(rt.dim(), 16U);
  auto out = rt.predict(
      {Value("resize the photo"), Value(""), Value("never seen words"), Value("a\nb c")});
  ASSERT_EQ(out.size(), 4U);
  for (const auto& v : out) {
    ASSERT_EQ(v.size(), 16U);
    for (float x : v) EXPECT_TRUE(std::isfinite(x));
  }
  double norm = 0;
  for (float x : out[0]) norm += double(x) * x;
  EXPECT_GT(norm, 0);
  for (float x : out[1]) EXPECT_EQ(x, 0.0F);  // no words: the zero vector
  for (float x : out[2]) EXPECT_EQ(x, 0.0F);  // unknown words and no subwords
}

TEST(FastTextModel, SentencesAreNearerToTheirTopic) {
  auto& rt = *fitted().runtime;
  const auto queries =
      rt.predict({Value("image pixel photo resize"), Value("network socket tcp packet"),
                  Value("audio sound mp3 volume")});
  std::mt19937 rng(1234);  // sentences not in the training corpus
  for (std::size_t topic = 0; topic < kTopics.size(); ++topic) {
    for (int i = 0; i < 10; ++i) {
      const std::string s = sentence(rng, topic);
      const auto v = rt.predict({Value(s)}).at(0);
      for (std::size_t other = 0; other < kTopics.size(); ++other) {
        if (other == topic) continue;
        EXPECT_GT(cosine(v, queries[topic]), cosine(v, queries[other]))
            << "'" << s << "' topic " << topic << " vs " << other;
      }
    }
  }
}

TEST(FastTextModel, SaveLoadRoundTripGivesTheSameVectors) {
  auto& f = fitted();
  ASSERT_FALSE(f.bytes.empty());
  auto loaded = kind().load(small_params(), f.bytes);
  ASSERT_EQ(loaded->dim(), 16U);
  const std::vector<Value> texts = {Value("crop the jpeg"), Value("dns proxy latency"),
                                    Value("stereo mixer"), Value("")};
  EXPECT_EQ(f.runtime->predict(texts), loaded->predict(texts));
  EXPECT_TRUE(loaded->save() == f.bytes);
  // As a user's file: no parameters but the file name.
  auto from_file = kind().load(Value{{"file", "m.bin"}}, f.bytes);
  EXPECT_EQ(from_file->predict(texts), loaded->predict(texts));
}

TEST(FastTextModel, ThroughModel) {
  testutil::TempDir dir("sddb-fasttext");
  const auto path = dir.path() / "m.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << fitted().bytes;
  }
  Model m = Model::fasttext_file("ft", path);
  EXPECT_FALSE(m.source_bytes());  // streamed from the file when added
  EXPECT_EQ(m.source_path(), std::filesystem::absolute(path));
  EXPECT_EQ(m.params().find("file")->as_string(), "m.bin");
  m.set_runtime(std::make_shared<Model::Runtime>(kind().load_file(m.params(), m.source_path())));
  EXPECT_EQ(m.dim(), 16U);
  EXPECT_EQ(m.predict(Value("rotate bitmap")).size(), 16U);
  EXPECT_EQ(code_of([&] { m.predict(Value(3)); }), ErrorCode::invalid_argument);
}

TEST(FastTextModel, LoadRejectsBytesThatAreNotAModel) {
  const std::string& good = fitted().bytes;
  const Value params = Value{{"file", "m.bin"}};
  auto load = [&](const std::string& bytes) { kind().load(params, bytes); };
  EXPECT_EQ(code_of([&] { load(""); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { load("hello"); }), ErrorCode::invalid_argument);
  std::mt19937 rng(5);
  std::string garbage(4096, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng());
  EXPECT_EQ(code_of([&] { load(garbage); }), ErrorCode::invalid_argument);
  // The right header, garbage after it.
  EXPECT_EQ(code_of([&] { load(good.substr(0, 8) + garbage); }), ErrorCode::invalid_argument);
  // A version this build does not read.
  std::string v13 = good;
  v13[4] = 13;
  EXPECT_EQ(code_of([&] { load(v13); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] { load(good + "x"); }), ErrorCode::invalid_argument);
  // Every truncation: the library would loop forever inside a word or read past the end.
  for (std::size_t n = 0; n < good.size(); ++n) {
    try {
      load(good.substr(0, n));
      ADD_FAILURE() << "a model truncated to " << n << " bytes loaded";
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::invalid_argument) << n << ": " << e.what();
      ASSERT_EQ(std::string(e.what()).rfind("fastText model: ", 0), 0U) << e.what();
    }
  }
  try {
    load(good.substr(0, good.size() / 2));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

// Fields the library trusts, each made inconsistent: every one is refused before the library
// reads it (it would allocate without bound, loop, divide by zero or index out of range).
TEST(FastTextModel, LoadRejectsInconsistentFields) {
  const std::string& good = fitted().bytes;
  std::int32_t nwords = 0;
  std::memcpy(&nwords, good.data() + 68, 4);
  ASSERT_GT(nwords, 0);
  // The small model has no buckets: input and output are both nwords x 16 dense matrices.
  const std::size_t matrix = 16 + static_cast<std::size_t>(nwords) * 16 * 4;
  const std::size_t output = good.size() - matrix;
  const std::size_t input = output - 1 - matrix;
  auto with = [&](std::size_t offset, auto value) {
    std::string bytes = good;
    std::memcpy(bytes.data() + offset, &value, sizeof(value));
    return bytes;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dim 0", with(8, std::int32_t{0})},
      {"dim -5", with(8, std::int32_t{-5})},
      {"dim huge", with(8, std::int32_t{1 << 30})},
      {"loss 9", with(32, std::int32_t{9})},
      {"model 0", with(36, std::int32_t{0})},
      {"bucket -1", with(40, std::int32_t{-1})},
      {"n-grams without buckets", with(48, std::int32_t{3})},
      {"maxn 5000", with(48, std::int32_t{5000})},
      {"size -1", with(64, std::int32_t{-1})},
      {"size huge", with(64, std::int32_t{1 << 30})},
      {"nwords above size", with(68, nwords + 1)},
      {"pruned but not quantized", with(84, std::int64_t{0})},
      {"pruning map size -7", with(84, std::int64_t{-7})},
      {"pruning map size huge", with(84, std::int64_t{1} << 40)},
      {"first word has a label's type", with(92 + 5 + 8, std::int8_t{1})},
      {"first word has a negative count", with(92 + 5, std::int64_t{-1})},
      {"first word count near 1e15", with(92 + 5, std::int64_t{1'000'000'000'000'000})},
      {"quantized flag 2", with(input - 1, std::uint8_t{2})},
      {"quantized input", with(input - 1, std::uint8_t{1})},
      {"input rows short", with(input, std::int64_t{nwords - 1})},
      {"input rows huge", with(input, std::int64_t{1} << 50)},
      {"input columns 15", with(input + 8, std::int64_t{15})},
      {"output flag 2", with(output - 1, std::uint8_t{2})},
      {"output rows 0", with(output, std::int64_t{0})},
      {"output columns -1", with(output + 8, std::int64_t{-1})},
  };
  ASSERT_EQ(good.substr(92, 5), std::string("</s>\0", 5));  // the offsets above are right
  for (const auto& [name, bytes] : cases) {
    try {
      kind().load(Value::object(), bytes);
      ADD_FAILURE() << name << ": loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument) << name << ": " << e.what();
    }
  }
}

TEST(FastTextModel, LoadOfMutatedBytesFailsCleanlyOrLoads) {
  const std::string& good = fitted().bytes;
  // Mostly the bytes before the input matrix's floats (args, dictionary, sizes), where a change
  // matters; now and then anywhere.
  const std::size_t header = std::min<std::size_t>(good.size(), 600);
  std::mt19937 rng(11);
  int loaded = 0;
  for (int i = 0; i < 400; ++i) {
    std::string bytes = good;
    const std::size_t span = i % 4 == 0 ? good.size() : header;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int j = 0; j < flips; ++j) {
      bytes[8 + rng() % (span - 8)] = static_cast<char>(rng());
    }
    try {
      auto rt = kind().load(Value::object(), bytes);
      auto out = rt->predict({Value("image pixel"), Value("zzz"), Value("")});
      EXPECT_EQ(out.size(), 3U);
      ++loaded;
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::invalid_argument) << e.what();
    }
  }
  EXPECT_GT(loaded, 0);  // the mutations also reach the library
}

TEST(FastTextModel, NonStringInputsAreErrorsNamingTheirPosition) {
  auto& rt = *fitted().runtime;
  try {
    rt.predict({Value("ok"), Value(1.5)});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("input 1"), std::string::npos) << e.what();
  }
  auto texts = corpus(5);
  texts.insert(texts.begin() + 2, Value());
  try {
    kind().fit(small_params(), texts, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("input 2"), std::string::npos) << e.what();
  }
}

TEST(FastTextModel, FitWithoutEnoughWordsIsAnError) {
  Value p = small_params();
  EXPECT_EQ(code_of([&] { kind().fit(p, {}, nullptr); }), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of([&] {
              kind().fit(p, {Value(""), Value(" \n\t")}, nullptr);
            }),
            ErrorCode::invalid_argument);
  p.set("min_count", Value(3));
  try {
    kind().fit(p, {Value("a b c"), Value("c d"), Value("")}, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("min_count"), std::string::npos) << e.what();
  }
  // One word three times is enough.
  auto rt = kind().fit(p, {Value("a b c"), Value("c d"), Value("c")}, nullptr);
  EXPECT_EQ(rt->dim(), 16U);
}

TEST(FastTextModel, BadParametersAreErrors) {
  const auto texts = corpus(3);
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, Value>>{{"dim", Value(0)},
                                                  {"dim", Value("16")},
                                                  {"epochs", Value(-1)},
                                                  {"lr", Value(0.0)},
                                                  {"model", Value("sup")},
                                                  {"threads", Value(-2)},
                                                  {"min_count", Value(0)}}) {
    Value p = small_params();
    p.set(key, value);
    EXPECT_EQ(code_of([&] { kind().fit(p, texts, nullptr); }), ErrorCode::invalid_argument) << key;
  }
  EXPECT_EQ(code_of([&] {
              kind().fit(Value{{"file", "m.bin"}}, texts, nullptr);
            }),
            ErrorCode::invalid_argument);
}

TEST(FastTextModel, ProgressEndsWithDoneEqualTotal) {
  Value p = small_params();
  p.set("model", Value("cbow"));
  p.set("epochs", Value(5));
  p.set("threads", Value(2));  // fastText calls back from both threads
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  auto rt = kind().fit(
      p, corpus(30), [&](std::size_t done, std::size_t total) { calls.emplace_back(done, total); });
  ASSERT_GE(calls.size(), 2U);
  EXPECT_EQ(calls.front().first, 0U);
  EXPECT_EQ(calls.back().first, calls.back().second);
  EXPECT_GT(calls.back().second, 0U);
  for (std::size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);
  EXPECT_EQ(rt->dim(), 16U);
}

TEST(FastTextModel, ProgressExceptionStopsTraining) {
  Value p = small_params();
  p.set("epochs", Value(50));
  p.set("threads", Value(2));
  struct Stop {};
  int calls = 0;
  EXPECT_THROW(kind().fit(p, corpus(50),
                          [&](std::size_t done, std::size_t) {
                            ++calls;
                            if (done > 0) throw Stop{};
                          }),
               Stop);
  EXPECT_GE(calls, 1);
}

TEST(FastTextModel, SubwordsFromModelOptionsWithSmallBucket) {
  // Model::fasttext's options with character n-grams; "bucket" keeps the input matrix small
  // (fastText's default is 2,000,000 rows).
  Value p = Model::fasttext("ft", {.dim = 8, .epochs = 5, .min_count = 2, .threads = 2, .seed = 3})
                .params();
  p.set("bucket", Value(5000));
  Model m = Model::fasttext("ft", {.dim = 8});
  auto rt = kind().fit(p, corpus(40), nullptr);
  const auto bytes = rt->save();
  m.set_runtime(std::make_shared<Model::Runtime>(kind().load(p, bytes)));
  EXPECT_EQ(m.dim(), 8U);
  // An unknown word still has a vector, from its character n-grams.
  const auto v = m.predict(Value("imagery"));
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  EXPECT_GT(norm, 0);
  EXPECT_EQ(rt->predict({Value("imagery")}).at(0), v);
}

// A quantized supervised model (.ftz) made with libfasttext itself: pruned dictionary,
// product-quantized input with quantized norms.
TEST(FastTextModel, LoadsQuantizedModels) {
  testutil::TempDir dir("sddb-fasttext");
  const std::string train = (dir.path() / "train.txt").string();
  {
    std::ofstream out(train);
    std::mt19937 rng(9);
    for (int i = 0; i < 150; ++i) {
      for (std::size_t t = 0; t < kTopics.size(); ++t) {
        out << "__label__" << t << " " << sentence(rng, t) << "\n";
      }
    }
  }
  fasttext::Args a;
  a.input = train;
  a.model = fasttext::model_name::sup;
  a.loss = fasttext::loss_name::softmax;
  a.dim = 8;
  a.epoch = 5;
  a.minCount = 1;
  a.minn = 2;
  a.maxn = 3;
  a.bucket = 2000;
  a.thread = 1;
  a.verbose = 0;
  fasttext::FastText ft;
  ft.train(a);
  fasttext::Args q = a;
  q.cutoff = 300;
  q.qnorm = true;
  q.dsub = 2;
  ft.quantize(q);
  const std::string path = (dir.path() / "m.ftz").string();
  ft.saveModel(path);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();

  auto rt = kind().load(Value{{"file", "m.ftz"}}, bytes);
  EXPECT_EQ(rt->dim(), 8U);
  fasttext::Vector expected(8);
  std::istringstream text("resize the photo");
  ft.getSentenceVector(text, expected);
  const auto v = rt->predict({Value("resize the photo")}).at(0);
  ASSERT_EQ(v.size(), 8U);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(v[i], expected[static_cast<std::int64_t>(i)]);
  // The pruning map is an unordered_map: saved again, its order may differ, its vectors not.
  auto again = kind().load(Value::object(), rt->save());
  EXPECT_EQ(again->predict({Value("resize the photo")}).at(0), v);
  for (std::size_t n = 0; n < bytes.size(); n += 1 + n / 64) {
    EXPECT_EQ(code_of([&] { kind().load(Value::object(), bytes.substr(0, n)); }),
              ErrorCode::invalid_argument)
        << n;
  }
}

// The streamed forms the DB uses: save_file and load_file give the bytes and the model that save
// and load give, and load_file refuses a damaged file as load does.
TEST(FastTextModel, SaveFileAndLoadFileMatchSaveAndLoad) {
  auto& f = fitted();
  testutil::TempDir dir("sddb-fasttext");
  const auto path = dir.path() / "m.bin";
  ASSERT_TRUE(f.runtime->save_file(path));
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    EXPECT_TRUE(ss.str() == f.bytes);
  }
  ASSERT_TRUE(kind().load_file);
  auto loaded = kind().load_file(small_params(), path);
  const std::vector<Value> texts = {Value("crop the jpeg"), Value("dns proxy latency")};
  EXPECT_EQ(loaded->predict(texts), f.runtime->predict(texts));
  // The loss swapped at load is written back: saved again, the bytes are the same.
  const auto again = dir.path() / "again.bin";
  ASSERT_TRUE(loaded->save_file(again));
  EXPECT_TRUE(loaded->save() == f.bytes);
  EXPECT_EQ(std::filesystem::file_size(again), f.bytes.size());
  for (std::size_t n = 0; n < f.bytes.size(); n += 1 + n / 8) {
    const auto cut = dir.path() / "cut.bin";
    {
      std::ofstream out(cut, std::ios::binary | std::ios::trunc);
      out.write(f.bytes.data(), static_cast<std::streamsize>(n));
    }
    EXPECT_EQ(code_of([&] { kind().load_file(small_params(), cut); }), ErrorCode::invalid_argument)
        << n;
  }
}

// Points the system's temporary folder (TMPDIR) at a fresh folder for one test, so the test can
// see what the library leaves there.
class PrivateTmp {
 public:
  PrivateTmp() : dir_("sddb-tmp") {
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) old_ = old;
    ::setenv("TMPDIR", dir_.path().c_str(), 1);
  }
  ~PrivateTmp() {
    if (old_) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }
  // The names left in the folder, empty when nothing is.
  std::string left() const {
    std::string names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      names += e.path().filename().string() + " ";
    }
    return names;
  }

 private:
  testutil::TempDir dir_;
  std::optional<std::string> old_;
};

std::unique_ptr<DB> open_db(const std::filesystem::path& dir) {
  Config c;
  c.data_backend = "sqlite://" + (dir / "data.db").string();
  c.artifact_store = "file://" + (dir / "artifacts").string();
  return build_datalayer(c);
}

Model fitted_model() {
  Model m("ft", "fasttext", small_params());
  m.set_runtime(std::make_shared<Model::Runtime>(kind().fit(small_params(), corpus(200), nullptr)));
  return m;
}

TEST(FastTextModel, StreamedThroughTheFileStore) {
  testutil::TempDir dir("sddb-fasttext");
  PrivateTmp tmp;
  const std::vector<Value> texts = {Value("crop the jpeg"), Value("dns proxy latency")};
  std::vector<std::vector<float>> expected;
  std::string id;
  {
    auto db = open_db(dir.path());
    Model m = fitted_model();
    expected = m.predict(texts);
    ASSERT_TRUE(db->add(m).created);
    id = db->show("model", "ft", 0).body.find("artifact")->as_string();
    EXPECT_TRUE(db->artifact_store().get(id) == m.runtime()->impl->save());
  }
  auto db = open_db(dir.path());
  EXPECT_EQ(db->load_model("ft").predict(texts), expected);
  EXPECT_EQ(tmp.left(), "");
}

TEST(FastTextModel, StreamedThroughTheMemoryStore) {
  PrivateTmp tmp;
  auto store = detail::make_memory_store();
  Model m = fitted_model();
  const std::string id = detail::put_model_artifact(*m.runtime()->impl, *store, "model 'ft'");
  EXPECT_TRUE(store->get(id) == m.runtime()->impl->save());
  auto loaded = detail::load_model_artifact(kind(), small_params(), *store, id, "model 'ft'");
  const std::vector<Value> texts = {Value("stereo mixer"), Value("")};
  EXPECT_EQ(loaded->predict(texts), m.predict(texts));
  EXPECT_EQ(tmp.left(), "");
}

TEST(FastTextModel, CorruptArtifactIsCorruptionNamingTheModel) {
  testutil::TempDir dir("sddb-fasttext");
  PrivateTmp tmp;
  std::string id;
  {
    auto db = open_db(dir.path());
    ASSERT_TRUE(db->add(fitted_model()).created);
    id = db->show("model", "ft", 0).body.find("artifact")->as_string();
  }
  // Flip one byte in the middle of the stored file (the file store keeps ab/cdef...).
  const auto file = dir.path() / "artifacts" / id.substr(0, 2) / id.substr(2);
  ASSERT_TRUE(std::filesystem::exists(file));
  {
    std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
    const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(file) / 2);
    f.seekg(middle);
    const char c = static_cast<char>(f.get());
    f.seekp(middle);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  auto db = open_db(dir.path());
  try {
    db->load_model("ft");
    FAIL() << "a corrupt model loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::corruption);
    EXPECT_NE(std::string(e.what()).find("model 'ft' version 0"), std::string::npos) << e.what();
  }
  // Again, not half-loaded or cached: still the same error.
  EXPECT_EQ(code_of([&] { db->load_model("ft"); }), ErrorCode::corruption);
  EXPECT_EQ(tmp.left(), "");
}

// A model whose save fails, part way through its file, is not added and leaves no file behind.
TEST(FastTextModel, FailedSaveLeavesNoTemporaryFile) {
  class FailingRuntime : public ModelRuntime {
   public:
    std::size_t dim() const override { return 2; }
    std::vector<std::vector<float>> predict(const std::vector<Value>& in) override {
      return std::vector<std::vector<float>>(in.size(), {0.0F, 0.0F});
    }
    std::string save() const override { return "x"; }
    bool save_file(const std::filesystem::path& path) const override {
      std::ofstream(path) << "half a model";
      throw Error(ErrorCode::io_error, "disk full");
    }
  };
  testutil::TempDir dir("sddb-fasttext");
  PrivateTmp tmp;
  auto db = open_db(dir.path());
  Model m("failing", "fasttext", Value::object());
  m.set_runtime(std::make_shared<Model::Runtime>(std::make_unique<FailingRuntime>()));
  EXPECT_EQ(code_of([&] { db->add(m); }), ErrorCode::io_error);
  EXPECT_EQ(code_of([&] { db->load_model("failing"); }), ErrorCode::not_found);
  EXPECT_EQ(tmp.left(), "");
}

// A user's .bin is streamed into the store when the model is added, and loaded from the stored
// copy: a later change to the file changes nothing.
TEST(FastTextModel, UsersFileIsStreamedIntoTheStore) {
  testutil::TempDir dir("sddb-fasttext");
  PrivateTmp tmp;
  const auto path = dir.path() / "m.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << fitted().bytes;
  }
  EXPECT_EQ(code_of([&] { Model::fasttext_file("ft", dir.path() / "absent.bin"); }),
            ErrorCode::not_found);
  const std::vector<Value> texts = {Value("crop the jpeg"), Value("dns proxy latency")};
  {
    auto db = open_db(dir.path());
    Model m = Model::fasttext_file("ft", path);
    ASSERT_TRUE(db->add(m).created);
    const auto r = db->show("model", "ft", 0);
    EXPECT_TRUE(db->artifact_store().get(r.body.find("artifact")->as_string()) == fitted().bytes);
    EXPECT_EQ(db->load_model("ft").predict(texts), fitted().runtime->predict(texts));
    EXPECT_FALSE(db->add(m).created);  // the same bytes: the same version
  }
  std::filesystem::remove(path);
  auto db = open_db(dir.path());
  EXPECT_EQ(db->load_model("ft").predict(texts), fitted().runtime->predict(texts));
  EXPECT_EQ(tmp.left(), "");
}

}  // namespace
}  // namespace sddb
