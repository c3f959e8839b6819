// The small functions of the metadata store's records (sddb/metadata_store.h).

#include "sddb/metadata_store.h"

namespace sddb {

std::string ComponentRecord::key() const {
  return type_id + "/" + identifier + "/" + std::to_string(version);
}

std::string_view to_string(JobStatus s) {
  switch (s) {
    case JobStatus::pending:
      return "pending";
    case JobStatus::running:
      return "running";
    case JobStatus::success:
      return "success";
    case JobStatus::failed:
      return "failed";
  }
  return "pending";
}

}  // namespace sddb
