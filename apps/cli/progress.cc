#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace sddb::cli {

std::string human_bytes(std::uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 4) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[unit]);
  return buf;
}

ProgressMeter::ProgressMeter(std::uint64_t total_bytes, bool force)
    : enabled_(force || isatty(STDERR_FILENO) == 1),
      total_bytes_(total_bytes),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressMeter::~ProgressMeter() {
  // An import that failed half way leaves the cursor at the start of a fresh line, so the error
  // message that follows is not glued to the bar.
  if (drawn_) std::fputc('\n', stderr);
}

void ProgressMeter::finish(std::uint64_t lines, std::uint64_t docs, std::uint64_t bytes) {
  if (!enabled_) return;
  maybe_draw(lines, docs, bytes, true);
  std::fputc('\n', stderr);
  drawn_ = false;
}

void ProgressMeter::maybe_draw(std::uint64_t lines, std::uint64_t docs, std::uint64_t bytes,
                               bool last) {
  const auto now = std::chrono::steady_clock::now();
  if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(docs) / secs : 0.0;

  char line[160];
  int n = std::snprintf(line, sizeof line, "\r%llu lines  %llu docs  %.0f docs/s  %s",
                        static_cast<unsigned long long>(lines),
                        static_cast<unsigned long long>(docs), rate, human_bytes(bytes).c_str());
  std::string out(line, static_cast<std::size_t>(n > 0 ? n : 0));
  if (total_bytes_ > 0) {
    const double frac = bytes >= total_bytes_
                            ? 1.0
                            : static_cast<double>(bytes) / static_cast<double>(total_bytes_);
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(frac * kWidth);
    out += " / " + human_bytes(total_bytes_) + "  [";
    out.append(static_cast<std::size_t>(filled), '#');
    out.append(static_cast<std::size_t>(kWidth - filled), '.');
    std::snprintf(line, sizeof line, "] %3.0f%%", frac * 100.0);
    out += line;
  }
  out += "\x1b[K";  // clear what a longer previous line left behind
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

TaskProgress::TaskProgress(std::string label, bool force)
    : label_(std::move(label)), enabled_(force || isatty(STDERR_FILENO) == 1) {}

TaskProgress::~TaskProgress() { finish(); }

void TaskProgress::update(std::size_t done, std::size_t total) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  const bool last = total > 0 && done >= total;
  if (drawn_ && !last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::string out = "\r" + label_;
  char buf[64];
  if (!unit_.empty()) {
    std::snprintf(buf, sizeof buf, "  %zu", done);
    out += buf;
    if (total > 0) {
      std::snprintf(buf, sizeof buf, " / %zu", total);
      out += buf;
    }
    out += " " + unit_;
  }
  if (total > 0) {
    const double frac =
        done >= total ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(frac * kWidth);
    out += "  [";
    out.append(static_cast<std::size_t>(filled), '#');
    out.append(static_cast<std::size_t>(kWidth - filled), '.');
    std::snprintf(buf, sizeof buf, "] %3.0f%%", frac * 100.0);
    out += buf;
  }
  out += "\x1b[K";
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void TaskProgress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace sddb::cli
