// hnswlib 0.6.2 (Debian's libhnswlib-dev, header-only) behind AnnIndex. This translation unit is
// compiled with -O3 -march=native so that hnswlib selects its AVX-512 kernel (USE_AVX512 follows
// __AVX512F__), as ann-techniques.md measured it; the executable therefore runs only on a CPU
// like the one it was built on.
//
// 0.6.2 has no filter functor (BaseFilterFunctor arrived in 0.7), so a filtered search is what
// its users do: ask for ef results and keep the allowed ones ("post"). Churn uses markDelete and
// addPoint of the same label, which unmarks the slot and relinks it (updatePoint).

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "ann_index.h"

namespace sddb::bench {
namespace {

class HnswlibIndex final : public AnnIndex {
 public:
  HnswlibIndex(std::size_t dim, std::size_t m, std::size_t ef_construction)
      : dim_(dim), m_(m), ef_construction_(ef_construction), space_(dim) {}

  std::string name() const override { return "hnswlib"; }
  std::string storage() const override { return "f32"; }
  std::string filter_mode() const override { return "post"; }

  void build(const float* base, std::size_t n, std::size_t threads) override {
    index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_, n, m_, ef_construction_);
    if (n == 0) return;
    // The first point alone, as hnswlib's own python bindings do, so the entry point exists.
    index_->addPoint(base, 0);
    parallel_for(n - 1, threads, [&](std::size_t i) {
      index_->addPoint(base + (i + 1) * dim_, static_cast<hnswlib::labeltype>(i + 1));
    });
  }

  double memory_bytes() const override {
    const auto& x = *index_;
    const std::size_t n = x.max_elements_;
    double bytes =
        static_cast<double>(n) * x.size_data_per_element_;  // level 0: links+vector+label
    for (std::size_t i = 0; i < x.cur_element_count; ++i) {
      if (x.element_levels_[i] > 0) bytes += x.size_links_per_element_ * x.element_levels_[i] + 1;
    }
    bytes += n * (sizeof(void*) + sizeof(int) + sizeof(std::mutex));  // linkLists_, levels, locks
    // label_lookup_: buckets plus one node (next, key, value) per label.
    bytes += x.label_lookup_.bucket_count() * sizeof(void*) +
             x.label_lookup_.size() * (sizeof(void*) + 2 * sizeof(std::size_t));
    return bytes;
  }

  void search(const float* queries, std::size_t nq, std::size_t k, std::size_t ef,
              std::size_t threads, const std::vector<QueryFilter>* filters,
              std::uint64_t* out) override {
    index_->setEf(ef);
    parallel_for(nq, threads, [&](std::size_t q) {
      const QueryFilter* filter = filters ? &(*filters)[q] : nullptr;
      const std::size_t want = filter ? std::max(ef, k) : k;
      auto heap = index_->searchKnn(queries + q * dim_, want);
      std::vector<std::uint64_t> labels;
      labels.reserve(heap.size());
      while (!heap.empty()) {  // farthest first
        labels.push_back(heap.top().second);
        heap.pop();
      }
      std::uint64_t* row = out + q * k;
      std::size_t got = 0;
      for (auto it = labels.rbegin(); it != labels.rend() && got < k; ++it) {
        if (filter && !filter->allowed[*it]) continue;
        row[got++] = *it;
      }
      for (; got < k; ++got) row[got] = kNoLabel;
    });
  }

  bool supports_churn() const override { return true; }
  void remove(const std::vector<std::uint64_t>& labels) override {
    for (std::uint64_t label : labels) index_->markDelete(label);
  }
  void reinsert(const float* base, const std::vector<std::uint64_t>& labels,
                std::size_t threads) override {
    parallel_for(labels.size(), threads,
                 [&](std::size_t i) { index_->addPoint(base + labels[i] * dim_, labels[i]); });
  }

 private:
  std::size_t dim_, m_, ef_construction_;
  hnswlib::L2Space space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

}  // namespace

std::unique_ptr<AnnIndex> make_hnswlib_index(std::size_t dim, std::size_t m,
                                             std::size_t ef_construction) {
  return std::make_unique<HnswlibIndex>(dim, m, ef_construction);
}

}  // namespace sddb::bench
