#include "protocol/decoder.hpp"

#include "protocol/topic.hpp"
#include "protocol/utf8.hpp"
#include "protocol/wire.hpp"

namespace convoy::mqtt {

namespace {

// Carries the first failure out of nested parsing without exceptions.
struct failure {
  reason_code code = reason_code::success;
  std::string detail;
  explicit operator bool() const { return code != reason_code::success; }
};

class body_parser {
 public:
  body_parser(byte_view body, std::uint8_t flags, protocol_version version)
      : r_(body), flags_(flags), v5_(version == protocol_version::v5), version_(version) {}

  failure fail;
  std::optional<protocol_version> connect_version;

  bool at_end() const { return r_.ok() && r_.remaining() == 0; }

  bool malformed(std::string detail) {
    return error(reason_code::malformed_packet, std::move(detail));
  }
  bool protocol(std::string detail) {
    return error(reason_code::protocol_error, std::move(detail));
  }
  bool error(reason_code code, std::string detail) {
    if (!fail) fail = {code, std::move(detail)};
    return false;
  }

  // Reports a short read as a malformed packet naming the field.
  bool check(const char* field) {
    if (r_.ok()) return true;
    return malformed(std::string{"truncated "} + field);
  }

  bool utf8(std::string& out, const char* field) {
    out = r_.length_prefixed();
    if (!check(field)) return false;
    if (!is_valid_mqtt_utf8(out)) return malformed(std::string{"invalid UTF-8 in "} + field);
    return true;
  }

  bool binary(std::string& out, const char* field) {
    out = r_.length_prefixed();
    return check(field);
  }

  bool expect_flags(std::uint8_t expected, packet_type type) {
    if (flags_ == expected) return true;
    return malformed(std::string{"reserved fixed header flags set on "} + to_string(type));
  }

  bool end_of_packet(packet_type type) {
    if (r_.remaining() == 0) return true;
    return malformed(std::string{"trailing bytes after "} + to_string(type));
  }

  bool props(property_context ctx, properties& out) {
    if (!v5_) return true;
    std::uint32_t length = r_.variable_int();
    if (!check("property length")) return false;
    if (length > r_.remaining()) return malformed("property length exceeds packet");
    wire::reader pr = r_.sub_reader(length);
    while (pr.remaining() > 0) {
      std::uint32_t raw_id = pr.variable_int();
      if (!pr.ok()) return malformed("truncated property identifier");
      const property_info* info =
          raw_id <= 0xFF ? find_property_info(static_cast<std::uint8_t>(raw_id)) : nullptr;
      if (info == nullptr)
        return malformed("unknown property identifier " + std::to_string(raw_id));
      auto id = static_cast<property_id>(raw_id);
      if (!allowed_in(id, ctx))
        return malformed(std::string{info->name} + " not allowed in this packet");
      if (!repeatable_in(id, ctx) && out.contains(id))
        return protocol(std::string{info->name} + " included more than once");
      property_value value;
      switch (info->type) {
        case property_type::byte:
          value = std::uint32_t{pr.u8()};
          break;
        case property_type::two_byte_int:
          value = std::uint32_t{pr.u16()};
          break;
        case property_type::four_byte_int:
          value = pr.u32();
          break;
        case property_type::variable_int:
          value = pr.variable_int();
          break;
        case property_type::utf8_string:
        case property_type::binary:
          value = pr.length_prefixed();
          break;
        case property_type::string_pair: {
          std::string name = pr.length_prefixed();
          std::string val = pr.length_prefixed();
          value = string_pair{std::move(name), std::move(val)};
          break;
        }
      }
      if (!pr.ok()) return malformed(std::string{"truncated "} + info->name);
      if (!valid_value(id, *info, value)) return false;
      out.append({id, std::move(value)});
    }
    return true;
  }

