#include "runtime/storage/storage_options.hpp"

namespace convoy::storage {

storage_options storage_options_from(const config::node_config& config) {
  const config::node_config::storage_section& s = config.storage;
  storage_options o;
  o.data_dir = config.node.data_dir;
  o.env.map_size_mb = s.map_size_mb;
  o.env.durability = s.sync == "nosync" ? durability::nosync : durability::sync;
  o.commit.commit_window = std::chrono::microseconds(s.commit_window_us);
  o.commit.max_batch_ops = s.max_batch_ops;
  o.commit.max_pending_ops = s.max_pending_ops;
  return o;
}

}  // namespace convoy::storage
