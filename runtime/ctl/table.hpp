#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace convoy::ctl {

// Rows of text under a header, columns padded to their widest cell.
class table {
 public:
  explicit table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace convoy::ctl
