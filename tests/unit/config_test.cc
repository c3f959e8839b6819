// load_config's precedence and messages, and build_datalayer/superduper refusing bad
// configuration before they create anything.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>

#include "sddb/sddb.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;

const char* const kEnvVars[] = {
    "SDDB_CONFIG",         "SDDB_DATA_BACKEND",     "SDDB_METADATA_STORE",
    "SDDB_ARTIFACT_STORE", "SDDB_VECTOR_SEARCH",    "SDDB_COMPUTE",
    "SDDB_EMBEDDINGS_URL", "SDDB_EMBEDDINGS_MODEL", "SDDB_EMBEDDINGS_API_KEY"};

// Each test runs in its own empty folder with no SDDB_* variables set; both are restored after.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    std::string tmpl = (fs::temp_directory_path() / "sddb-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::current_path(dir_);
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
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }

  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
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

  bool folder_is_empty() const { return fs::is_empty(dir_); }

  fs::path old_cwd_;
  std::string dir_;
  std::map<std::string, std::string> saved_env_;
};

TEST_F(ConfigTest, Defaults) {
  Config cfg = load_config();
  EXPECT_EQ(cfg.data_backend, "sqlite://.sddb/data.db");
  EXPECT_EQ(cfg.metadata_store, "");
  EXPECT_EQ(cfg.artifact_store, "");
  EXPECT_EQ(cfg.vector_search, "inmemory://");
  EXPECT_EQ(cfg.compute, "inline");
  EXPECT_EQ(cfg.embeddings_url, "");
  EXPECT_EQ(cfg.embeddings_model, "");
  EXPECT_EQ(cfg.embeddings_api_key, "");
  EXPECT_EQ(cfg.resolved_metadata_store(), "sqlite://.sddb/data.db");
  EXPECT_EQ(cfg.resolved_artifact_store(), "file://.sddb/data.db.artifacts");
  for (const char* key : {"data_backend", "metadata_store", "artifact_store", "vector_search",
                          "compute", "embeddings_url", "embeddings_model", "embeddings_api_key"}) {
    EXPECT_EQ(cfg.sources.at(key), "default") << key;
  }
  EXPECT_TRUE(folder_is_empty());  // loading configuration never creates anything
}

TEST_F(ConfigTest, ResolvedStores) {
  Config cfg;
  cfg.data_backend = "sqlite://:memory:";
  EXPECT_EQ(cfg.resolved_artifact_store(), "memory://");
  EXPECT_EQ(cfg.resolved_metadata_store(), "sqlite://:memory:");
  cfg.data_backend = "sqlite:///var/lib/x.db";
  EXPECT_EQ(cfg.resolved_artifact_store(), "file:///var/lib/x.db.artifacts");
  cfg.data_backend = "SQLite://y.db";
  EXPECT_EQ(cfg.resolved_artifact_store(), "file://y.db.artifacts");
  cfg.data_backend = "postgresql://u@h/db";
  EXPECT_EQ(cfg.resolved_artifact_store(), "postgresql://u@h/db");
  cfg.artifact_store = "memory://";
  cfg.metadata_store = "sqlite://meta.db";
  EXPECT_EQ(cfg.resolved_artifact_store(), "memory://");
  EXPECT_EQ(cfg.resolved_metadata_store(), "sqlite://meta.db");
}

TEST_F(ConfigTest, FileOverridesDefaults) {
  write("sddb.toml",
        "# comment\ndata_backend = \"sqlite://f.db\"\ncompute = 'threads://4'\n"
        "artifact_store = \"\"\n");
  Config cfg = load_config();
  EXPECT_EQ(cfg.data_backend, "sqlite://f.db");
  EXPECT_EQ(cfg.compute, "threads://4");
  EXPECT_EQ(cfg.resolved_artifact_store(), "file://f.db.artifacts");
  EXPECT_EQ(cfg.sources.at("data_backend"), "sddb.toml");
  EXPECT_EQ(cfg.sources.at("compute"), "sddb.toml");
  EXPECT_EQ(cfg.sources.at("artifact_store"), "sddb.toml");
  EXPECT_EQ(cfg.sources.at("vector_search"), "default");
}