  bool valid_value(property_id id, const property_info& info, const property_value& value) {
    if (info.type == property_type::utf8_string &&
        !is_valid_mqtt_utf8(std::get<std::string>(value)))
      return malformed(std::string{"invalid UTF-8 in "} + info.name);
    if (info.type == property_type::string_pair) {
      const auto& pair = std::get<string_pair>(value);
      if (!is_valid_mqtt_utf8(pair.name) || !is_valid_mqtt_utf8(pair.value))
        return malformed("invalid UTF-8 in User Property");
    }
    if (!std::holds_alternative<std::uint32_t>(value)) return true;
    std::uint32_t n = std::get<std::uint32_t>(value);
    switch (id) {
      case property_id::payload_format_indicator:
      case property_id::request_problem_information:
      case property_id::request_response_information:
      case property_id::maximum_qos:
      case property_id::retain_available:
      case property_id::wildcard_subscription_available:
      case property_id::subscription_identifier_available:
      case property_id::shared_subscription_available:
        if (n > 1) return protocol(std::string{info.name} + " must be 0 or 1");
        break;
      case property_id::receive_maximum:
      case property_id::maximum_packet_size:
      case property_id::subscription_identifier:
        if (n == 0) return protocol(std::string{info.name} + " must not be 0");
        break;
      default:
        break;
    }
    return true;
  }

  bool parse(packet_type type, packet& out) {
    switch (type) {
      case packet_type::connect:
        return connect(out);
      case packet_type::connack:
        return connack(out);
      case packet_type::publish:
        return publish(out);
      case packet_type::puback:
      case packet_type::pubrec:
      case packet_type::pubcomp:
        return expect_flags(0, type) && pub_ack(type, out);
      case packet_type::pubrel:
        return expect_flags(2, type) && pub_ack(type, out);
      case packet_type::subscribe:
        return expect_flags(2, type) && subscribe(out);
      case packet_type::suback:
        return expect_flags(0, type) && suback(out);
      case packet_type::unsubscribe:
        return expect_flags(2, type) && unsubscribe(out);
      case packet_type::unsuback:
        return expect_flags(0, type) && unsuback(out);
      case packet_type::pingreq:
        out = pingreq_packet{};
        return expect_flags(0, type) && end_of_packet(type);
      case packet_type::pingresp:
        out = pingresp_packet{};
        return expect_flags(0, type) && end_of_packet(type);
      case packet_type::disconnect:
        return expect_flags(0, type) && disconnect(out);
      case packet_type::auth:
        if (!v5_) return malformed("AUTH does not exist in MQTT 3.1.1");
        return expect_flags(0, type) && auth(out);
    }
    return malformed("reserved packet type");
  }

  bool connect(packet& out) {
    if (!expect_flags(0, packet_type::connect)) return false;
    std::string name = r_.length_prefixed();
    std::uint8_t level = r_.u8();
    if (!check("CONNECT protocol name or level")) return false;
    if (name != "MQTT") {
      if (name == "MQIsdp") {
        // MQTT 3.1 reads the 3.1.1 CONNACK, whose return code 1 refuses its level.
        connect_version = protocol_version::v311;
        return error(reason_code::unsupported_protocol_version,
                     "MQTT 3.1 (MQIsdp) is not supported");
      }
      return malformed("protocol name is not MQTT");
    }
    if (level != 4 && level != 5) {
      // 3.1.1 requires answering an unsupported level with its own CONNACK
      // (return code 1), the one form every client version before 5 can read.
      connect_version = protocol_version::v311;
      return error(reason_code::unsupported_protocol_version,
                   "protocol level " + std::to_string(level) + " is not supported");
    }
    version_ = static_cast<protocol_version>(level);
    v5_ = version_ == protocol_version::v5;
    connect_version = version_;

    connect_packet c;
    c.version = version_;
    std::uint8_t flags = r_.u8();
    c.keep_alive = r_.u16();
    if (!check("CONNECT flags or keep alive")) return false;
    if (flags & 0x01) return malformed("reserved CONNECT flag set");
    c.clean_start = (flags & 0x02) != 0;
    bool will = (flags & 0x04) != 0;
    auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
    bool will_retain = (flags & 0x20) != 0;
    bool has_password = (flags & 0x40) != 0;
    bool has_username = (flags & 0x80) != 0;
    if (!will && (will_qos != 0 || will_retain))
      return malformed("will QoS or will retain set without will flag");
    if (will_qos == 3) return malformed("will QoS 3");
    if (!v5_ && has_password && !has_username)
      return malformed("password flag set without user name flag");
    if (!props(property_context::connect, c.props)) return false;
    if (!utf8(c.client_id, "client identifier")) return false;
    if (will) {
      will_message w;
      w.qos = static_cast<mqtt::qos>(will_qos);
      w.retain = will_retain;
      if (!props(property_context::will, w.props)) return false;
      if (!utf8(w.topic, "will topic")) return false;
      if (!binary(w.payload, "will payload")) return false;
      if (auto rc = validate_topic_name(w.topic); rc != reason_code::success)
        return error(rc, "invalid will topic");
      c.will = std::move(w);
    }
    if (has_username) {
      std::string user;
      if (!utf8(user, "user name")) return false;
      c.username = std::move(user);
    }
    if (has_password) {
      std::string password;
      if (!binary(password, "password")) return false;
      c.password = std::move(password);
    }
    if (!end_of_packet(packet_type::connect)) return false;
    out = std::move(c);
    return true;
  }

