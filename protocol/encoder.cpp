#include "protocol/encoder.hpp"

#include <cassert>

#include "protocol/wire.hpp"

namespace convoy::mqtt {

namespace {

std::size_t value_size(const property& p) {
  const property_info* info = find_property_info(static_cast<std::uint8_t>(p.id));
  assert(info != nullptr && "encoding an unknown property");
  switch (info->type) {
    case property_type::byte:
      return 1;
    case property_type::two_byte_int:
      return 2;
    case property_type::four_byte_int:
      return 4;
    case property_type::variable_int:
      return wire::variable_int_size(std::get<std::uint32_t>(p.value));
    case property_type::utf8_string:
    case property_type::binary:
      return 2 + std::get<std::string>(p.value).size();
    case property_type::string_pair: {
      const auto& pair = std::get<string_pair>(p.value);
      return 4 + pair.name.size() + pair.value.size();
    }
  }
  return 0;
}

std::size_t properties_body_size(const properties& props) {
  std::size_t n = 0;
  for (const auto& p : props)
    n += 1 + value_size(p);
  return n;
}

void write_properties(wire::writer& w, const properties& props) {
  w.variable_int(static_cast<std::uint32_t>(properties_body_size(props)));
  for (const auto& p : props) {
    const property_info* info = find_property_info(static_cast<std::uint8_t>(p.id));
    w.u8(static_cast<std::uint8_t>(p.id));
    switch (info->type) {
      case property_type::byte:
        w.u8(static_cast<std::uint8_t>(std::get<std::uint32_t>(p.value)));
        break;
      case property_type::two_byte_int:
        w.u16(static_cast<std::uint16_t>(std::get<std::uint32_t>(p.value)));
        break;
      case property_type::four_byte_int:
        w.u32(std::get<std::uint32_t>(p.value));
        break;
      case property_type::variable_int:
        w.variable_int(std::get<std::uint32_t>(p.value));
        break;
      case property_type::utf8_string:
      case property_type::binary:
        w.length_prefixed(std::get<std::string>(p.value));
        break;
      case property_type::string_pair: {
        const auto& pair = std::get<string_pair>(p.value);
        w.length_prefixed(pair.name);
        w.length_prefixed(pair.value);
        break;
      }
    }
  }
}

// Builds the variable header and payload in a scratch buffer, then writes the
// fixed header in front of it. Packets other than PUBLISH are small, so the
// extra copy costs less than computing every size twice.
class packet_writer {
 public:
  explicit packet_writer(protocol_version version)
      : v5_(version == protocol_version::v5), w_(body_) {}

  void finish(std::uint8_t first_byte, byte_buffer& out) {
    wire::writer fw(out);
    fw.u8(first_byte);
    fw.variable_int(static_cast<std::uint32_t>(body_.size()));
    out.insert(out.end(), body_.begin(), body_.end());
  }

  void operator()(const connect_packet& c) {
    // The level byte and the layout after it must agree, and the decoder takes
    // both from the packet, so a CONNECT is written in its own version.
    v5_ = c.version == protocol_version::v5;
    w_.length_prefixed("MQTT");
    w_.u8(static_cast<std::uint8_t>(c.version));
    std::uint8_t flags = 0;
    if (c.clean_start) flags |= 0x02;
    if (c.will) {
      flags |= 0x04;
      flags |= static_cast<std::uint8_t>(static_cast<std::uint8_t>(c.will->qos) << 3);
      if (c.will->retain) flags |= 0x20;
    }
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    w_.u8(flags);
    w_.u16(c.keep_alive);
    if (v5_) write_properties(w_, c.props);
    w_.length_prefixed(c.client_id);
    if (c.will) {
      if (v5_) write_properties(w_, c.will->props);
      w_.length_prefixed(c.will->topic);
      w_.length_prefixed(c.will->payload);
    }
    if (c.username) w_.length_prefixed(*c.username);
    if (c.password) w_.length_prefixed(*c.password);
    first_ = 0x10;
  }

  void operator()(const connack_packet& c) {
    w_.u8(c.session_present ? 1 : 0);
    if (v5_) {
      w_.u8(static_cast<std::uint8_t>(c.reason));
      write_properties(w_, c.props);
    } else {
      w_.u8(static_cast<std::uint8_t>(to_v311_connack(c.reason)));
    }
    first_ = 0x20;
  }

  void operator()(const publish_packet& p) {
    write_publish_variable_header(p);
    w_.raw(p.payload);
    first_ = publish_first_byte(p);
  }

  void operator()(const pub_ack_packet& a) {
    w_.u16(a.packet_id);
    // MQTT 5 allows leaving out a success reason code with no properties.
    if (v5_ && (a.reason != reason_code::success || !a.props.empty())) {
      w_.u8(static_cast<std::uint8_t>(a.reason));
      if (!a.props.empty()) write_properties(w_, a.props);
    }
    first_ = static_cast<std::uint8_t>(static_cast<std::uint8_t>(a.type) << 4);
    if (a.type == packet_type::pubrel) first_ |= 0x02;
  }

