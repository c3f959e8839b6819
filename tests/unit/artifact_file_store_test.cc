// What only the file:// store promises: its layout on disk, atomic writes that leave no
// temporary files, detection of damaged files, and errors that name the path.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "artifacts/stores.h"
#include "sddb/artifact_store.h"
#include "sddb/error.h"
#include "testing/errors.h"

namespace sddb {
namespace {

namespace fs = std::filesystem;
using testutil::error_of;

// A forked child that never outlives its test: killed when the test ends however it ends, and by
// the kernel if the test process dies first.
class Child {
 public:
  // Runs `body` in a child process; `body` must not return.
  explicit Child(const std::function<void()>& body) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(3);
      try {
        body();
      } catch (...) {
      }
      ::_exit(2);
    }
  }
  ~Child() { kill(); }
  bool started() const { return pid_ > 0; }
  // Kills the child; true when it was still running, i.e. it had not failed on its own.
  bool kill() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

 private:
  pid_t pid_ = -1;
};

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sddb-filestore-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    dir_ = tmp_ + "/a/b/store";
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::shared_ptr<ArtifactStore> open() { return detail::make_file_store(dir_, "file://" + dir_); }

  std::string path_of(const std::string& id) {
    return dir_ + "/" + id.substr(0, 2) + "/" + id.substr(2);
  }

  std::vector<std::string> temp_files() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".tmp-", 0) == 0) names.push_back(name);
    }
    return names;
  }

  std::string tmp_;
  std::string dir_;
};

TEST_F(FileStoreTest, CreatesFolderAndFansOut) {
  auto store = open();
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_EQ(store->uri(), "file://" + dir_);
  const std::string id = store->put("layout");
  ASSERT_TRUE(fs::is_regular_file(path_of(id)));
  EXPECT_EQ(fs::file_size(path_of(id)), 6u);
}

TEST_F(FileStoreTest, SurvivesReopen) {
  std::string id;
  {
    auto store = open();
    id = store->put("durable");
  }
  auto again = open();
  EXPECT_EQ(again->get(id), "durable");
  EXPECT_EQ(again->list(), std::vector<std::string>{id});
}

