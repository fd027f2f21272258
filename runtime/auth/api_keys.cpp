#include "runtime/auth/api_keys.hpp"

#include <chrono>
#include <fstream>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

namespace convoy::runtime {

namespace {

std::array<std::uint8_t, 32> sha256(std::string_view text) {
  std::array<std::uint8_t, 32> out;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

std::optional<std::array<std::uint8_t, 32>> from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::array<std::uint8_t, 32> out;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = digit(hex[2 * i]);
    int lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

api_keys::api_keys(std::string path) : path_(std::move(path)) {
  stamp_ = file_stamp::of(path_);
  keys_ = load(path_);
  last_check_ms_ = steady_ms();
}

std::vector<api_keys::entry> api_keys::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw api_keys_error("http.api_keys_file " + path + " cannot be read");
  std::vector<entry> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto where = [&] { return "http.api_keys_file " + path + ":" + std::to_string(number) + ": "; };
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    auto space = line.find_first_of(" \t", first);
    if (space == std::string::npos) throw api_keys_error(where() + "expected \"name sha256-hex\"");
    std::string name = line.substr(first, space - first);
    auto hex_start = line.find_first_not_of(" \t", space);
    auto hex_end = line.find_last_not_of(" \t\r");
    std::string_view hex{line.data() + hex_start, hex_end + 1 - hex_start};
    auto hash = from_hex(hex);
    if (!hash)
      throw api_keys_error(where() + "the hash of key '" + name + "' is not 64 hex digits");
    out.push_back({std::move(name), *hash});
  }
  return out;
}

void api_keys::reload_if_changed() {
  std::int64_t now = steady_ms();
  if (now - last_check_ms_ < 1000) return;
  last_check_ms_ = now;
  auto stamp = file_stamp::of(path_);
  if (stamp == stamp_) return;
  stamp_ = stamp;
  try {
    keys_ = load(path_);
    spdlog::info("API keys reloaded from {} ({} keys)", path_, keys_.size());
  } catch (const api_keys_error& e) {
    spdlog::error("API keys not reloaded, the previous ones stay in force: {}", e.what());
  }
}

std::optional<std::string> api_keys::check(std::string_view key) {
  auto hash = sha256(key);
  std::lock_guard lock{mutex_};
  reload_if_changed();
  std::optional<std::string> found;
  // Every entry is compared, in constant time each: how long a check takes
  // says nothing about which hash came close.
  for (const auto& e : keys_)
    if (CRYPTO_memcmp(e.hash.data(), hash.data(), hash.size()) == 0) found = e.name;
  return found;
}

api_keys::generated api_keys::generate(std::string_view name) {
  std::array<unsigned char, 32> random;
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
    throw api_keys_error("no random bytes from OpenSSL");
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string key;
  // base64url without padding: 32 bytes make 43 characters.
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char b : random) {
    bits = (bits << 8) | b;
    count += 8;
    while (count >= 6) {
      key += alphabet[(bits >> (count - 6)) & 0x3F];
      count -= 6;
    }
  }
  if (count > 0) key += alphabet[(bits << (6 - count)) & 0x3F];
  auto hash = sha256(key);
  std::string hex;
  static constexpr char digits[] = "0123456789abcdef";
  for (auto b : hash) {
    hex += digits[b >> 4];
    hex += digits[b & 0xF];
  }
  return {key, std::string{name} + " " + hex};
}

}  // namespace convoy::runtime