  void operator()(const subscribe_packet& s) {
    w_.u16(s.packet_id);
    if (v5_) write_properties(w_, s.props);
    for (const auto& e : s.entries) {
      w_.length_prefixed(e.filter);
      std::uint8_t options = static_cast<std::uint8_t>(e.options.max_qos);
      if (v5_) {
        if (e.options.no_local) options |= 0x04;
        if (e.options.retain_as_published) options |= 0x08;
        options |=
            static_cast<std::uint8_t>(static_cast<std::uint8_t>(e.options.retain_handling) << 4);
      }
      w_.u8(options);
    }
    first_ = 0x82;
  }

  void operator()(const suback_packet& s) {
    w_.u16(s.packet_id);
    if (v5_) write_properties(w_, s.props);
    for (auto rc : s.reasons) {
      // 3.1.1 knows only granted QoS and 0x80 failure.
      auto code = static_cast<std::uint8_t>(rc);
      w_.u8(v5_ || code <= 2 ? code : 0x80);
    }
    first_ = 0x90;
  }

  void operator()(const unsubscribe_packet& u) {
    w_.u16(u.packet_id);
    if (v5_) write_properties(w_, u.props);
    for (const auto& f : u.filters)
      w_.length_prefixed(f);
    first_ = 0xA2;
  }

  void operator()(const unsuback_packet& u) {
    w_.u16(u.packet_id);
    if (v5_) {
      write_properties(w_, u.props);
      for (auto rc : u.reasons)
        w_.u8(static_cast<std::uint8_t>(rc));
    }
    first_ = 0xB0;
  }

  void operator()(const pingreq_packet&) { first_ = 0xC0; }
  void operator()(const pingresp_packet&) { first_ = 0xD0; }

  void operator()(const disconnect_packet& d) {
    if (v5_ && (d.reason != reason_code::success || !d.props.empty())) {
      w_.u8(static_cast<std::uint8_t>(d.reason));
      if (!d.props.empty()) write_properties(w_, d.props);
    }
    first_ = 0xE0;
  }

  void operator()(const auth_packet& a) {
    if (a.reason != reason_code::success || !a.props.empty()) {
      w_.u8(static_cast<std::uint8_t>(a.reason));
      if (!a.props.empty()) write_properties(w_, a.props);
    }
    first_ = 0xF0;
  }

  void write_publish_variable_header(const publish_packet& p) {
    w_.length_prefixed(p.topic);
    if (p.qos != qos::at_most_once) w_.u16(p.packet_id);
    if (v5_) write_properties(w_, p.props);
  }

  static std::uint8_t publish_first_byte(const publish_packet& p) {
    std::uint8_t b = 0x30;
    if (p.dup) b |= 0x08;
    b |= static_cast<std::uint8_t>(static_cast<std::uint8_t>(p.qos) << 1);
    if (p.retain) b |= 0x01;
    return b;
  }

  byte_buffer& body() { return body_; }
  std::uint8_t first_byte() const { return first_; }

 private:
  bool v5_;
  byte_buffer body_;
  wire::writer w_;
  std::uint8_t first_ = 0;
};

}  // namespace

std::size_t encoded_properties_size(const properties& props) {
  std::size_t body = properties_body_size(props);
  return wire::variable_int_size(static_cast<std::uint32_t>(body)) + body;
}

void encode_property_block(const properties& props, byte_buffer& out) {
  wire::writer w(out);
  write_properties(w, props);
}

void encode(const packet& p, protocol_version version, byte_buffer& out) {
  packet_writer pw(version);
  std::visit(pw, p);
  pw.finish(pw.first_byte(), out);
}

byte_buffer encode(const packet& p, protocol_version version) {
  byte_buffer out;
  encode(p, version, out);
  return out;
}

namespace {

properties* properties_of(packet& p) {
  return std::visit(
      [](auto& x) -> properties* {
        if constexpr (requires { x.props; })
          return &x.props;
        else
          return nullptr;
      },
      p);
}

}  // namespace

bool encode_within(packet p, protocol_version version, std::uint32_t max_size, byte_buffer& out) {
  const std::size_t start = out.size();
  for (property_id optional : {property_id::reason_string, property_id::user_property}) {
    encode(p, version, out);
    if (out.size() - start <= max_size) return true;
    out.resize(start);
    properties* props = properties_of(p);
    if (props == nullptr) return false;
    props->remove(optional);
  }
  encode(p, version, out);
  if (out.size() - start <= max_size) return true;
  out.resize(start);
  return false;
}

void encode_publish_header(const publish_packet& p, std::size_t payload_size,
                           protocol_version version, byte_buffer& out) {
  packet_writer pw(version);
  pw.write_publish_variable_header(p);
  wire::writer fw(out);
  fw.u8(packet_writer::publish_first_byte(p));
  fw.variable_int(static_cast<std::uint32_t>(pw.body().size() + payload_size));
  out.insert(out.end(), pw.body().begin(), pw.body().end());
}

}  // namespace convoy::mqtt
