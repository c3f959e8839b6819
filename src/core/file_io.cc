// file_io.h, and the default ModelRuntime::save_file. The latter lives in sddb_core rather than
// with the model kinds because it is ModelRuntime's one out-of-line virtual function: where it
// is defined, the class's vtable and type_info are, and the TorchScript module (loaded with
// dlopen, linked with sddb_core only) derives from ModelRuntime and needs both.

#include "core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sddb/error.h"
#include "sddb/model.h"

namespace sddb {

namespace detail {

void file_error(const std::string& what, const char* doing, const std::filesystem::path& path) {
  throw Error(ErrorCode::io_error,
              what + ": cannot " + doing + " '" + path.string() + "': " + std::strerror(errno));
}

void write_all(int fd, const char* data, std::size_t size, const std::string& what,
               const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      file_error(what, "write", path);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace detail

bool ModelRuntime::save_file(const std::filesystem::path& path) const {
  const std::string bytes = save();
  if (bytes.empty()) return false;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) detail::file_error("model save", "create", path);
  try {
    detail::write_all(fd, bytes.data(), bytes.size(), "model save", path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) detail::file_error("model save", "write", path);
  return true;
}

}  // namespace sddb
