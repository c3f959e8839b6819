// The fastText model kind (design §4): Debian's libfasttext 0.9.2, trained inside the database on
// texts (fit) or loaded from a .bin/.ftz the user brings (load).
//
// libfasttext trusts its input: its loader reads a word until a NUL byte (forever, on a truncated
// file), sizes vectors from counts in the file and indexes rows by ids it never checks. So load
// walks the whole file first (ModelChecker) with bounds checks and the consistency rules the
// library relies on, and only hands it bytes it can read safely.
//
// The DB saves and loads models through files (save_file, load_file) so that a model of
// hundreds of MB is in memory once, as the library's matrices, and never also as bytes.
//
// Models trained with fastText's default bucket count (2,000,000) carry a 2M x dim input matrix
// (800 MB at dim 100); the optional "bucket" parameter makes smaller ones.

#include <fasttext/fasttext.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/kinds.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

constexpr std::int32_t kMagic = 793712314;  // FASTTEXT_FILEFORMAT_MAGIC_INT32
constexpr std::int32_t kVersion = 12;       // FASTTEXT_VERSION of 0.9.2; 11 reads the same
constexpr std::int32_t kModelSupervised = 3;
constexpr std::size_t kLossOffset = 32;  // magic, version, then six int32 arguments
constexpr std::int32_t kLossSoftmax = 3;
constexpr std::int64_t kMaxCount = 100'000'000'000'000;  // hs's Huffman tree breaks near 1e15
constexpr std::int64_t kMaxDim = 100'000;
constexpr std::int64_t kMaxBucket = 100'000'000;
constexpr std::int32_t kKsub = 256;  // centroids per product sub-quantizer
constexpr std::int32_t kMaxNgram = 1000;
constexpr std::int64_t kMaxSubwords = 1'000'000'000;  // n-gram ids of a dictionary: 4 GB

[[noreturn]] void bad_model(const std::string& what) {
  throw Error(ErrorCode::invalid_argument, "fastText model: " + what);
}

// Reads the file format of libfasttext 0.9.2 (args, dictionary, input and output matrices) with
// bounds checks; everything a later read by the library depends on is checked here.
class ModelChecker {
 public:
  explicit ModelChecker(std::string_view bytes) : b_(bytes) {}

  // Returns the format version after checking the whole file.
  std::int32_t check() {
    if (b_.empty()) bad_model("empty artifact; expected the bytes of a .bin or .ftz file");
    if (b_.size() < 8 || read<std::int32_t>("magic number") != kMagic) {
      bad_model("not a fastText .bin/.ftz file (no fastText magic number at the start)");
    }
    const auto version = read<std::int32_t>("version");
    if (version != 11 && version != kVersion) {
      bad_model("file format version " + std::to_string(version) +
                " is not supported (this build reads versions 11 and 12)");
    }
    check_args(version);
    check_dictionary();
    const bool quant_input = read_bool("quantized-input flag");
    if (!quant_input && pruneidx_size_ >= 0) {
      bad_model("the dictionary is pruned but the input matrix is not quantized");
    }
    const auto [in_rows, in_cols] = check_matrix(quant_input, "input matrix");
    if (in_cols != dim_) {
      bad_model("the input matrix has " + std::to_string(in_cols) + " columns for dimension " +
                std::to_string(dim_));
    }
    // Row ids the library computes: words below nwords, n-gram hashes above (modulo bucket, or
    // through the pruning map), and in unsupervised sentence vectors any dictionary entry.
    std::int64_t need_rows = nwords_ + (pruneidx_size_ >= 0 ? max_pruned_ + 1 : bucket_);
    if (model_ != kModelSupervised) need_rows = std::max<std::int64_t>(need_rows, size_);
    if (in_rows < need_rows) {
      bad_model("the input matrix has " + std::to_string(in_rows) + " rows; the dictionary needs " +
                std::to_string(need_rows));
    }
    const bool qout = read_bool("quantized-output flag");
    const auto [out_rows, out_cols] = check_matrix(quant_input && qout, "output matrix");
    const std::int64_t targets = model_ == kModelSupervised ? nlabels_ : nwords_;
    if (targets < 1) {
      bad_model(model_ == kModelSupervised ? "a supervised model without labels"
                                           : "a model without words");
    }
    if (out_cols != dim_ || out_rows < targets) {
      bad_model("the output matrix is " + std::to_string(out_rows) + "x" +
                std::to_string(out_cols) + "; expected " + std::to_string(targets) + "x" +
                std::to_string(dim_));
    }
    if (pos_ != b_.size()) {
      bad_model(std::to_string(b_.size() - pos_) + " unexpected bytes after the model (offset " +
                std::to_string(pos_) + ")");
    }
    return version;
  }