TEST_F(ConfigTest, SddbConfigNamesTheFileInsteadOfTheLocalOne) {
  write("sddb.toml", "data_backend = \"sqlite://local.db\"\n");
  fs::create_directories("etc");
  const std::string other = dir_ + "/etc/other.toml";
  write(other, "metadata_store = \"sqlite://meta.db\"\n");
  ::setenv("SDDB_CONFIG", other.c_str(), 1);
  Config cfg = load_config();
  EXPECT_EQ(cfg.data_backend, "sqlite://.sddb/data.db");
  EXPECT_EQ(cfg.metadata_store, "sqlite://meta.db");
  EXPECT_EQ(cfg.sources.at("metadata_store"), other);
  EXPECT_EQ(cfg.sources.at("data_backend"), "default");
}

TEST_F(ConfigTest, ConfigFileArgumentBeatsSddbConfig) {
  write("a.toml", "compute = \"workers\"\n");
  write("b.toml", "compute = \"threads://2\"\n");
  ::setenv("SDDB_CONFIG", "a.toml", 1);
  ConfigOverrides o;
  o.config_file = "b.toml";
  Config cfg = load_config(o);
  EXPECT_EQ(cfg.compute, "threads://2");
  EXPECT_EQ(cfg.sources.at("compute"), "b.toml");
}

TEST_F(ConfigTest, EnvironmentOverridesFile) {
  write("sddb.toml",
        "data_backend = \"sqlite://f.db\"\nvector_search = \"inmemory://file\"\n"
        "compute = \"workers\"\n");
  ::setenv("SDDB_DATA_BACKEND", "sqlite://env.db", 1);
  ::setenv("SDDB_COMPUTE", "", 1);  // empty counts as unset
  ::setenv("SDDB_ARTIFACT_STORE", "memory://", 1);
  Config cfg = load_config();
  EXPECT_EQ(cfg.data_backend, "sqlite://env.db");
  EXPECT_EQ(cfg.sources.at("data_backend"), "SDDB_DATA_BACKEND");
  EXPECT_EQ(cfg.artifact_store, "memory://");
  EXPECT_EQ(cfg.sources.at("artifact_store"), "SDDB_ARTIFACT_STORE");
  EXPECT_EQ(cfg.compute, "workers");
  EXPECT_EQ(cfg.sources.at("compute"), "sddb.toml");
  EXPECT_EQ(cfg.vector_search, "inmemory://file");
}

TEST_F(ConfigTest, EmbeddingsKeysFromFileEnvironmentAndArguments) {
  write("sddb.toml",
        "embeddings_url = \"http://127.0.0.1:11434\"\nembeddings_model = \"nomic-embed-text\"\n"
        "embeddings_api_key = \"file-key\"\n");
  ::setenv("SDDB_EMBEDDINGS_MODEL", "env-model", 1);
  ::setenv("SDDB_EMBEDDINGS_API_KEY", "env-key", 1);
  ConfigOverrides o;
  o.embeddings_api_key = "arg-key";
  Config cfg = load_config(o);
  EXPECT_EQ(cfg.embeddings_url, "http://127.0.0.1:11434");
  EXPECT_EQ(cfg.sources.at("embeddings_url"), "sddb.toml");
  EXPECT_EQ(cfg.embeddings_model, "env-model");
  EXPECT_EQ(cfg.sources.at("embeddings_model"), "SDDB_EMBEDDINGS_MODEL");
  EXPECT_EQ(cfg.embeddings_api_key, "arg-key");
  EXPECT_EQ(cfg.sources.at("embeddings_api_key"), "argument");
}

TEST_F(ConfigTest, ArgumentsOverrideEverything) {
  write("sddb.toml", "data_backend = \"sqlite://f.db\"\nmetadata_store = \"sqlite://fm.db\"\n");
  ::setenv("SDDB_DATA_BACKEND", "sqlite://env.db", 1);
  ::setenv("SDDB_VECTOR_SEARCH", "inmemory://env", 1);
  ConfigOverrides o;
  o.data_backend = "sqlite://arg.db";
  o.compute = "threads://8";
  Config cfg = load_config(o);
  EXPECT_EQ(cfg.data_backend, "sqlite://arg.db");
  EXPECT_EQ(cfg.sources.at("data_backend"), "argument");
  EXPECT_EQ(cfg.compute, "threads://8");
  EXPECT_EQ(cfg.sources.at("compute"), "argument");
  EXPECT_EQ(cfg.vector_search, "inmemory://env");
  EXPECT_EQ(cfg.sources.at("vector_search"), "SDDB_VECTOR_SEARCH");
  EXPECT_EQ(cfg.metadata_store, "sqlite://fm.db");
  EXPECT_EQ(cfg.sources.at("metadata_store"), "sddb.toml");
  EXPECT_EQ(cfg.sources.at("artifact_store"), "default");
}

