#pragma once
// Cursor: a lazy, forward-only stream of result documents. A backend fills it one document at a
// time, so iterating a large result never holds it all in memory. A cursor belongs to one thread
// at a time. It shows the data as of its creation, except on sqlite://:memory: (see sqlite.h).

#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "sddb/value.h"

namespace sddb {

// What a backend implements to feed a Cursor.
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  // The next document, or nothing when the result is exhausted. Errors throw sddb::Error.
  virtual std::optional<Document> next() = 0;
};

class Cursor {
 public:
  explicit Cursor(std::unique_ptr<DocumentSource> source) : source_(std::move(source)) {}

  std::optional<Document> next() { return source_ ? source_->next() : std::nullopt; }

  // Drains the rest of the cursor into a vector.
  std::vector<Document> to_vector() {
    std::vector<Document> out;
    while (auto d = next()) out.push_back(std::move(*d));
    return out;
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Document;
    using difference_type = std::ptrdiff_t;
    using pointer = Document*;
    using reference = Document&;

    iterator() = default;
    explicit iterator(Cursor* c) : cursor_(c) { ++*this; }
    Document& operator*() { return *current_; }
    Document* operator->() { return &*current_; }
    iterator& operator++() {
      current_ = cursor_->next();
      if (!current_) cursor_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const { return cursor_ == o.cursor_; }
    bool operator!=(const iterator& o) const { return cursor_ != o.cursor_; }

   private:
    Cursor* cursor_ = nullptr;
    std::optional<Document> current_;
  };

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::unique_ptr<DocumentSource> source_;
};

}  // namespace sddb
