#pragma once

#include <filesystem>

#include "config/config.hpp"
#include "runtime/storage/group_commit.hpp"
#include "runtime/storage/storage_env.hpp"

namespace convoy::storage {

// Everything needed to open a node's storage, as the [storage] section and
// node.data_dir configure it.
struct storage_options {
  std::filesystem::path data_dir;
  env_options env;
  group_commit_options commit;
};

// The loader has already checked every value (ranges, "sync" | "nosync").
storage_options storage_options_from(const config::node_config& config);

}  // namespace convoy::storage