TEST_F(ConfigTest, UnknownKeyNamesKeyFileAndLine) {
  write("sddb.toml", "data_backend = \"sqlite://f.db\"\n\ndata_bakend = \"sqlite://typo.db\"\n");
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"'data_bakend'", "sddb.toml", "line 3", "data_backend"});
}

TEST_F(ConfigTest, TableIsAnUnknownKeyWithAHint) {
  write("sddb.toml", "[sddb]\ndata_backend = \"sqlite://f.db\"\n");
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"'sddb'", "sddb.toml", "line 1", "top level"});
}

TEST_F(ConfigTest, NonStringValueNamesKeyFileAndLine) {
  write("my.toml", "compute = \"inline\"\nvector_search = 42\n");
  ConfigOverrides o;
  o.config_file = "my.toml";
  expect_error([&] { load_config(o); }, ErrorCode::invalid_argument,
               {"'vector_search'", "my.toml", "line 2", "integer"});
  write("my.toml", "\n\n\ndata_backend = [\"sqlite://a.db\"]\n");
  expect_error([&] { load_config(o); }, ErrorCode::invalid_argument,
               {"'data_backend'", "my.toml", "line 4", "array"});
}

TEST_F(ConfigTest, SyntaxErrorNamesFileAndLine) {
  write("sddb.toml", "data_backend = \"sqlite://f.db\"\ncompute = \"inline\ndata = 1\n");
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"sddb.toml", "line 2", "syntax"});
  write("sddb.toml", "compute = \"inline\"\ncompute = \"workers\"\n");  // duplicate key
  expect_error([] { load_config(); }, ErrorCode::invalid_argument, {"sddb.toml", "line 2"});
}

TEST_F(ConfigTest, NonAsciiTextInStringsAndComments) {
  write("sddb.toml",
        "\xEF\xBB\xBF# caf\xC3\xA9\ndata_backend = \"sqlite://caf\xC3\xA9.db\" # \xCF\xBB\n"
        "compute = '''\xC2\xA7'''\nvector_search = \"\"\"\\\n  inmemory://\"\"\"\n");
  Config cfg = load_config();
  EXPECT_EQ(cfg.data_backend, "sqlite://caf\xC3\xA9.db");
  EXPECT_EQ(cfg.compute, "\xC2\xA7");
  EXPECT_EQ(cfg.vector_search, "inmemory://");
}

// toml++ 3.3 has undefined behaviour on some of these (see config.cc); they are refused first.
TEST_F(ConfigTest, NonAsciiTextBetweenTokensIsASyntaxError) {
  write("sddb.toml", "compute = \"inline\"\ncompu\xCF\xBB = 1\n");
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"sddb.toml", "line 2", "column 6", "non-ASCII"});
  write("sddb.toml", "compute = \"\"\"\\\n\xC2\xA7\"\"\"\n");
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"sddb.toml", "line 2", "non-ASCII"});
  write("sddb.toml", "data_backend = 19'9-05-2\xC9\xB2'\n");
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"sddb.toml", "line 1", "column 18", "quote"});
}

TEST_F(ConfigTest, MissingNamedFileIsAnError) {
  ::setenv("SDDB_CONFIG", "nowhere.toml", 1);
  expect_error([] { load_config(); }, ErrorCode::invalid_argument,
               {"nowhere.toml", "SDDB_CONFIG", "No such file"});
  ::unsetenv("SDDB_CONFIG");
  ConfigOverrides o;
  o.config_file = "absent.toml";
  expect_error([&] { load_config(o); }, ErrorCode::invalid_argument,
               {"absent.toml", "config_file", "No such file"});
  fs::create_directories("folder.toml");
  o.config_file = "folder.toml";
  expect_error([&] { load_config(o); }, ErrorCode::invalid_argument, {"folder.toml", "folder"});
}