  bool connack(packet& out) {
    if (!expect_flags(0, packet_type::connack)) return false;
    connack_packet c;
    std::uint8_t ack_flags = r_.u8();
    std::uint8_t code = r_.u8();
    if (!check("CONNACK")) return false;
    if (ack_flags & 0xFE) return malformed("reserved CONNACK flags set");
    c.session_present = (ack_flags & 0x01) != 0;
    if (v5_) {
      if (!is_known_reason_code(code)) return malformed("unknown CONNACK reason code");
      c.reason = static_cast<reason_code>(code);
    } else {
      if (code > 5) return malformed("unknown CONNACK return code");
      c.reason = from_v311_connack(static_cast<connack_return_code_v311>(code));
    }
    if (!props(property_context::connack, c.props)) return false;
    if (!end_of_packet(packet_type::connack)) return false;
    out = std::move(c);
    return true;
  }

  bool publish(packet& out) {
    publish_packet p;
    p.dup = (flags_ & 0x08) != 0;
    auto q = static_cast<std::uint8_t>((flags_ >> 1) & 0x03);
    p.retain = (flags_ & 0x01) != 0;
    if (q == 3) return malformed("PUBLISH with QoS 3");
    p.qos = static_cast<mqtt::qos>(q);
    if (p.qos == qos::at_most_once && p.dup) return malformed("DUP set on a QoS 0 PUBLISH");
    if (!utf8(p.topic, "topic name")) return false;
    if (p.qos != qos::at_most_once) {
      p.packet_id = r_.u16();
      if (!check("packet identifier")) return false;
      if (p.packet_id == 0) return protocol("packet identifier 0");
    }
    if (!props(property_context::publish, p.props)) return false;
    // An empty topic is legal in MQTT 5 only when a Topic Alias stands in for it;
    // the session resolves aliases, so only the characters are checked here.
    if (!p.topic.empty() || !v5_) {
      if (auto rc = validate_topic_name(p.topic); rc != reason_code::success)
        return error(rc, "invalid topic name in PUBLISH");
    }
    p.payload = r_.rest();
    // UTF-8 character data per RFC 3629, which unlike MQTT strings allows U+0000.
    if (p.props.number(property_id::payload_format_indicator) == 1u && !is_valid_utf8(p.payload))
      return error(reason_code::payload_format_invalid, "payload is not UTF-8 as its format says");
    out = std::move(p);
    return true;
  }

  property_context ack_context(packet_type type) {
    switch (type) {
      case packet_type::pubrec:
        return property_context::pubrec;
      case packet_type::pubrel:
        return property_context::pubrel;
      case packet_type::pubcomp:
        return property_context::pubcomp;
      default:
        return property_context::puback;
    }
  }

