// model_artifact_bench: peak RSS and time of adding and reloading one large fastText model, the
// way the DB did it before (save() to one string, put(); get() to one string, load()) against
// the streamed path it uses now (save_file and put_from; get_into a file and load_file), and
// the same model added as a user's .bin (Model::fasttext_file).
//
//   model_artifact_bench [--bucket N] [--dim D] [--dir DIR]
//
// The model's size is (words + bucket) x dim floats: the default 500,000 x 100 makes a ~200 MiB
// .bin. Every phase runs in its own forked child, so each peak RSS is that phase's alone; the
// parent holds nothing large. Both add phases train the same model on the same texts first
// (training holds the model, and the texts, in either case): the difference is the save.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sddb/config.h"
#include "sddb/db.h"
#include "sddb/model.h"

namespace {

using sddb::bench::Clock;
using sddb::bench::seconds_since;

struct Options {
  int bucket = 500000;
  int dim = 100;
  std::filesystem::path dir;
};

struct Result {
  double seconds = 0;
  long peak_rss_kib = 0;
  bool ok = false;
};

long peak_rss_kib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// 30,000 sentences of 8-15 words from a vocabulary of 8,000 made-up words.
std::vector<sddb::Value> texts() {
  std::mt19937 rng(7);
  std::vector<std::string> vocab;
  std::uniform_int_distribution<int> letter('a', 'z');
  std::uniform_int_distribution<int> word_length(3, 10);
  for (int i = 0; i < 8000; ++i) {
    std::string w;
    for (int n = word_length(rng); n > 0; --n) w += static_cast<char>(letter(rng));
    vocab.push_back(w);
  }
  std::uniform_int_distribution<std::size_t> pick(0, vocab.size() - 1);
  std::uniform_int_distribution<int> sentence_length(8, 15);
  std::vector<sddb::Value> out;
  for (int i = 0; i < 30000; ++i) {
    std::string s;
    for (int n = sentence_length(rng); n > 0; --n) s += (s.empty() ? "" : " ") + vocab[pick(rng)];
    out.emplace_back(s);
  }
  return out;
}

sddb::Value params(const Options& o) {
  return sddb::Model::fasttext("ft", {.dim = o.dim,
                                      .epochs = 1,
                                      .min_count = 1,
                                      .bucket = o.bucket,
                                      .model = "cbow",
                                      .threads = 2,
                                      .seed = 1})
      .params();
}

std::unique_ptr<sddb::DB> open(const std::filesystem::path& dir) {
  sddb::Config c;
  c.data_backend = "sqlite://" + (dir / "data.db").string();
  c.artifact_store = "file://" + (dir / "artifacts").string();
  return sddb::build_datalayer(c);
}

std::unique_ptr<sddb::ModelRuntime> fit(const Options& o) {
  return sddb::model_kind("fasttext").fit(params(o), texts(), nullptr);
}

// Runs `phase` in a forked child and returns its time and peak RSS.
Result in_child(const std::function<void()>& phase) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    Result r;
    try {
      const auto t0 = Clock::now();
      phase();
      r.seconds = seconds_since(t0);
      r.ok = true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "phase failed: %s\n", e.what());
    }
    r.peak_rss_kib = peak_rss_kib();
    if (::write(fds[1], &r, sizeof r) != sizeof r) ::_exit(2);
    ::_exit(r.ok ? 0 : 1);
  }
  ::close(fds[1]);
  Result r;
  if (pid < 0 || ::read(fds[0], &r, sizeof r) != sizeof r) r = {};
  ::close(fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return r;
}

