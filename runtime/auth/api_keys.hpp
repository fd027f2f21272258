#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/node/file_stamp.hpp"

namespace convoy::runtime {

// An http.api_keys_file that cannot be used; the message names file and line.
class api_keys_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The management API's keys: one "name sha256-hex" line each, "#" comments.
// Only the SHA-256 of a key is kept: keys are 32 random bytes, so a plain
// hash suffices and the file reveals none of them. Thread-safe; the file is
// reread when it changes (looked at most once a second), and a broken new
// version keeps the previous keys.
class api_keys {
 public:
  // Loads the file; throws api_keys_error.
  explicit api_keys(std::string path);

  // The name of the key, when it is one.
  std::optional<std::string> check(std::string_view key);

  // A new random key (base64url, 43 characters) and its file line.
  struct generated {
    std::string key;
    std::string line;
  };
  static generated generate(std::string_view name);

 private:
  struct entry {
    std::string name;
    std::array<std::uint8_t, 32> hash;
  };
  static std::vector<entry> load(const std::string& path);
  void reload_if_changed();

  std::string path_;
  std::mutex mutex_;
  std::vector<entry> keys_;
  file_stamp stamp_;
  std::int64_t last_check_ms_ = 0;
};

}  // namespace convoy::runtime