  bool pub_ack(packet_type type, packet& out) {
    pub_ack_packet a;
    a.type = type;
    a.packet_id = r_.u16();
    if (!check("packet identifier")) return false;
    if (a.packet_id == 0) return protocol("packet identifier 0");
    if (v5_ && r_.remaining() > 0) {
      std::uint8_t code = r_.u8();
      if (!valid_ack_reason(type, code))
        return malformed("invalid reason code for " + std::string{to_string(type)});
      a.reason = static_cast<reason_code>(code);
      if (r_.remaining() > 0 && !props(ack_context(type), a.props)) return false;
    }
    if (!end_of_packet(type)) return false;
    out = std::move(a);
    return true;
  }

  static bool valid_ack_reason(packet_type type, std::uint8_t code) {
    if (type == packet_type::pubrel || type == packet_type::pubcomp)
      return code == 0x00 || code == 0x92;
    switch (code) {
      case 0x00:
      case 0x10:
      case 0x80:
      case 0x83:
      case 0x87:
      case 0x90:
      case 0x91:
      case 0x97:
      case 0x99:
        return true;
      default:
        return false;
    }
  }

  bool subscribe(packet& out) {
    subscribe_packet s;
    s.packet_id = r_.u16();
    if (!check("packet identifier")) return false;
    if (s.packet_id == 0) return protocol("packet identifier 0");
    if (!props(property_context::subscribe, s.props)) return false;
    while (r_.remaining() > 0) {
      subscribe_entry e;
      if (!utf8(e.filter, "topic filter")) return false;
      std::uint8_t options = r_.u8();
      if (!check("subscription options")) return false;
      std::uint8_t reserved_mask = v5_ ? 0xC0 : 0xFC;
      if (options & reserved_mask) return malformed("reserved subscription option bits set");
      auto q = static_cast<std::uint8_t>(options & 0x03);
      if (q == 3) return malformed("subscription QoS 3");
      e.options.max_qos = static_cast<mqtt::qos>(q);
      if (v5_) {
        e.options.no_local = (options & 0x04) != 0;
        e.options.retain_as_published = (options & 0x08) != 0;
        auto rh = static_cast<std::uint8_t>((options >> 4) & 0x03);
        if (rh == 3) return malformed("retain handling 3");
        e.options.retain_handling = static_cast<mqtt::retain_handling>(rh);
      }
      s.entries.push_back(std::move(e));
    }
    if (s.entries.empty()) return protocol("SUBSCRIBE without topic filters");
    out = std::move(s);
    return true;
  }

  bool suback(packet& out) {
    suback_packet s;
    s.packet_id = r_.u16();
    if (!check("packet identifier")) return false;
    if (!props(property_context::suback, s.props)) return false;
    while (r_.remaining() > 0) {
      std::uint8_t code = r_.u8();
      bool valid =
          v5_ ? (code <= 2 || code == 0x80 || code == 0x83 || code == 0x87 || code == 0x8F ||
                 code == 0x91 || code == 0x97 || code == 0x9E || code == 0xA1 || code == 0xA2)
              : (code <= 2 || code == 0x80);
      if (!valid) return malformed("invalid SUBACK reason code");
      s.reasons.push_back(static_cast<reason_code>(code));
    }
    out = std::move(s);
    return true;
  }

  bool unsubscribe(packet& out) {
    unsubscribe_packet u;
    u.packet_id = r_.u16();
    if (!check("packet identifier")) return false;
    if (u.packet_id == 0) return protocol("packet identifier 0");
    if (!props(property_context::unsubscribe, u.props)) return false;
    while (r_.remaining() > 0) {
      std::string filter;
      if (!utf8(filter, "topic filter")) return false;
      u.filters.push_back(std::move(filter));
    }
    if (u.filters.empty()) return protocol("UNSUBSCRIBE without topic filters");
    out = std::move(u);
    return true;
  }

  bool unsuback(packet& out) {
    unsuback_packet u;
    u.packet_id = r_.u16();
    if (!check("packet identifier")) return false;
    if (v5_) {
      if (!props(property_context::unsuback, u.props)) return false;
      while (r_.remaining() > 0) {
        std::uint8_t code = r_.u8();
        bool valid = code == 0x00 || code == 0x11 || code == 0x80 || code == 0x83 || code == 0x87 ||
                     code == 0x8F || code == 0x91;
        if (!valid) return malformed("invalid UNSUBACK reason code");
        u.reasons.push_back(static_cast<reason_code>(code));
      }
    }
    if (!end_of_packet(packet_type::unsuback)) return false;
    out = std::move(u);
    return true;
  }