void print(const char* name, const Result& r) {
  std::printf("%-36s %8.2f s %10.1f MiB%s\n", name, r.seconds, r.peak_rss_kib / 1024.0,
              r.ok ? "" : "  FAILED");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--bucket" && v) {
      o.bucket = std::atoi(v), ++i;
    } else if (a == "--dim" && v) {
      o.dim = std::atoi(v), ++i;
    } else if (a == "--dir" && v) {
      o.dir = v, ++i;
    } else {
      std::fprintf(stderr, "usage: %s [--bucket N] [--dim D] [--dir DIR]\n", argv[0]);
      return 2;
    }
  }
  const bool own_dir = o.dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sddb-model-bench-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    o.dir = tmpl;
  }
  const auto whole_dir = o.dir / "whole";
  const auto streamed_dir = o.dir / "streamed";
  std::filesystem::create_directories(whole_dir);
  std::filesystem::create_directories(streamed_dir);
  std::filesystem::create_directories(o.dir / "file_whole");
  std::filesystem::create_directories(o.dir / "file_streamed");
  std::printf("fastText model: dim %d, bucket %d, cbow, 1 epoch on 30,000 sentences\n", o.dim,
              o.bucket);

  const Result base = in_child([&] { (void)open(whole_dir); });
  const Result fit_only = in_child([&] { (void)fit(o); });
  // Before: the model saved to one string, then put whole.
  const Result add_whole = in_child([&] {
    auto db = open(whole_dir);
    auto runtime = fit(o);
    const std::string bytes = runtime->save();
    const std::string id = db->artifact_store().put(bytes);
    std::FILE* f = std::fopen((whole_dir / "id").c_str(), "w");
    if (f == nullptr) throw std::runtime_error("cannot write the id");
    std::fputs(id.c_str(), f);
    std::fclose(f);
  });
  // After: DB::add, which saves to a private file and put_from's it.
  const Result add_streamed = in_child([&] {
    auto db = open(streamed_dir);
    sddb::Model m("ft", "fasttext", params(o));
    m.set_runtime(std::make_shared<sddb::Model::Runtime>(fit(o)));
    db->add(m);
  });
  std::string id;
  if (std::FILE* f = std::fopen((whole_dir / "id").c_str(), "r")) {
    char buf[65] = {};
    if (std::fread(buf, 1, 64, f) == 64) id = buf;
    std::fclose(f);
  }
  std::uintmax_t size = 0;
  if (!id.empty()) {
    size = std::filesystem::file_size(whole_dir / "artifacts" / id.substr(0, 2) / id.substr(2));
  }
  // A user's .bin (Model::fasttext_file): before, read into a string, put, loaded from it.
  const auto users_file = o.dir / "users.bin";
  if (!id.empty()) {
    std::filesystem::copy_file(whole_dir / "artifacts" / id.substr(0, 2) / id.substr(2),
                               users_file);
  }
  const Result file_whole = in_child([&] {
    auto db = open(o.dir / "file_whole");
    std::ifstream in(users_file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string bytes = std::move(ss).str();
    (void)db->artifact_store().put(bytes);
    (void)sddb::model_kind("fasttext").load(sddb::Value::object(), bytes);
  });
  const Result file_streamed = in_child([&] {
    auto db = open(o.dir / "file_streamed");
    db->add(sddb::Model::fasttext_file("users", users_file));
  });
  const Result load_whole = in_child([&] {
    auto db = open(whole_dir);
    const std::string bytes = db->artifact_store().get(id);
    auto runtime = sddb::model_kind("fasttext").load(params(o), bytes);
    if (runtime->dim() != static_cast<std::size_t>(o.dim)) throw std::runtime_error("bad dim");
  });
  const Result load_streamed = in_child([&] {
    auto db = open(streamed_dir);
    if (db->load_model("ft").dim() != static_cast<std::size_t>(o.dim)) {
      throw std::runtime_error("bad dim");
    }
  });

  std::printf("artifact: %.1f MiB\n\n", static_cast<double>(size) / (1 << 20));
  std::printf("%-36s %10s %14s\n", "phase (own process)", "time", "peak RSS");
  print("open the DB only", base);
  print("fit only", fit_only);
  print("add, whole: save() + put()", add_whole);
  print("add, streamed: DB::add", add_streamed);
  print("user's .bin, whole: read + put + load", file_whole);
  print("user's .bin, streamed: DB::add", file_streamed);
  print("reload, whole: get() + load()", load_whole);
  print("reload, streamed: DB::load_model", load_streamed);
  if (add_whole.ok && add_streamed.ok && load_whole.ok && load_streamed.ok) {
    std::printf("\npeak RSS streamed / whole: add %.2f, user's .bin %.2f, reload %.2f\n",
                static_cast<double>(add_streamed.peak_rss_kib) / add_whole.peak_rss_kib,
                static_cast<double>(file_streamed.peak_rss_kib) / file_whole.peak_rss_kib,
                static_cast<double>(load_streamed.peak_rss_kib) / load_whole.peak_rss_kib);
  }
  if (own_dir) std::filesystem::remove_all(o.dir);
  const bool ok = base.ok && fit_only.ok && add_whole.ok && add_streamed.ok && file_whole.ok &&
                  file_streamed.ok && load_whole.ok && load_streamed.ok;
  return ok ? 0 : 1;
}
