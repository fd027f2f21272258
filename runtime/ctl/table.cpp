#include "runtime/ctl/table.hpp"

#include <algorithm>

namespace convoy::ctl {

namespace {

// Display width of UTF-8 text: continuation bytes take no column.
std::size_t width_of(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

void table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], width_of(row[i]));
  };
  measure(header_);
  for (const auto& r : rows_)
    measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : std::string{};
      text += cell;
      if (i + 1 < widths.size()) text += std::string(widths[i] - width_of(cell) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    out << text << '\n';
  };
  line(header_);
  for (const auto& r : rows_)
    line(r);
}

}  // namespace convoy::ctl
