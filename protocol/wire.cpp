#include "protocol/wire.hpp"

namespace convoy::mqtt::wire {

bool reader::take(std::size_t n) {
  if (!ok_ || remaining() < n) {
    ok_ = false;
    return false;
  }
  return true;
}

std::uint8_t reader::u8() {
  if (!take(1)) return 0;
  return bytes_[pos_++];
}

std::uint16_t reader::u16() {
  if (!take(2)) return 0;
  std::uint16_t v = static_cast<std::uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
  pos_ += 2;
  return v;
}

std::uint32_t reader::u32() {
  if (!take(4)) return 0;
  std::uint32_t v = (std::uint32_t{bytes_[pos_]} << 24) | (std::uint32_t{bytes_[pos_ + 1]} << 16) |
                    (std::uint32_t{bytes_[pos_ + 2]} << 8) | std::uint32_t{bytes_[pos_ + 3]};
  pos_ += 4;
  return v;
}

std::uint32_t reader::variable_int() {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    if (!take(1)) return 0;
    std::uint8_t b = bytes_[pos_++];
    value |= std::uint32_t{b & 0x7Fu} << (7 * i);
    if ((b & 0x80) == 0) {
      // A final zero byte after the first is a longer-than-necessary encoding.
      if (i > 0 && b == 0) ok_ = false;
      return value;
    }
  }
  ok_ = false;
  return 0;
}

std::string reader::length_prefixed() {
  std::uint16_t n = u16();
  if (!take(n)) return {};
  std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
  pos_ += n;
  return s;
}

std::string reader::rest() {
  std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), remaining());
  pos_ = bytes_.size();
  return s;
}

reader reader::sub_reader(std::size_t length) {
  if (!take(length)) return reader{byte_view{}};
  reader r{bytes_.subspan(pos_, length)};
  pos_ += length;
  return r;
}

void writer::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::uint8_t>(v >> 8));
  out_.push_back(static_cast<std::uint8_t>(v));
}

void writer::u32(std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out_.push_back(static_cast<std::uint8_t>(v >> shift));
}

void writer::variable_int(std::uint32_t v) {
  do {
    std::uint8_t b = v % 128;
    v /= 128;
    if (v > 0) b |= 0x80;
    out_.push_back(b);
  } while (v > 0);
}

void writer::length_prefixed(std::string_view s) {
  u16(static_cast<std::uint16_t>(s.size()));
  raw(s);
}

void writer::raw(std::string_view s) {
  out_.insert(out_.end(), s.begin(), s.end());
}

}  // namespace convoy::mqtt::wire