 private:
  [[noreturn]] void truncated(const char* what) const {
    bad_model("truncated: the file ends (at byte " + std::to_string(b_.size()) + ") inside the " +
              what + " at offset " + std::to_string(pos_));
  }

  template <typename T>
  T read(const char* what) {
    if (b_.size() - pos_ < sizeof(T)) truncated(what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  bool read_bool(const char* what) {
    const auto v = read<std::uint8_t>(what);
    if (v > 1) bad_model(std::string("bad ") + what + " at offset " + std::to_string(pos_ - 1));
    return v == 1;
  }

  // Skips count items of item_size bytes; count must already be known not to be negative.
  void skip(std::int64_t count, std::int64_t item_size, const char* what) {
    if (count < 0 || static_cast<std::uint64_t>(count) > (b_.size() - pos_) / item_size) {
      truncated(what);
    }
    pos_ += static_cast<std::size_t>(count * item_size);
  }

  void check_args(std::int32_t version) {
    dim_ = read<std::int32_t>("arguments");
    read<std::int32_t>("arguments");  // ws
    read<std::int32_t>("arguments");  // epoch
    read<std::int32_t>("arguments");  // minCount
    read<std::int32_t>("arguments");  // neg
    const auto word_ngrams = read<std::int32_t>("arguments");
    const auto loss = read<std::int32_t>("arguments");
    model_ = read<std::int32_t>("arguments");
    bucket_ = read<std::int32_t>("arguments");
    minn_ = read<std::int32_t>("arguments");
    maxn_ = read<std::int32_t>("arguments");
    read<std::int32_t>("arguments");  // lrUpdateRate
    read<double>("arguments");        // t
    if (dim_ < 1 || dim_ > kMaxDim)
      bad_model("dimension " + std::to_string(dim_) + " out of range");
    if (loss < 1 || loss > 4) bad_model("unknown loss " + std::to_string(loss));
    if (model_ < 1 || model_ > 3) bad_model("unknown model type " + std::to_string(model_));
    if (bucket_ < 0 || bucket_ > kMaxBucket) {
      bad_model("bucket count " + std::to_string(bucket_) + " out of range");
    }
    if (minn_ < 0 || maxn_ < 0 || maxn_ > kMaxNgram) {
      bad_model("character n-gram lengths " + std::to_string(minn_) + ".." + std::to_string(maxn_) +
                " out of range");
    }
    if (version == 11 && model_ == kModelSupervised) maxn_ = 0;  // as the library does
    const bool hashes = maxn_ > 0 || (model_ == kModelSupervised && word_ngrams > 1);
    if (hashes && bucket_ == 0) bad_model("n-grams are on but the bucket count is 0");
  }

  void check_dictionary() {
    size_ = read<std::int32_t>("dictionary");
    nwords_ = read<std::int32_t>("dictionary");
    nlabels_ = read<std::int32_t>("dictionary");
    read<std::int64_t>("dictionary");  // ntokens
    pruneidx_size_ = read<std::int64_t>("dictionary");
    if (size_ < 1 || nwords_ < 0 || nlabels_ < 0 ||
        static_cast<std::int64_t>(nwords_) + nlabels_ != size_) {
      bad_model("bad dictionary sizes (" + std::to_string(size_) + " entries, " +
                std::to_string(nwords_) + " words, " + std::to_string(nlabels_) + " labels)");
    }
    if (static_cast<std::int64_t>(nwords_) + bucket_ > std::numeric_limits<std::int32_t>::max()) {
      bad_model("too many words and buckets");
    }
    for (std::int32_t i = 0; i < size_; ++i) {
      const auto* start = b_.data() + pos_;
      const auto* nul = static_cast<const char*>(std::memchr(start, 0, b_.size() - pos_));
      if (nul == nullptr) truncated("dictionary");
      pos_ += static_cast<std::size_t>(nul - start) + 1;
      // The library lists every word's character n-grams when it loads: bound their number.
      if (maxn_ > 0) {
        const std::int64_t len = (nul - start) + 2;  // with "<" and ">"
        const std::int64_t lengths =
            std::min<std::int64_t>(maxn_, len) - std::max<std::int64_t>(minn_, 1) + 1;
        subwords_ += len * std::max<std::int64_t>(lengths, 0);
        if (subwords_ > kMaxSubwords) bad_model("too many character n-grams in the dictionary");
      }
      const auto count = read<std::int64_t>("dictionary");
      const auto type = read<std::int8_t>("dictionary");
      if (count < 0 || count > kMaxCount) {
        bad_model("dictionary entry " + std::to_string(i) + " has count " + std::to_string(count));
      }
      // The library keeps words before labels and finds the kind of an id by that order.
      if (type != (i < nwords_ ? 0 : 1)) {
        bad_model("dictionary entry " + std::to_string(i) + " has the wrong type");
      }
    }
    if (pruneidx_size_ < -1) bad_model("bad pruning map size");
    if (pruneidx_size_ > 0) {
      if (static_cast<std::uint64_t>(pruneidx_size_) > (b_.size() - pos_) / 8) {
        truncated("pruning map");
      }
      for (std::int64_t i = 0; i < pruneidx_size_; ++i) {
        read<std::int32_t>("pruning map");
        const auto to = read<std::int32_t>("pruning map");
        if (to < 0) bad_model("bad pruning map entry");
        max_pruned_ = std::max(max_pruned_, to);
      }
    }
  }

  void check_quantizer(std::int64_t dim, const char* what) {
    const auto qdim = read<std::int32_t>(what);
    const auto nsubq = read<std::int32_t>(what);
    const auto dsub = read<std::int32_t>(what);
    const auto lastdsub = read<std::int32_t>(what);
    if (qdim != dim || nsubq < 1 || dsub < 1 || lastdsub < 1 || lastdsub > dsub ||
        static_cast<std::int64_t>(nsubq - 1) * dsub + lastdsub != qdim) {
      bad_model(std::string("inconsistent ") + what);
    }
    skip(static_cast<std::int64_t>(qdim) * kKsub, sizeof(float), what);
    nsubq_ = nsubq;
  }

  // Returns rows and columns.
  std::pair<std::int64_t, std::int64_t> check_matrix(bool quantized, const char* what) {
    if (!quantized) {
      const auto m = read<std::int64_t>(what);
      const auto n = read<std::int64_t>(what);
      if (m < 0 || n < 1 || n > kMaxDim) bad_model(std::string("bad size of the ") + what);
      if (static_cast<std::uint64_t>(m) > (b_.size() - pos_) / sizeof(float) / n) truncated(what);
      skip(m * n, sizeof(float), what);
      return {m, n};
    }
    const bool qnorm = read_bool(what);
    const auto m = read<std::int64_t>(what);
    const auto n = read<std::int64_t>(what);
    const auto codesize = read<std::int32_t>(what);
    if (codesize < 0 || m < 0 || n < 1 || n > kMaxDim) {
      bad_model(std::string("bad size of the ") + what);
    }
    skip(codesize, 1, what);
    check_quantizer(n, what);
    if (codesize / nsubq_ < m) bad_model(std::string("too few codes in the ") + what);
    if (qnorm) {
      skip(m, 1, what);
      check_quantizer(1, what);
    }
    return {m, n};
  }

  std::string_view b_;
  std::size_t pos_ = 0;
  std::int32_t dim_ = 0;
  std::int32_t model_ = 0;
  std::int32_t bucket_ = 0;
  std::int32_t size_ = 0;
  std::int32_t nwords_ = 0;
  std::int32_t nlabels_ = 0;
  std::int64_t pruneidx_size_ = -1;
  std::int32_t max_pruned_ = -1;
  std::int32_t nsubq_ = 1;
  std::int32_t minn_ = 0;
  std::int32_t maxn_ = 0;
  std::int64_t subwords_ = 0;
};

// A read-only stream over two pieces of bytes that others own, read one after the other, so
// loading neither copies the model nor changes the caller's bytes.
class PiecesBuf : public std::streambuf {
 public:
  PiecesBuf(std::string_view first, std::string_view second) : pieces_{first, second} {}

 protected:
  int_type underflow() override {
    while (next_ < 2) {
      const std::string_view p = pieces_[next_++];
      if (p.empty()) continue;
      char* b = const_cast<char*>(p.data());  // never written: the get area only
      setg(b, b, b + p.size());
      return traits_type::to_int_type(*b);
    }
    return traits_type::eof();
  }

 private:
  std::string_view pieces_[2];
  int next_ = 0;
};

// FastText with the format version settable: loadModel(std::istream&) skips the header check
// that sets it, and reads it for version-11 compatibility.
class FastTextModel : public fasttext::FastText {
 public:
  void load_checked(std::istream& in, std::int32_t file_version) {
    version = file_version;
    loadModel(in);
  }
};

// Reads `head`, then the file `fd` from byte `offset` on, in chunks: libfasttext loads a model
// file through it without the file being held in memory, and with its header changed.
class HeadThenFileBuf : public std::streambuf {
 public:
  HeadThenFileBuf(std::string head, int fd, off_t offset)
      : head_(std::move(head)), fd_(fd), offset_(offset), buf_(kArtifactChunkBytes) {}
  bool read_error() const { return read_error_; }

 protected:
  int_type underflow() override {
    if (!head_done_) {
      head_done_ = true;
      if (!head_.empty()) {
        setg(head_.data(), head_.data(), head_.data() + head_.size());
        return traits_type::to_int_type(head_[0]);
      }
    }
    for (;;) {
      const ssize_t n = ::pread(fd_, buf_.data(), buf_.size(), offset_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        read_error_ = n < 0;
        return traits_type::eof();
      }
      offset_ += n;
      setg(buf_.data(), buf_.data(), buf_.data() + n);
      return traits_type::to_int_type(buf_[0]);
    }
  }

 private:
  std::string head_;
  bool head_done_ = false;
  int fd_;
  off_t offset_;
  std::vector<char> buf_;
  bool read_error_ = false;
};

// A read-only mapping of a whole file, unmapped on every path.
class Mapping {
 public:
  Mapping(int fd, std::size_t size) : size_(size) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) addr_ = p;
  }
  ~Mapping() {
    if (addr_ != nullptr) ::munmap(addr_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  bool failed() const { return size_ != 0 && addr_ == nullptr; }
  std::string_view bytes() const {
    return addr_ == nullptr ? std::string_view()
                            : std::string_view(static_cast<char*>(addr_), size_);
  }

 private:
  void* addr_ = nullptr;
  std::size_t size_;
};

// fastText splits words on these bytes (Dictionary::readWord); a newline also ends a line.
bool is_separator(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
}

// One line of text for fastText: its newlines would end the line early.
std::string one_line(const std::string& text) {
  std::string s = text;
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

class FastTextRuntime : public ModelRuntime {
 public:
  // stored_loss: the loss the saved bytes must name when it was swapped at load (see
  // load_fasttext).
  FastTextRuntime(std::unique_ptr<FastTextModel> ft, std::optional<std::int32_t> stored_loss)
      : ft_(std::move(ft)),
        dim_(static_cast<std::size_t>(ft_->getDimension())),
        stored_loss_(stored_loss) {}

  std::size_t dim() const override { return dim_; }

  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) override {
    std::vector<std::vector<float>> out;
    out.reserve(inputs.size());
    fasttext::Vector v(static_cast<std::int64_t>(dim_));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].is_string()) {
        throw Error(ErrorCode::invalid_argument,
                    "fastText predict: input " + std::to_string(i) + " is " +
                        std::string(Value::type_name(inputs[i].type())) + ", not a string");
      }
      std::istringstream in(one_line(inputs[i].as_string()));
      ft_->getSentenceVector(in, v);
      out.emplace_back(v.data(), v.data() + dim_);
    }
    return out;
  }

  std::string save() const override {
    ScratchDir dir("fastText save");
    const std::filesystem::path path = dir.path() / "model.bin";
    save_file(path);
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in || !ss) {
      throw Error(ErrorCode::io_error, "fastText save: cannot read back '" + path.string() + "'");
    }
    return std::move(ss).str();
  }

  // saveModel writes only to a named file, which keeps the bytes exactly the library's format;
  // the loss swapped at load is written back in place.
  bool save_file(const std::filesystem::path& path) const override {
    try {
      ft_->saveModel(path.string());
    } catch (const std::exception& e) {
      throw Error(ErrorCode::io_error, std::string("fastText save: ") + e.what());
    }
    if (stored_loss_) {
      std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
      f.seekg(0, std::ios::end);
      if (!f || f.tellg() < static_cast<std::streamoff>(kLossOffset + 4)) {
        throw Error(ErrorCode::io_error, "fastText save: cannot read back '" + path.string() + "'");
      }
      f.seekp(kLossOffset);
      f.write(reinterpret_cast<const char*>(&*stored_loss_), 4);
      f.close();
      if (!f) {
        throw Error(ErrorCode::io_error, "fastText save: cannot write '" + path.string() + "'");
      }
    }
    return true;
  }

 private:
  std::unique_ptr<FastTextModel> ft_;
  std::size_t dim_;
  std::optional<std::int32_t> stored_loss_;
};

