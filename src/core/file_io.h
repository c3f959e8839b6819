// Small POSIX file helpers shared by the library and the TorchScript module (which links
// sddb_core but not sddb_models), with errors that name the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace sddb::detail {

// Error(io_error): "<what>: cannot <doing> '<path>': <strerror(errno)>".
[[noreturn]] void file_error(const std::string& what, const char* doing,
                             const std::filesystem::path& path);

// Writes all of data to fd (retrying short writes and EINTR), or file_error(what, "write").
void write_all(int fd, const char* data, std::size_t size, const std::string& what,
               const std::filesystem::path& path);

}  // namespace sddb::detail
