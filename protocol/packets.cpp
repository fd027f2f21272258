#include "protocol/packets.hpp"

namespace convoy::mqtt {

const char* to_string(packet_type t) {
  switch (t) {
    case packet_type::connect:
      return "CONNECT";
    case packet_type::connack:
      return "CONNACK";
    case packet_type::publish:
      return "PUBLISH";
    case packet_type::puback:
      return "PUBACK";
    case packet_type::pubrec:
      return "PUBREC";
    case packet_type::pubrel:
      return "PUBREL";
    case packet_type::pubcomp:
      return "PUBCOMP";
    case packet_type::subscribe:
      return "SUBSCRIBE";
    case packet_type::suback:
      return "SUBACK";
    case packet_type::unsubscribe:
      return "UNSUBSCRIBE";
    case packet_type::unsuback:
      return "UNSUBACK";
    case packet_type::pingreq:
      return "PINGREQ";
    case packet_type::pingresp:
      return "PINGRESP";
    case packet_type::disconnect:
      return "DISCONNECT";
    case packet_type::auth:
      return "AUTH";
  }
  return "reserved";
}

packet_type type_of(const packet& p) {
  struct visitor {
    packet_type operator()(const connect_packet&) const { return packet_type::connect; }
    packet_type operator()(const connack_packet&) const { return packet_type::connack; }
    packet_type operator()(const publish_packet&) const { return packet_type::publish; }
    packet_type operator()(const pub_ack_packet& a) const { return a.type; }
    packet_type operator()(const subscribe_packet&) const { return packet_type::subscribe; }
    packet_type operator()(const suback_packet&) const { return packet_type::suback; }
    packet_type operator()(const unsubscribe_packet&) const { return packet_type::unsubscribe; }
    packet_type operator()(const unsuback_packet&) const { return packet_type::unsuback; }
    packet_type operator()(const pingreq_packet&) const { return packet_type::pingreq; }
    packet_type operator()(const pingresp_packet&) const { return packet_type::pingresp; }
    packet_type operator()(const disconnect_packet&) const { return packet_type::disconnect; }
    packet_type operator()(const auth_packet&) const { return packet_type::auth; }
  };
  return std::visit(visitor{}, p);
}

}  // namespace convoy::mqtt
