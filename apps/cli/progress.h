#pragma once
// A one-line progress meter for long imports, drawn on stderr only when stderr is a terminal:
// piped or redirected runs (scripts, CI logs) stay quiet.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace sddb::cli {

class ProgressMeter {
 public:
  // `total_bytes` is the input size when known (a regular file), 0 otherwise. `force` draws even
  // when stderr is not a terminal, for tests of the drawing itself.
  explicit ProgressMeter(std::uint64_t total_bytes, bool force = false);
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  bool enabled() const { return enabled_; }

  // Cheap to call per line: it redraws at most ten times a second.
  void update(std::uint64_t lines, std::uint64_t docs, std::uint64_t bytes) {
    if (!enabled_ || (++calls_ & 255) != 0) return;
    maybe_draw(lines, docs, bytes, false);
  }
  // Draws the final state and ends the line.
  void finish(std::uint64_t lines, std::uint64_t docs, std::uint64_t bytes);

 private:
  void maybe_draw(std::uint64_t lines, std::uint64_t docs, std::uint64_t bytes, bool last);

  bool enabled_;
  bool drawn_ = false;
  std::uint64_t total_bytes_;
  std::uint64_t calls_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// A one-line meter for work that reports "done of total" (DB::add's ProgressFn: fastText
// training, a listener's backfill), drawn on stderr only when it is a terminal. update() may be
// called from any thread; it redraws at most ten times a second.
class TaskProgress {
 public:
  explicit TaskProgress(std::string label, bool force = false);
  ~TaskProgress();
  TaskProgress(const TaskProgress&) = delete;
  TaskProgress& operator=(const TaskProgress&) = delete;

  bool enabled() const { return enabled_; }
  // `total` 0: unknown, only `done` is shown. `unit` names what is counted ("docs"), or is
  // empty for a percentage only (fastText reports per-mille).
  void update(std::size_t done, std::size_t total);
  // Ends the line when something was drawn.
  void finish();
  void set_unit(std::string unit) { unit_ = std::move(unit); }

 private:
  std::string label_;
  std::string unit_;
  bool enabled_;
  bool drawn_ = false;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "12.3 MiB", "512 B": bytes for people.
std::string human_bytes(std::uint64_t bytes);

}  // namespace sddb::cli
