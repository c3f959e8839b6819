// "file://DIR": one file per artifact, DIR/ab/cdef... (the first two hex digits of the sha256
// name a fan-out folder so that no folder grows past a few thousand entries per million
// artifacts).
//
// Durability: put_from streams into DIR/.tmp-* while hashing (the name is known only at the
// end), fsyncs it, renames it into place and fsyncs the fan-out folder, so an acknowledged put
// survives kill -9 and power loss, and a reader sees either no file or the whole file. A crash can
// leave a DIR/.tmp-* file behind; list never looks at DIR's top level and the next open removes
// them. A writer holds flock() on its temporary file for as long as it exists under that name, so
// an open in another process never removes a temporary file that is still being written.
//
// Ids are validated (64 lowercase hex digits) before any path is built, which is what keeps
// every path inside DIR.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "artifacts/sha256.h"
#include "artifacts/stores.h"
#include "artifacts/streaming.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTempPrefix = ".tmp-";
// Large enough to amortize system calls, small enough that hashing runs on data still in cache.
constexpr std::size_t kChunk = kArtifactChunkBytes;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

[[noreturn]] void io_failed(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorCode::io_error,
              "file store: cannot " + what + " '" + path + "': " + errno_text(err));
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

int open_retrying(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Makes a folder's entries (a rename into it, a new subfolder) durable.
void sync_dir(const std::string& dir) {
  Fd fd(open_retrying(dir, O_RDONLY | O_DIRECTORY));
  if (!fd.ok()) io_failed("open folder", dir, errno);
  // Some filesystems cannot fsync a folder at all (EINVAL); there is nothing more to be done
  // there, and refusing every put would make the store unusable on them.
  if (::fsync(fd.get()) != 0 && errno != EINVAL && errno != ENOTSUP) {
    io_failed("fsync folder", dir, errno);
  }
}

void write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), std::min(bytes.size(), kChunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      io_failed("write", path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

std::string temp_name() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%ld-%llu-%016llx", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(rng()));
  return std::string(kTempPrefix) + buf;
}

class FileStore final : public ArtifactStore {
 public:
  FileStore(const std::string& dir, std::string uri) : uri_(std::move(uri)) {
    std::error_code ec;
    // Absolute, so that a later chdir of the process does not move the store.
    fs::path abs = fs::absolute(dir, ec);
    if (ec) io_failed("resolve folder", dir, ec.value());
    dir_ = abs.lexically_normal().string();
    if (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    create_dir_durably(dir_);
    remove_leftover_temp_files();
  }

  std::string uri() const override { return uri_; }

  std::string put_from(const ArtifactSource& read) override {
    return install([&read](const Temp& t) {
      HashingSource in(read);
      for (std::string_view chunk = in.next(); !chunk.empty(); chunk = in.next()) {
        write_all(t.fd.get(), chunk, t.path);
      }
      return in.finish_hex();
    });
  }

  std::string put(std::string_view bytes) override {
    std::string id = sha256_hex(bytes);
    // An intact copy makes put a no-op. A damaged one (same name, other bytes) is replaced,
    // which is how a caller repairs what get reported as corruption. The fsync covers a copy
    // that another process renamed in but has not yet made durable.
    const std::string fan = dir_ + "/" + id.substr(0, 2);
    if (holds_intact(fan + "/" + id.substr(2), bytes)) {
      sync_dir(fan);
      return id;
    }
    // The id is known, so the bytes go to the file without a second pass of the hasher.
    return install([&](const Temp& t) {
      write_all(t.fd.get(), bytes, t.path);
      return id;
    });
  }

  void get_into(const std::string& id, const ArtifactSink& write) override {
    stream(id, write, nullptr);
  }

  std::string get(const std::string& id) override {
    std::string out;
    stream(
        id, [&out](std::string_view chunk) { out.append(chunk); }, &out);
    return out;
  }

  bool exists(const std::string& id) override {
    validate_artifact_id(id);
    const std::string path = path_of(id);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
    if (errno == ENOENT || errno == ENOTDIR) return false;
    io_failed("stat", path, errno);
  }

  // Not followed by a folder fsync: an artifact that comes back after a crash is harmless
  // (content-addressed, and whoever removed it no longer refers to it).
  void remove(const std::string& id) override {
    validate_artifact_id(id);
    const std::string path = path_of(id);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && errno != ENOTDIR) {
      io_failed("remove", path, errno);
    }
  }

  std::vector<std::string> list() override {
    std::vector<std::string> ids;
    std::error_code ec;
    for (fs::directory_iterator top(dir_, ec), end; !ec && top != end; top.increment(ec)) {
      const std::string fan = top->path().filename().string();
      if (fan.size() != 2 || !is_lower_hex(fan)) continue;  // .tmp-* and foreign files
      std::error_code ec2;
      for (fs::directory_iterator it(top->path(), ec2); !ec2 && it != end; it.increment(ec2)) {
        const std::string rest = it->path().filename().string();
        if (rest.size() == 62 && is_lower_hex(rest)) ids.push_back(fan + rest);
      }
      // A fan-out folder is never removed, so an error here is a real one.
      if (ec2) io_failed("list folder", top->path().string(), ec2.value());
    }
    if (ec) io_failed("list folder", dir_, ec.value());
    std::sort(ids.begin(), ids.end());
    return ids;
  }

 private:
  std::string path_of(const std::string& id) const {
    return dir_ + "/" + id.substr(0, 2) + "/" + id.substr(2);
  }

  static void create_dir_durably(const std::string& dir) {
    // The folders that do not exist yet: after creating them, each parent is fsynced so the
    // whole chain survives a crash.
    std::vector<fs::path> created;
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      created.push_back(p);
      if (p == p.parent_path()) break;
    }
    fs::create_directories(dir, ec);
    if (ec) io_failed("create folder", dir, ec.value());
    if (!fs::is_directory(dir, ec)) io_failed("use as folder", dir, ENOTDIR);
    for (const fs::path& p : created) sync_dir(p.parent_path().string());
  }

  // True when `path` exists and holds exactly `bytes`. Compared a chunk at a time, so a put of a
  // large artifact that is already there never holds a second copy of it in memory.
  static bool holds_intact(const std::string& path, std::string_view bytes) {
    Fd fd(open_retrying(path, O_RDONLY));
    if (!fd.ok()) {
      if (errno == ENOENT) return false;
      io_failed("open", path, errno);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) io_failed("stat", path, errno);
    if (static_cast<std::size_t>(st.st_size) != bytes.size()) return false;
    std::string chunk(std::min(bytes.size(), kChunk), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd.get(), chunk.data(), std::min(bytes.size() - done, kChunk));
      if (n < 0) {
        if (errno == EINTR) continue;
        io_failed("read", path, errno);
      }
      if (n == 0) return false;
      if (bytes.substr(done, static_cast<std::size_t>(n)) !=
          std::string_view(chunk.data(), static_cast<std::size_t>(n))) {
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // A temporary file of ours, locked, still under its name in DIR.
  struct Temp {
    std::string path;
    Fd fd;
  };

  std::unique_ptr<Temp> create_temp() const {
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto t = std::make_unique<Temp>();
      t->path = dir_ + "/" + temp_name();
      const int fd = open_retrying(t->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0) {
        if (errno == EEXIST) continue;
        io_failed("create", t->path, errno);
      }
      t->fd.reset(fd);
      while (::flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::unlink(t->path.c_str());
        io_failed("lock", t->path, err);
      }
      // Between open and flock, another process's open may have removed the file as a leftover;
      // if the name no longer points at our file, start again with a new one.
      struct stat mine, named;
      if (::fstat(fd, &mine) != 0) io_failed("stat", t->path, errno);
      if (::stat(t->path.c_str(), &named) == 0 && same_file(mine, named)) return t;
    }
    throw Error(ErrorCode::io_error,
                "file store: cannot create a temporary file in '" + dir_ + "' that stays put");
  }

  // Has `fill` write an artifact into a temporary file and return its id, then renames the file
  // to that content address. Two puts of the same bytes may race at the rename; each atomically
  // installs a complete copy of identical bytes, so either order leaves the right file, and an
  // existing damaged copy is replaced.
  std::string install(const std::function<std::string(const Temp&)>& fill) const {
    std::unique_ptr<Temp> t = create_temp();
    std::string id;
    std::string fan;
    try {
      id = fill(*t);
      if (::fsync(t->fd.get()) != 0) io_failed("fsync", t->path, errno);
      fan = dir_ + "/" + id.substr(0, 2);
      if (::mkdir(fan.c_str(), 0755) == 0) {
        sync_dir(dir_);
      } else if (errno != EEXIST) {
        io_failed("create folder", fan, errno);
      }
      const std::string path = fan + "/" + id.substr(2);
      if (::rename(t->path.c_str(), path.c_str()) != 0) io_failed("rename into", path, errno);
    } catch (...) {
      ::unlink(t->path.c_str());
      throw;
    }
    sync_dir(fan);
    return id;
  }

  // Hands the artifact to `write` chunk by chunk, verifying it; reserves its size in `reserve`
  // first, when given, so get holds the artifact once.
  void stream(const std::string& id, const ArtifactSink& write, std::string* reserve) const {
    validate_artifact_id(id);
    const std::string path = path_of(id);
    Fd fd(open_retrying(path, O_RDONLY));
    if (!fd.ok()) {
      if (errno == ENOENT) {
        throw Error(ErrorCode::not_found, "artifact " + id + " not found in " + uri_);
      }
      io_failed("open", path, errno);
    }
    if (reserve != nullptr) {
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) io_failed("stat", path, errno);
      reserve->reserve(static_cast<std::size_t>(st.st_size));
    }
    VerifyingSink out(id, write);
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(kChunk);
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf.get(), kChunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        io_failed("read", path, errno);
      }
      if (n == 0) break;
      out.write(std::string_view(buf.get(), static_cast<std::size_t>(n)));
    }
    out.finish(uri_ + " (file '" + path + "')");
  }

  void remove_leftover_temp_files() const {
    // Best effort: a leftover we cannot remove is harmless (list ignores it), so failures here
    // are not errors.
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(kTempPrefix, 0) != 0) continue;
      const std::string path = it->path().string();
      Fd fd(open_retrying(path, O_RDONLY | O_NOFOLLOW));
      if (!fd.ok()) continue;
      // A live writer holds the lock; only a crashed one's file can be locked here.
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
      struct stat opened, named;
      if (::fstat(fd.get(), &opened) == 0 && ::lstat(path.c_str(), &named) == 0 &&
          same_file(opened, named)) {
        ::unlink(path.c_str());
      }
    }
  }

  std::string dir_;
  std::string uri_;
};

}  // namespace

std::shared_ptr<ArtifactStore> make_file_store(const std::string& dir, const std::string& uri) {
  return std::make_shared<FileStore>(dir, uri);
}

}  // namespace sddb::detail