TEST_F(ConfigTest, EmptyFileChangesNothing) {
  write("sddb.toml", "");
  Config cfg = load_config();
  EXPECT_EQ(cfg.data_backend, "sqlite://.sddb/data.db");
  EXPECT_EQ(cfg.sources.at("data_backend"), "default");
}

// build_datalayer and superduper: a bad value names its key and source, and nothing is created.

TEST_F(ConfigTest, BadDataBackendNamesKeyAndSource) {
  ::setenv("SDDB_DATA_BACKEND", "mongodb://localhost/db", 1);
  expect_error([] { superduper(); }, ErrorCode::invalid_argument,
               {"data_backend (from SDDB_DATA_BACKEND)", "mongodb"});
  ::unsetenv("SDDB_DATA_BACKEND");
  write("sddb.toml", "data_backend = \"just-a-path.db\"\n");
  expect_error([] { superduper(); }, ErrorCode::invalid_argument,
               {"data_backend (from sddb.toml)", "just-a-path.db"});
  expect_error([] { superduper("nonsense"); }, ErrorCode::invalid_argument,
               {"data_backend (from argument)", "nonsense"});
  expect_error([] { superduper("sqlite://"); }, ErrorCode::invalid_argument,
               {"data_backend (from argument)"});
  EXPECT_EQ(fs::directory_iterator(dir_)->path().filename(), "sddb.toml");
  fs::remove("sddb.toml");
  EXPECT_TRUE(folder_is_empty());
}

TEST_F(ConfigTest, BadOtherPartsNameKeyAndSourceAndCreateNothing) {
  write("sddb.toml", "data_backend = \"sqlite://db/data.db\"\ncompute = \"threads://0\"\n");
  ConfigOverrides o;
  o.config_file = "sddb.toml";
  expect_error([&] { build_datalayer(load_config(o)); }, ErrorCode::invalid_argument,
               {"compute (from sddb.toml)", "threads://0"});

  write("sddb.toml", "data_backend = \"sqlite://db/data.db\"\n");
  ::setenv("SDDB_VECTOR_SEARCH", "faiss://x", 1);
  expect_error([&] { build_datalayer(load_config(o)); }, ErrorCode::invalid_argument,
               {"vector_search (from SDDB_VECTOR_SEARCH)", "faiss"});
  ::unsetenv("SDDB_VECTOR_SEARCH");

  // Schemes of the later parts are refused before the data backend's file is opened.
  ConfigOverrides arg = o;
  arg.artifact_store = "s3://bucket/prefix";
  expect_error([&] { build_datalayer(load_config(arg)); }, ErrorCode::invalid_argument,
               {"artifact_store (from argument)", "s3"});
  arg.artifact_store = "file://";
  expect_error([&] { build_datalayer(load_config(arg)); }, ErrorCode::invalid_argument,
               {"artifact_store (from argument)"});
  arg = o;
  arg.metadata_store = "postgresql://nowhere/db";
  expect_error([&] { build_datalayer(load_config(arg)); }, ErrorCode::invalid_argument,
               {"metadata_store (from argument)", "postgresql"});

  fs::remove("sddb.toml");
  EXPECT_TRUE(folder_is_empty());
}

// Needs the SQLite backend.
TEST_F(ConfigTest, SuperduperOpensTheEmbeddedDefaultInTheCurrentFolder) {
  {
    auto db = superduper();
    EXPECT_TRUE(fs::is_regular_file(".sddb/data.db"));
    EXPECT_TRUE(fs::is_directory(".sddb/data.db.artifacts"));
    EXPECT_EQ(db->artifact_store().uri(), "file://.sddb/data.db.artifacts");
    const std::string id = db->artifact_store().put("model bytes");
    EXPECT_EQ(db->artifact_store().get(id), "model bytes");
  }
  auto again = superduper();
  EXPECT_EQ(again->artifact_store().list().size(), 1u);
}

// Needs the SQLite backend.
TEST_F(ConfigTest, InMemoryDatabaseKeepsArtifactsInMemory) {
  auto db = superduper("sqlite://:memory:");
  EXPECT_EQ(db->artifact_store().uri(), "memory://");
  db->artifact_store().put("x");
  EXPECT_TRUE(folder_is_empty());
}

}  // namespace
}  // namespace sddb