// The loss only serves training and label prediction, which this kind never does, yet building
// it costs: negative sampling fills and shuffles a 10-million-entry table (40 MB, ~80 ms) on
// every load. The library is handed softmax, which builds nothing; save() writes the file's own
// loss back. Returns the arguments after magic and version with the loss swapped, and the
// file's loss.
std::pair<std::string, std::int32_t> swapped_args(std::string_view checked) {
  std::string args(checked.substr(8, kLossOffset + 4 - 8));
  std::int32_t stored_loss = 0;
  std::memcpy(&stored_loss, checked.data() + kLossOffset, 4);
  std::memcpy(args.data() + (kLossOffset - 8), &kLossSoftmax, 4);
  return {std::move(args), stored_loss};
}

// Loads the checked file of format `version` from `in` (positioned after magic and version).
std::unique_ptr<ModelRuntime> load_checked(const Value& params, std::istream& in,
                                           std::int32_t version, std::int32_t stored_loss) {
  auto ft = std::make_unique<FastTextModel>();
  try {
    ft->load_checked(in, version);
  } catch (const std::exception& e) {
    bad_model(std::string("libfasttext refused it: ") + e.what());
  }
  if (!in) bad_model("libfasttext read past the end of the file");
  if (const Value* dim = params.find("dim");
      dim != nullptr && dim->is_int() && dim->as_int() != ft->getDimension()) {
    bad_model("the artifact has dimension " + std::to_string(ft->getDimension()) +
              " but the record says " + std::to_string(dim->as_int()));
  }
  return std::make_unique<FastTextRuntime>(std::move(ft), stored_loss);
}

