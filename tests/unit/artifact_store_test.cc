// The ArtifactStore contract, run against every store that ships in sddb_core.

#include "sddb/artifact_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "artifacts/stores.h"
#include "sddb/error.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;

std::string make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "sddb-artifact-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no sddb::Error thrown";
  return ErrorCode::internal;
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ValidateArtifactId) {
  EXPECT_NO_THROW(validate_artifact_id(sha256_hex("x")));
  const std::string good = sha256_hex("x");
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad :
       {std::string(), std::string("../../etc/passwd"), upper, good.substr(1), good + "0",
        good.substr(0, 63) + "g", good.substr(0, 2) + "/" + good.substr(3), std::string(64, '.'),
        good.substr(0, 63) + std::string(1, '\0')}) {
    try {
      validate_artifact_id(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("artifact id"), std::string::npos) << e.what();
    }
  }
  try {
    validate_artifact_id("../../etc/passwd");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("../../etc/passwd"), std::string::npos) << e.what();
  }
}

enum class Kind { file, memory };

class ArtifactStoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::file) {
      dir_ = make_temp_dir();
      store_ = detail::make_file_store(dir_ + "/store", "file://" + dir_ + "/store");
    } else {
      store_ = detail::make_memory_store();
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string dir_;
  std::shared_ptr<ArtifactStore> store_;
};

TEST_P(ArtifactStoreTest, RoundTrip) {
  std::string bytes = "hello";
  bytes.push_back('\0');
  bytes += "\xff\x01 binary";
  const std::string id = store_->put(bytes);
  EXPECT_EQ(id, sha256_hex(bytes));
  EXPECT_TRUE(store_->exists(id));
  EXPECT_EQ(store_->get(id), bytes);
  EXPECT_EQ(store_->list(), std::vector<std::string>{id});
}

TEST_P(ArtifactStoreTest, EmptyArtifact) {
  const std::string id = store_->put("");
  EXPECT_EQ(id, sha256_hex(""));
  EXPECT_TRUE(store_->exists(id));
  EXPECT_EQ(store_->get(id), "");
}

TEST_P(ArtifactStoreTest, LargeArtifact) {
  std::string bytes(5 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 251);
  const std::string id = store_->put(bytes);
  EXPECT_EQ(store_->get(id), bytes);
}

TEST_P(ArtifactStoreTest, PutIsIdempotent) {
  const std::string a = store_->put("same");
  const std::string b = store_->put("same");
  EXPECT_EQ(a, b);
  EXPECT_EQ(store_->list().size(), 1u);
  EXPECT_EQ(store_->get(a), "same");
}

TEST_P(ArtifactStoreTest, AbsentAndRemoved) {
  const std::string id = sha256_hex("never stored");
  EXPECT_FALSE(store_->exists(id));
  EXPECT_EQ(code_of([&] { store_->get(id); }), ErrorCode::not_found);
  EXPECT_NO_THROW(store_->remove(id));

  const std::string kept = store_->put("kept");
  const std::string gone = store_->put("gone");
  store_->remove(gone);
  EXPECT_FALSE(store_->exists(gone));
  EXPECT_EQ(code_of([&] { store_->get(gone); }), ErrorCode::not_found);
  EXPECT_EQ(store_->list(), std::vector<std::string>{kept});
  EXPECT_NO_THROW(store_->remove(gone));
}

TEST_P(ArtifactStoreTest, ListIsSorted) {
  std::vector<std::string> ids;
  ids.reserve(50);
  for (int i = 0; i < 50; ++i) ids.push_back(store_->put("artifact " + std::to_string(i)));
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(store_->list(), ids);
}

TEST_P(ArtifactStoreTest, BadIdsAreRejected) {
  store_->put("something");
  const std::string upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
  for (const std::string& bad : {std::string("../../etc/passwd"), upper, std::string(),
                                 std::string("e3/../../../../../../../../etc/passwd")}) {
    EXPECT_EQ(code_of([&] { store_->get(bad); }), ErrorCode::invalid_argument) << bad;
    EXPECT_EQ(code_of([&] { store_->exists(bad); }), ErrorCode::invalid_argument) << bad;
    EXPECT_EQ(code_of([&] { store_->remove(bad); }), ErrorCode::invalid_argument) << bad;
  }
  try {
    store_->get(upper);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(upper), std::string::npos) << e.what();
  }
}

TEST_P(ArtifactStoreTest, ConcurrentPutsGetsAndRemoves) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kPerThread; ++i) {
          // Every thread writes the shared artifacts too, so same-bytes puts really race.
          const std::string shared = "shared " + std::to_string(i);
          const std::string own = "thread " + std::to_string(t) + " item " + std::to_string(i);
          const std::string a = store_->put(shared);
          const std::string b = store_->put(own);
          if (store_->get(a) != shared || store_->get(b) != own) ++failures;
          if (i % 4 == 0) {
            store_->remove(b);
            if (store_->exists(b)) ++failures;
          }
          store_->list();
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // kPerThread shared artifacts, plus 3/4 of each thread's own.
  EXPECT_EQ(store_->list().size(), static_cast<std::size_t>(kPerThread + kThreads * 30));
  for (const std::string& id : store_->list()) EXPECT_NO_THROW(store_->get(id));
}

INSTANTIATE_TEST_SUITE_P(Stores, ArtifactStoreTest, ::testing::Values(Kind::file, Kind::memory),
                         [](const auto& info) {
                           return info.param == Kind::file ? std::string("file")
                                                           : std::string("memory");
                         });

}  // namespace
}  // namespace sddb