TEST_F(FileStoreTest, LeavesNoTemporaryFiles) {
  auto store = open();
  for (int i = 0; i < 20; ++i) store->put("artifact " + std::to_string(i));
  store->put("artifact 3");
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(FileStoreTest, LeftoverTemporaryFilesAreIgnoredAndCleanedOnOpen) {
  auto store = open();
  const std::string id = store->put("real");
  std::ofstream(dir_ + "/.tmp-crashed-writer") << "half an artifa";
  std::ofstream(dir_ + "/README") << "not an artifact";
  fs::create_directories(dir_ + "/zz");
  std::ofstream(dir_ + "/" + id.substr(0, 2) + "/short") << "not an artifact either";
  EXPECT_EQ(store->list(), std::vector<std::string>{id});

  open();
  EXPECT_TRUE(temp_files().empty());
  EXPECT_TRUE(fs::exists(dir_ + "/README"));  // only our own temporary files are removed
  EXPECT_EQ(open()->list(), std::vector<std::string>{id});
}

TEST_F(FileStoreTest, TemporaryFileOfALiveWriterIsKept) {
  open();
  // A writer in another process holds flock() on its temporary file while writing it.
  const std::string live = dir_ + "/.tmp-live-writer";
  const int fd = ::open(live.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  // flock locks belong to the open file description, so a second description (what another
  // process's open would use) sees the lock as taken.
  open();
  EXPECT_TRUE(fs::exists(live));
  ::close(fd);
  open();
  EXPECT_FALSE(fs::exists(live));
}

std::string numbered_bytes(int i) {
  // Large enough that a kill often lands inside a write.
  return std::to_string(i) + std::string(std::size_t{256} * 1024, static_cast<char>('a' + i % 26));
}

// kill -9 of a writer leaves every acknowledged artifact intact, no partial artifact visible,
// and no temporary file after the next open.
TEST_F(FileStoreTest, AcknowledgedPutsSurviveKill9) {
  open();
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  Child writer([&] {
    ::close(acks[0]);
    auto store = open();
    for (int i = 0;; ++i) {
      store->put(numbered_bytes(i));
      if (::write(acks[1], &i, sizeof i) != sizeof i) return;
    }
  });
  ASSERT_TRUE(writer.started());
  ::close(acks[1]);
  int last = -1;
  int got = 0;
  while (got < 30 && ::read(acks[0], &last, sizeof last) == sizeof last) ++got;
  ASSERT_EQ(got, 30) << "the writer stopped early";
  EXPECT_TRUE(writer.kill()) << "the writer failed on its own";
  // Acknowledgements still in the pipe were sent after their put returned too.
  for (int i; ::read(acks[0], &i, sizeof i) == sizeof i;) last = i;
  ::close(acks[0]);

  auto store = open();
  EXPECT_TRUE(temp_files().empty());
  for (int i = 0; i <= last; ++i) {
    const std::string bytes = numbered_bytes(i);
    EXPECT_EQ(store->get(sha256_hex(bytes)), bytes) << i;
  }
  for (const std::string& id : store->list()) EXPECT_NO_THROW(store->get(id)) << id;
}

// kill -9 in the middle of a streamed put: nothing visible, and the temporary file it was
// writing is gone after the next open.
TEST_F(FileStoreTest, AStreamedPutKilledMidwayLeavesNothing) {
  auto store = open();
  const std::string kept = store->put("kept");
  int fed[2];
  ASSERT_EQ(::pipe(fed), 0);
  Child writer([&] {
    ::close(fed[0]);
    auto child_store = open();
    std::size_t calls = 0;
    // A source that never ends, saying so once several chunks have gone to the file.
    child_store->put_from([&](char* buf, std::size_t cap) {
      if (++calls == 8 && ::write(fed[1], "x", 1) != 1) ::_exit(4);
      std::fill_n(buf, cap, 'z');
      return cap;
    });
  });
  ASSERT_TRUE(writer.started());
  ::close(fed[1]);
  char c;
  ASSERT_EQ(::read(fed[0], &c, 1), 1);
  ::close(fed[0]);
  EXPECT_TRUE(writer.kill()) << "the writer failed on its own";
  EXPECT_EQ(temp_files().size(), 1u);  // its temporary file, never under an artifact's name
  EXPECT_EQ(store->list(), std::vector<std::string>{kept});
  open();
  EXPECT_TRUE(temp_files().empty());
  EXPECT_EQ(open()->list(), std::vector<std::string>{kept});
}

// Another process opening the store (and so cleaning leftovers) while puts are in flight must
// not remove a temporary file that is still being written.
TEST_F(FileStoreTest, OpenInAnotherProcessSparesLiveTemporaryFiles) {
  auto store = open();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  Child cleaner([&] {
    ::close(ready[0]);
    for (bool told = false;; told = true) {
      open();
      if (!told && ::write(ready[1], "x", 1) != 1) return;
    }
  });
  ASSERT_TRUE(cleaner.started());
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);  // the child is cleaning in a loop from here on
  ::close(ready[0]);
  std::vector<std::string> ids;
  ids.reserve(200);
  for (int i = 0; i < 200; ++i) ids.push_back(store->put("racing " + std::to_string(i)));
  EXPECT_TRUE(cleaner.kill()) << "the cleaning process failed on its own";
  for (int i = 0; i < 200; ++i) EXPECT_EQ(store->get(ids[i]), "racing " + std::to_string(i));
  open();
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(FileStoreTest, FlippedByteIsCorruption) {
  auto store = open();
  const std::string id = store->put("precious bytes");
  {
    std::fstream f(path_of(id), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  Error e = error_of([&] { store->get(id); });
  EXPECT_EQ(e.code(), ErrorCode::corruption);
  EXPECT_NE(std::string(e.what()).find(id), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find(path_of(id)), std::string::npos) << e.what();

  // Putting the original bytes again repairs the file.
  EXPECT_EQ(store->put("precious bytes"), id);
  EXPECT_EQ(store->get(id), "precious bytes");
}

TEST_F(FileStoreTest, TruncatedFileIsCorruption) {
  auto store = open();
  const std::string id = store->put("a longer artifact");
  fs::resize_file(path_of(id), 4);
  EXPECT_EQ(error_of([&] { store->get(id); }).code(), ErrorCode::corruption);
  store->put("a longer artifact");
  EXPECT_EQ(store->get(id), "a longer artifact");
}

TEST_F(FileStoreTest, FolderThatIsAFileIsAnIoError) {
  fs::create_directories(tmp_ + "/a/b");
  std::ofstream(dir_) << "i am a file";
  Error e = error_of([&] { open(); });
  EXPECT_EQ(e.code(), ErrorCode::io_error);
  EXPECT_NE(std::string(e.what()).find(dir_), std::string::npos) << e.what();
}

TEST_F(FileStoreTest, UnreadableFileIsAnIoErrorNamingThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  auto store = open();
  const std::string id = store->put("locked away");
  fs::permissions(path_of(id), fs::perms::none);
  Error e = error_of([&] { store->get(id); });
  EXPECT_EQ(e.code(), ErrorCode::io_error);
  EXPECT_NE(std::string(e.what()).find(path_of(id)), std::string::npos) << e.what();
  fs::permissions(path_of(id), fs::perms::owner_all);
}

// Works as root too, unlike a permission test: the fan-out folder replaced by a file.
TEST_F(FileStoreTest, OsErrorsAreIoErrorsNamingThePath) {
  auto store = open();
  const std::string id = sha256_hex("blocked");
  std::ofstream(dir_ + "/" + id.substr(0, 2)) << "not a folder";
  Error e = error_of([&] { store->get(id); });
  EXPECT_EQ(e.code(), ErrorCode::io_error);
  EXPECT_NE(std::string(e.what()).find(path_of(id)), std::string::npos) << e.what();
  e = error_of([&] { store->put("blocked"); });
  EXPECT_EQ(e.code(), ErrorCode::io_error);
  EXPECT_NE(std::string(e.what()).find(dir_), std::string::npos) << e.what();
  EXPECT_TRUE(temp_files().empty());  // a failed put cleans up after itself
}

TEST_F(FileStoreTest, RelativeFolderIsFixedAtOpen) {
  const fs::path cwd = fs::current_path();
  fs::create_directories(tmp_ + "/one");
  fs::create_directories(tmp_ + "/two");
  fs::current_path(tmp_ + "/one");
  auto store = detail::make_file_store("rel", "file://rel");
  fs::current_path(tmp_ + "/two");
  const std::string id = store->put("where am i");
  fs::current_path(cwd);
  EXPECT_TRUE(fs::exists(tmp_ + "/one/rel/" + id.substr(0, 2) + "/" + id.substr(2)));
  EXPECT_FALSE(fs::exists(tmp_ + "/two/rel"));
}

}  // namespace
}  // namespace sddb
