#pragma once

// The invariants the WebSocket fuzz target checks, shared with the unit test
// that replays its corpus. The input's first byte picks a chunk size; the
// rest is read as client frames once whole and once cut into chunks, which
// must agree byte for byte: a connection reads whatever TCP hands it. The
// same bytes also go through the opening-handshake reader.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/websocket_frame.hpp"
#include "protocol/websocket_handshake.hpp"

namespace convoy::websocket::fuzz {

struct read_all {
  std::vector<std::uint8_t> data;
  std::vector<control_frame> controls;
  bool failed = false;
};

inline read_all read_in_chunks(std::span<const std::uint8_t> input, std::size_t chunk) {
  read_all out;
  frame_reader reader;
  std::vector<std::uint8_t> buffer;
  for (std::size_t at = 0; at < input.size() && !out.failed && !reader.closed(); at += chunk) {
    auto piece = input.subspan(at, std::min(chunk, input.size() - at));
    buffer.assign(piece.begin(), piece.end());
    auto r = reader.feed(buffer);
    if (r.data > buffer.size()) {
      out.failed = true;
      out.data.clear();
      out.data.push_back(0xEE);  // marks the broken bound below
      return out;
    }
    out.data.insert(out.data.end(), buffer.begin(),
                    buffer.begin() + static_cast<std::ptrdiff_t>(r.data));
    for (auto& c : r.controls)
      out.controls.push_back(std::move(c));
    out.failed = r.error.has_value();
  }
  return out;
}

// Empty when every invariant holds, else what broke.
inline std::string check_websocket(std::span<const std::uint8_t> input) {
  if (input.empty()) return {};
  std::size_t chunk = input[0] % 17 + 1;
  auto frames = input.subspan(1);
  auto whole = read_in_chunks(frames, std::max<std::size_t>(frames.size(), 1));
  auto cut = read_in_chunks(frames, chunk);
  if (whole.failed != cut.failed) return "chunked reading fails where whole reading does not";
  if (whole.data != cut.data) return "chunked reading yields other payload bytes";
  if (whole.controls.size() != cut.controls.size()) return "chunked reading yields other controls";
  for (std::size_t i = 0; i < whole.controls.size(); ++i) {
    if (whole.controls[i].op != cut.controls[i].op ||
        whole.controls[i].payload != cut.controls[i].payload)
      return "chunked reading yields another control frame";
    if (whole.controls[i].payload.size() > 125) return "control frame over 125 bytes";
  }
  if (whole.data.size() > frames.size()) return "more payload than input";

  upgrade_rules rules;
  rules.allowed_origins = {"https://ok.example"};
  auto upgrade = read_upgrade(frames, rules);
  if (upgrade.consumed > frames.size()) return "handshake consumed more than its input";
  using verdict = upgrade_outcome::verdict;
  if (upgrade.result == verdict::accepted &&
      (upgrade.status != 101 ||
       upgrade.response.find("Sec-WebSocket-Accept: ") == std::string::npos))
    return "accepted handshake without a 101 and an accept key";
  if (upgrade.result == verdict::refused &&
      (upgrade.status < 400 || !upgrade.response.starts_with("HTTP/1.1 ")))
    return "refused handshake without an HTTP error status";
  if (upgrade.result == verdict::incomplete && frames.size() >= max_upgrade_request_size)
    return "incomplete handshake beyond the size bound";
  return {};
}

}  // namespace convoy::websocket::fuzz