  bool disconnect(packet& out) {
    disconnect_packet d;
    if (v5_ && r_.remaining() > 0) {
      std::uint8_t code = r_.u8();
      if (!is_known_reason_code(code) || code == 0x01 || code == 0x02 || code == 0x10 ||
          code == 0x11 || code == 0x18 || code == 0x19)
        return malformed("invalid DISCONNECT reason code");
      d.reason = static_cast<reason_code>(code);
      if (r_.remaining() > 0 && !props(property_context::disconnect, d.props)) return false;
    }
    if (!end_of_packet(packet_type::disconnect)) return false;
    out = std::move(d);
    return true;
  }

  bool auth(packet& out) {
    auth_packet a;
    if (r_.remaining() > 0) {
      std::uint8_t code = r_.u8();
      if (code != 0x00 && code != 0x18 && code != 0x19)
        return malformed("invalid AUTH reason code");
      a.reason = static_cast<reason_code>(code);
      if (r_.remaining() > 0 && !props(property_context::auth, a.props)) return false;
    }
    if (!end_of_packet(packet_type::auth)) return false;
    out = std::move(a);
    return true;
  }

 private:
  wire::reader r_;
  std::uint8_t flags_;
  bool v5_;
  protocol_version version_;
};

decode_result make_error(reason_code code, std::string detail) {
  decode_result r;
  r.status = decode_status::error;
  r.error = code;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

decode_result peek_frame(byte_view input, frame_header& header) {
  decode_result r;
  if (input.empty()) return r;
  header.first_byte = input[0];
  std::uint32_t value = 0;
  for (std::size_t i = 1; i <= 4; ++i) {
    if (i >= input.size()) return r;  // incomplete
    std::uint8_t b = input[i];
    value |= std::uint32_t{b & 0x7Fu} << (7 * (i - 1));
    if ((b & 0x80) == 0) {
      if (i > 1 && b == 0)
        return make_error(reason_code::malformed_packet, "non-minimal remaining length");
      header.remaining_length = value;
      header.header_size = i + 1;
      r.status = decode_status::complete;
      return r;
    }
  }
  return make_error(reason_code::malformed_packet, "remaining length longer than four bytes");
}

std::optional<properties> decode_property_block(byte_view input, property_context ctx) {
  body_parser parser{input, 0, protocol_version::v5};
  properties out;
  if (!parser.props(ctx, out) || !parser.at_end()) return std::nullopt;
  return out;
}

decode_result decode(byte_view input, const decode_options& options) {
  frame_header header;
  decode_result frame = peek_frame(input, header);
  if (!frame.complete()) return frame;
  auto type_value = static_cast<std::uint8_t>(header.first_byte >> 4);
  if (type_value == 0) return make_error(reason_code::malformed_packet, "reserved packet type 0");
  if (header.total_size() > options.maximum_packet_size)
    return make_error(reason_code::packet_too_large,
                      "packet of " + std::to_string(header.total_size()) +
                          " bytes exceeds maximum of " +
                          std::to_string(options.maximum_packet_size));
  if (input.size() < header.total_size()) return decode_result{};

  auto type = static_cast<packet_type>(type_value);
  body_parser parser{input.subspan(header.header_size, header.remaining_length),
                     static_cast<std::uint8_t>(header.first_byte & 0x0F), options.version};
  decode_result r;
  bool ok = parser.parse(type, r.value);
  r.connect_version = parser.connect_version;
  if (!ok) {
    r.status = decode_status::error;
    r.error = parser.fail.code;
    r.detail = std::move(parser.fail.detail);
    return r;
  }
  r.status = decode_status::complete;
  r.consumed = header.total_size();
  return r;
}

}  // namespace convoy::mqtt
