#include "actors/rules/telemetry_payload.hpp"

#include <zlib.h>

#include "protocol/base64.hpp"
#include "protocol/utf8.hpp"

namespace convoy {

std::optional<payload_format> parse_payload_format(std::string_view name) {
  if (name == "auto") return payload_format::automatic;
  if (name == "json") return payload_format::json;
  if (name == "gzip-json") return payload_format::gzip_json;
  if (name == "msgpack") return payload_format::msgpack;
  return std::nullopt;
}

std::string_view to_string(payload_format f) {
  switch (f) {
    case payload_format::automatic:
      return "auto";
    case payload_format::json:
      return "json";
    case payload_format::gzip_json:
      return "gzip-json";
    case payload_format::msgpack:
      return "msgpack";
  }
  return "auto";
}

void put_raw_payload(nlohmann::json& record, std::string_view payload) {
  if (mqtt::is_valid_utf8(payload))
    record["payload"] = payload;
  else
    record["payloadBase64"] = base64_encode(payload);
}

std::string gzip_compress(std::string_view data) {
  z_stream z{};
  // 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return {};
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  return out;
}

std::optional<std::string> gzip_inflate(std::string_view data, std::size_t max) {
  std::string out;
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return std::nullopt;  // + 32: gzip or zlib header
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  char buffer[16384];
  int rc = Z_OK;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buffer, sizeof buffer - z.avail_out);
    if (out.size() > max) {
      rc = Z_MEM_ERROR;
      break;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      // Concatenated gzip members (as archive segments are written) go on.
      if (inflateReset(&z) != Z_OK) break;
      continue;
    }
    if (z.avail_in == 0 && z.avail_out != 0) {
      rc = Z_DATA_ERROR;  // truncated
      break;
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

namespace {

bool looks_gzip(std::string_view p) {
  return p.size() >= 2 && static_cast<unsigned char>(p[0]) == 0x1f &&
         static_cast<unsigned char>(p[1]) == 0x8b;
}

bool looks_json(std::string_view p) {
  for (char ch : p) {
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
    return ch == '{' || ch == '[' || ch == '"' || ch == '-' || (ch >= '0' && ch <= '9') ||
           ch == 't' || ch == 'f' || ch == 'n';
  }
  return false;
}

payload_format detect(std::string_view payload, std::string_view content_type) {
  if (content_type.find("gzip") != std::string_view::npos) return payload_format::gzip_json;
  if (content_type.find("msgpack") != std::string_view::npos) return payload_format::msgpack;
  if (content_type.find("json") != std::string_view::npos) return payload_format::json;
  if (looks_gzip(payload)) return payload_format::gzip_json;
  if (looks_json(payload)) return payload_format::json;
  return payload_format::msgpack;
}

decoded_payload failed(payload_format f, std::string why) {
  decoded_payload d;
  d.value = nlohmann::json::value_t::discarded;
  d.error = std::move(why);
  d.format = f;
  return d;
}

}  // namespace

decoded_payload decode_payload(std::string_view payload, std::string_view content_type,
                               payload_format format, std::size_t max_inflated) {
  if (format == payload_format::automatic) format = detect(payload, content_type);
  decoded_payload d;
  d.format = format;
  switch (format) {
    case payload_format::gzip_json: {
      auto inflated = gzip_inflate(payload, max_inflated);
      if (!inflated)
        return failed(format,
                      "not gzip, or it inflates beyond " + std::to_string(max_inflated) + " bytes");
      d.value = nlohmann::json::parse(*inflated, nullptr, false);
      if (d.value.is_discarded()) return failed(format, "the inflated payload is not JSON");
      return d;
    }
    case payload_format::msgpack:
      d.value = nlohmann::json::from_msgpack(payload, true, false);
      if (d.value.is_discarded()) return failed(format, "not MessagePack");
      return d;
    case payload_format::json:
    case payload_format::automatic:
      d.value = nlohmann::json::parse(payload, nullptr, false);
      if (d.value.is_discarded()) return failed(format, "not JSON");
      return d;
  }
  return d;
}

}  // namespace convoy