std::unique_ptr<ModelRuntime> load_fasttext(const Value& params, const std::string& artifact) {
  const std::int32_t version = ModelChecker(artifact).check();
  auto [args, stored_loss] = swapped_args(artifact);
  PiecesBuf buf(args, std::string_view(artifact).substr(kLossOffset + 4));
  std::istream in(&buf);
  return load_checked(params, in, version, stored_loss);
}

// The file is checked through a read-only mapping, which touches only the header and the
// dictionary pages, and then read by the library in chunks: the model is in memory once.
std::unique_ptr<ModelRuntime> load_fasttext_file(const Value& params,
                                                 const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
    throw Error(ErrorCode::io_error,
                "fastText model: cannot open '" + path.string() + "': " + std::strerror(errno));
  }
  std::int32_t version = 0;
  std::string args;
  std::int32_t stored_loss = 0;
  {
    Mapping map(fd.get(), static_cast<std::size_t>(st.st_size));
    if (map.failed()) {
      throw Error(ErrorCode::io_error,
                  "fastText model: cannot map '" + path.string() + "': " + std::strerror(errno));
    }
    version = ModelChecker(map.bytes()).check();
    std::tie(args, stored_loss) = swapped_args(map.bytes());
  }
  HeadThenFileBuf buf(std::move(args), fd.get(), static_cast<off_t>(kLossOffset + 4));
  std::istream in(&buf);
  // A failed read looks like the end of the file to the library: say which it was.
  const auto read_failed = [&] {
    return Error(ErrorCode::io_error, "fastText model: cannot read '" + path.string() + "'");
  };
  std::unique_ptr<ModelRuntime> runtime;
  try {
    runtime = load_checked(params, in, version, stored_loss);
  } catch (const Error&) {
    if (buf.read_error()) throw read_failed();
    throw;
  }
  if (buf.read_error()) throw read_failed();
  return runtime;
}

