#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace convoy::runtime {

// What a reload check compares: a file's size and modification time. A
// missing file (or no path) has a stamp too, so appearing and vanishing
// count as changes.
struct file_stamp {
  std::uintmax_t size = 0;
  std::filesystem::file_time_type modified{};
  bool exists = false;
  bool operator==(const file_stamp&) const = default;

  static file_stamp of(const std::string& path) {
    file_stamp s;
    if (path.empty()) return s;
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return s;
    auto modified = std::filesystem::last_write_time(path, ec);
    if (ec) return s;
    return file_stamp{size, modified, true};
  }
};

}  // namespace convoy::runtime
