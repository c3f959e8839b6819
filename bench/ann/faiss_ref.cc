// FAISS IndexHNSWFlat (Debian's libfaiss-dev 1.7.3, a static library using OpenMP and BLAS)
// behind AnnIndex. FAISS parallelizes inside its own calls, so build and search hand it all rows
// or all queries at once with OpenMP set to the benchmark's thread count.

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "ann_index.h"

namespace sddb::bench {
namespace {

class FaissIndex final : public AnnIndex {
 public:
  FaissIndex(std::size_t dim, std::size_t m, std::size_t ef_construction)
      : dim_(dim), m_(m), ef_construction_(ef_construction) {}

  std::string name() const override { return "faiss-hnsw"; }
  std::string storage() const override { return "f32"; }

  void build(const float* base, std::size_t n, std::size_t threads) override {
    omp_set_num_threads(static_cast<int>(threads));
    index_ = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dim_), static_cast<int>(m_));
    index_->hnsw.efConstruction = static_cast<int>(ef_construction_);
    index_->add(static_cast<faiss::Index::idx_t>(n), base);
  }

  double memory_bytes() const override {
    const auto& h = index_->hnsw;
    double bytes = 0;
    if (const auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(index_->storage)) {
      bytes += flat->codes.size();
    }
    bytes += h.neighbors.size() * sizeof(faiss::HNSW::storage_idx_t) +
             h.offsets.size() * sizeof(std::size_t) + h.levels.size() * sizeof(int);
    return bytes;
  }

  void search(const float* queries, std::size_t nq, std::size_t k, std::size_t ef,
              std::size_t threads, const std::vector<QueryFilter>* /*filters*/,
              std::uint64_t* out) override {
    omp_set_num_threads(static_cast<int>(threads));
    // Through the index, not SearchParametersHNSW: 1.7.3 does not apply the latter's efSearch
    // throughout (recall stopped growing above ef 20 when passed that way).
    index_->hnsw.efSearch = static_cast<int>(ef);
    distances_.resize(nq * k);
    labels_.resize(nq * k);
    index_->search(static_cast<faiss::Index::idx_t>(nq), queries,
                   static_cast<faiss::Index::idx_t>(k), distances_.data(), labels_.data());
    for (std::size_t i = 0; i < nq * k; ++i) {
      out[i] = labels_[i] < 0 ? kNoLabel : static_cast<std::uint64_t>(labels_[i]);
    }
  }

 private:
  std::size_t dim_, m_, ef_construction_;
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
  std::vector<float> distances_;
  std::vector<faiss::Index::idx_t> labels_;
};

}  // namespace

std::unique_ptr<AnnIndex> make_faiss_index(std::size_t dim, std::size_t m,
                                           std::size_t ef_construction) {
  return std::make_unique<FaissIndex>(dim, m, ef_construction);
}

}  // namespace sddb::bench