std::int64_t int_param(const Value& params, const char* key, std::int64_t fallback, std::int64_t lo,
                       std::int64_t hi) {
  const Value* v = params.find(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_int() || v->as_int() < lo || v->as_int() > hi) {
    throw Error(ErrorCode::invalid_argument, std::string("fastText fit: '") + key +
                                                 "' must be an integer from " + std::to_string(lo) +
                                                 " to " + std::to_string(hi));
  }
  return v->as_int();
}

fasttext::Args fit_args(const Value& params) {
  if (const Value* file = params.find("file"); file != nullptr) {
    throw Error(ErrorCode::invalid_argument,
                "fastText fit: this model is a file the user brought (" + file->to_json() +
                    "); fit a model made with Model::fasttext");
  }
  const FastTextOptions d;
  constexpr std::int64_t kIntMax = std::numeric_limits<std::int32_t>::max();
  fasttext::Args a;
  a.dim = static_cast<int>(int_param(params, "dim", d.dim, 1, kMaxDim));
  a.epoch = static_cast<int>(int_param(params, "epochs", d.epochs, 1, 1'000'000));
  a.minCount = static_cast<int>(int_param(params, "min_count", d.min_count, 1, kIntMax));
  a.minn = static_cast<int>(int_param(params, "minn", d.minn, 0, kMaxNgram));
  a.maxn = static_cast<int>(int_param(params, "maxn", d.maxn, 0, kMaxNgram));
  a.ws = static_cast<int>(int_param(params, "ws", d.ws, 1, 100'000));
  const auto threads = int_param(params, "threads", d.threads, 0, 4096);
  a.thread = threads > 0 ? static_cast<int>(threads)
                         : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const auto seed =
      int_param(params, "seed", d.seed, std::numeric_limits<std::int32_t>::min(), kIntMax);
  if (seed != 0) a.seed = static_cast<int>(seed);
  // fastText's command line turns buckets off without character n-grams (they would be rows
  // nothing ever reads); "bucket" is optional.
  a.bucket = static_cast<int>(int_param(params, "bucket", a.bucket, 0, kMaxBucket));
  if (a.maxn == 0) a.bucket = 0;
  if (a.maxn > 0 && a.bucket == 0) {
    throw Error(ErrorCode::invalid_argument,
                "fastText fit: 'bucket' must be above 0 with character n-grams (maxn > 0)");
  }
  a.lr = d.lr;
  if (const Value* lr = params.find("lr"); lr != nullptr && !lr->is_null()) {
    if (!lr->is_number() || !std::isfinite(lr->as_double()) || lr->as_double() <= 0) {
      throw Error(ErrorCode::invalid_argument, "fastText fit: 'lr' must be a number above 0");
    }
    a.lr = lr->as_double();
  }
  std::string model = d.model;
  if (const Value* m = params.find("model"); m != nullptr && !m->is_null()) {
    model = m->is_string() ? m->as_string() : m->to_json();
  }
  if (model == "skipgram") {
    a.model = fasttext::model_name::sg;
  } else if (model == "cbow") {
    a.model = fasttext::model_name::cbow;
  } else {
    throw Error(ErrorCode::invalid_argument,
                "fastText fit: 'model' must be \"skipgram\" or \"cbow\", not '" + model + "'");
  }
  a.verbose = 0;
  // No token contains a space, so no word becomes a label ("__label__x" stays a word).
  a.label = " ";
  return a;
}

std::unique_ptr<ModelRuntime> fit_fasttext(const Value& params, const std::vector<Value>& inputs,
                                           const ProgressFn& progress) {
  fasttext::Args args = fit_args(params);

  // libfasttext fails on an empty vocabulary only after reading everything (older versions
  // exit()); counting here gives a clear message first. Its "</s>" line ends are not words.
  std::unordered_map<std::string_view, std::int64_t> counts;
  bool enough = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].is_string()) {
      throw Error(ErrorCode::invalid_argument, "fastText fit: input " + std::to_string(i) + " is " +
                                                   std::string(Value::type_name(inputs[i].type())) +
                                                   ", not a string");
    }
    const std::string& text = inputs[i].as_string();
    std::size_t p = 0;
    while (p < text.size() && !enough) {
      while (p < text.size() && is_separator(text[p])) ++p;
      std::size_t e = p;
      while (e < text.size() && !is_separator(text[e])) ++e;
      if (e > p && ++counts[std::string_view(text).substr(p, e - p)] >= args.minCount) {
        enough = true;
      }
      p = e;
    }
  }
  if (!enough) {
    throw Error(ErrorCode::invalid_argument,
                "fastText fit: no word occurs min_count (" + std::to_string(args.minCount) +
                    ") times in the " + std::to_string(inputs.size()) +
                    " training texts; give more text or lower min_count");
  }

  ScratchDir dir("fastText fit");
  const std::string corpus = (dir.path() / "corpus.txt").string();
  {
    std::ofstream out(corpus, std::ios::binary | std::ios::trunc);
    for (const Value& v : inputs) out << one_line(v.as_string()) << '\n';
    out.close();
    if (!out) {
      throw Error(ErrorCode::io_error,
                  "fastText fit: cannot write the training texts to '" + corpus + "'");
    }
  }
  args.input = corpus;

  auto ft = std::make_unique<FastTextModel>();
  // fastText calls back from its training threads, concurrently when threads > 1, and would
  // terminate on an exception there: calls are serialized, report rising per-mille progress, and
  // an exception from `progress` aborts training and is rethrown here.
  std::mutex mutex;
  std::size_t reported = 0;
  std::exception_ptr progress_error;
  fasttext::FastText::TrainCallback callback;
  if (progress) {
    progress(0, 1000);
    callback = [&](float fraction, float, double, double, std::int64_t) {
      std::lock_guard<std::mutex> lock(mutex);
      if (progress_error) return;
      const auto done = static_cast<std::size_t>(std::clamp(fraction * 1000.0F, 0.0F, 999.0F));
      if (done <= reported) return;
      reported = done;
      try {
        progress(done, 1000);
      } catch (...) {
        progress_error = std::current_exception();
        ft->abort();
      }
    };
  }
  try {
    ft->train(args, callback);
  } catch (const std::exception& e) {
    if (progress_error) std::rethrow_exception(progress_error);
    throw Error(ErrorCode::invalid_argument, std::string("fastText fit: ") + e.what());
  }
  if (progress_error) std::rethrow_exception(progress_error);
  if (progress) progress(1000, 1000);
  return std::make_unique<FastTextRuntime>(std::move(ft), std::nullopt);
}

}  // namespace

ModelKind fasttext_model_kind() {
  ModelKind k;
  k.name = "fasttext";
  k.load = load_fasttext;
  k.load_file = load_fasttext_file;
  k.fit = fit_fasttext;
  return k;
}

}  // namespace sddb::detail
