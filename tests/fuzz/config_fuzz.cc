// libFuzzer target for configuration: the input is the text of a sddb.toml, read by load_config
// (src/core/config.cc, which parses it with toml++).
//
// load_config may reject a file only with Error(invalid_argument) whose message names the file;
// any other exception or code, or a sanitizer report, is a finding. A file it accepts must give
// a Config whose sources name only the file or "default", that loads the same way twice, and
// whose resolved URIs the registry's URI splitter either accepts or rejects as invalid_argument.
// Nothing is opened: build_datalayer would create whatever files the input names.
//
// The input goes through a file (in a private temporary folder) rather than a string entry
// point, so the fuzzer drives exactly what users run, file reading included.

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/uri.h"
#include "sddb/config.h"
#include "sddb/error.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "config_fuzz finding: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

struct Scratch {
  std::string dir;
  std::string file;

  Scratch() {
    // The environment is a lower layer than the file; clear it so every input is judged alone.
    for (const char* name : {"SDDB_CONFIG", "SDDB_DATA_BACKEND", "SDDB_METADATA_STORE",
                             "SDDB_ARTIFACT_STORE", "SDDB_VECTOR_SEARCH", "SDDB_COMPUTE"}) {
      ::unsetenv(name);
    }
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "sddb-config-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) finding("setup", "mkdtemp failed");
    dir = tmpl;
    file = dir + "/sddb.toml";
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) finding("setup", "cannot write the input file");
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n <= 0) finding("setup", "short write of the input file");
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// Returns the config, or nothing when load_config rejected the input the allowed way.
std::optional<sddb::Config> load(const std::string& file) {
  sddb::ConfigOverrides o;
  o.config_file = file;
  try {
    return sddb::load_config(o);
  } catch (const sddb::Error& e) {
    if (e.code() != sddb::ErrorCode::invalid_argument) finding("unexpected error code", e.what());
    if (std::string_view(e.what()).find(file) == std::string_view::npos) {
      finding("error does not name the file", e.what());
    }
    return std::nullopt;
  } catch (const std::exception& e) {
    finding("exception other than sddb::Error", e.what());
  } catch (...) {
    finding("non-std exception", "");
  }
}

void check_uri(const std::string& text, const char* key) {
  try {
    sddb::detail::parse_uri(text, key);
  } catch (const sddb::Error& e) {
    if (e.code() != sddb::ErrorCode::invalid_argument) finding("parse_uri error code", e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Scratch scratch;
  write_file(scratch.file, data, size);
  const auto cfg = load(scratch.file);
  if (!cfg) return 0;

  for (const auto& [key, source] : cfg->sources) {
    if (source != "default" && source != scratch.file) finding("unexpected source", source);
  }
  // One source per key: the keys a default Config has (computed once, from no file at all).
  static const std::size_t kKeys = [] {
    sddb::ConfigOverrides empty;
    empty.config_file = "/dev/null";
    return sddb::load_config(empty).sources.size();
  }();
  if (cfg->sources.size() != kKeys) finding("sources", "not one per key");
  const auto again = load(scratch.file);
  if (!again || again->data_backend != cfg->data_backend ||
      again->metadata_store != cfg->metadata_store ||
      again->artifact_store != cfg->artifact_store || again->vector_search != cfg->vector_search ||
      again->compute != cfg->compute || again->sources != cfg->sources) {
    finding("not deterministic", cfg->data_backend);
  }
  check_uri(cfg->data_backend, "data_backend");
  check_uri(cfg->resolved_metadata_store(), "metadata_store");
  check_uri(cfg->resolved_artifact_store(), "artifact_store");
  check_uri(cfg->vector_search, "vector_search");
  return 0;
}
