#pragma once

// Telemetry payloads as routing rules read them: JSON, gzipped JSON or
// MessagePack, decoded into one JSON value. Pure: no I/O, no actors.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace convoy {

enum class payload_format : std::uint8_t {
  automatic,  // by Content Type, else by the first bytes: gzip magic, JSON, else MessagePack
  json,
  gzip_json,
  msgpack,
};

std::optional<payload_format> parse_payload_format(std::string_view name);  // "auto", "json", ...
std::string_view to_string(payload_format f);

struct decoded_payload {
  nlohmann::json value;  // discarded (is_discarded()) when it could not be decoded
  std::string error;     // why not
  payload_format format = payload_format::automatic;  // the format it was read as
};

// Decodes `payload`; `content_type` is the MQTT 5 Content Type (may be
// empty). A gzip payload may inflate to at most max_inflated bytes, so a
// small compressed message cannot make the broker allocate gigabytes.
decoded_payload decode_payload(std::string_view payload, std::string_view content_type,
                               payload_format format, std::size_t max_inflated = 1 << 20);

// gzip, for tests and the archive's segment files: one complete gzip member.
// The payload as it came, in a JSON record of the message: "payload" when
// it is UTF-8 text, else "payloadBase64" (archives and webhooks).
void put_raw_payload(nlohmann::json& record, std::string_view payload);

std::string gzip_compress(std::string_view data);
// Inflates a gzip stream (all members); nullopt when corrupt or larger than max.
std::optional<std::string> gzip_inflate(std::string_view data, std::size_t max);

}  // namespace convoy
