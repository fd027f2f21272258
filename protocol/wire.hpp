#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/types.hpp"

namespace convoy::mqtt::wire {

// Bytes needed to encode value as a Variable Byte Integer (1-4).
constexpr std::size_t variable_int_size(std::uint32_t value) {
  return value < 128 ? 1 : value < 16'384 ? 2 : value < 2'097'152 ? 3 : 4;
}

// Reads MQTT primitive types from a bounded view. Reading past the end sets a
// failure flag instead of throwing; the caller checks ok() once per field group.
class reader {
 public:
  explicit reader(byte_view bytes) : bytes_(bytes) {}

  bool ok() const { return ok_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  std::size_t position() const { return pos_; }

  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  // Rejects encodings longer than four bytes and non-minimal encodings.
  std::uint32_t variable_int();
  // A two-byte length followed by that many bytes; the caller validates UTF-8.
  std::string length_prefixed();
  std::string rest();
  reader sub_reader(std::size_t length);

 private:
  bool take(std::size_t n);

  byte_view bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class writer {
 public:
  explicit writer(byte_buffer& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void variable_int(std::uint32_t v);
  void length_prefixed(std::string_view s);
  void raw(std::string_view s);

 private:
  byte_buffer& out_;
};

}  // namespace convoy::mqtt::wire
