// Nothing acknowledged is lost: a child process writes through the public API and reports each
// write that returned; the parent kills it with SIGKILL in the middle of its work, reopens the
// database and checks that every acknowledged write is there and no batch is half there.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "sddb/sddb.h"
#include "testing/temp_dir.h"

namespace fs = std::filesystem;

namespace sddb {
namespace {

constexpr int kBatch = 50;

// In the child: insert batches and put artifacts forever, writing "d <batch>" or "a <sha>" to the
// pipe after each call returns. Never returns.
[[noreturn]] void child_writer(const fs::path& dir, int fd) {
  try {
    Config cfg;
    cfg.data_backend = "sqlite://" + (dir / "data.db").string();
    cfg.artifact_store = "file://" + (dir / "artifacts").string();
    auto db = build_datalayer(cfg);
    for (int batch = 0;; ++batch) {
      std::vector<Document> docs;
      for (int i = 0; i < kBatch; ++i) {
        docs.push_back(Value{{"_id", "b" + std::to_string(batch) + "-" + std::to_string(i)},
                             {"batch", batch},
                             {"payload", std::string(200, 'x')}});
      }
      db->execute(Collection("docs").insert_many(std::move(docs)));
      std::string line = "d " + std::to_string(batch) + "\n";
      if (write(fd, line.data(), line.size()) < 0) _exit(3);
      std::string sha = db->artifact_store().put("artifact number " + std::to_string(batch));
      line = "a " + sha + "\n";
      if (write(fd, line.data(), line.size()) < 0) _exit(3);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child failed: %s\n", e.what());
  }
  _exit(2);
}

TEST(Durability, AcknowledgedWritesSurviveKill9) {
  const testutil::TempDir tmp("sddb-durability");
  const fs::path& dir = tmp.path();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    child_writer(dir, fds[1]);
  }
  close(fds[1]);

  // Read acknowledgements until enough writes have returned, then kill without warning.
  std::set<int> acked_batches;
  std::set<std::string> acked_artifacts;
  FILE* in = fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  char line[256];
  while (acked_batches.size() < 40 && std::fgets(line, sizeof line, in) != nullptr) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    if (s.rfind("d ", 0) == 0) acked_batches.insert(std::stoi(s.substr(2)));
    if (s.rfind("a ", 0) == 0) acked_artifacts.insert(s.substr(2));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fclose(in);
  ASSERT_EQ(acked_batches.size(), 40u) << "the writer stopped early";
  ASSERT_TRUE(WIFSIGNALED(status));

  Config cfg;
  cfg.data_backend = "sqlite://" + (dir / "data.db").string();
  cfg.artifact_store = "file://" + (dir / "artifacts").string();
  auto db = build_datalayer(cfg);
  for (int batch : acked_batches) {
    EXPECT_EQ(db->execute(Collection("docs").count(Value{{"batch", batch}})), kBatch)
        << "batch " << batch;
  }
  // The batch in flight at the kill is either whole or absent.
  const std::int64_t total = db->execute(Collection("docs").count());
  EXPECT_EQ(total % kBatch, 0) << total << " documents";
  EXPECT_GE(total, static_cast<std::int64_t>(acked_batches.size()) * kBatch);
  for (const std::string& sha : acked_artifacts) {
    EXPECT_TRUE(db->artifact_store().exists(sha)) << sha;
    EXPECT_EQ(sha256_hex(db->artifact_store().get(sha)), sha);
  }
}

}  // namespace
}  // namespace sddb
