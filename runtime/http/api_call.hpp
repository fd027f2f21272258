#pragma once

// One API request in flight, as the management API's handlers see it
// (runtime/http/management_api*.cpp): the parsed path and query, who is asking,
// and ways to answer.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/http/http_server.hpp"
#include "runtime/http/management_api.hpp"

namespace convoy::runtime {

// Text without control characters, for names that end up in records and logs.
inline bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7F;
  });
}

struct management_api::call {
  http_request request;
  http_responder respond;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> params;
  std::string who;  // the API key's or token's name, for records and logs

  void reply(unsigned status, const nlohmann::json& body) {
    http_response r{static_cast<boost::beast::http::status>(status), request.version()};
    r.set(boost::beast::http::field::content_type, "application/json");
    r.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    respond(std::move(r));
  }
  void fail(unsigned status, std::string_view message) {
    respond(http_server::json_error(status, message, request.version(), request.keep_alive()));
  }
  void no_content() {
    http_response r{boost::beast::http::status::no_content, request.version()};
    respond(std::move(r));
  }
  // The JSON object of the body; else answers 415 or 400 and returns nullopt.
  std::optional<nlohmann::json> body_object() {
    auto type = request[boost::beast::http::field::content_type];
    if (std::string_view{type.data(), type.size()}.substr(0, 16) != "application/json") {
      fail(415, "the body must be JSON (Content-Type: application/json)");
      return std::nullopt;
    }
    nlohmann::json body = nlohmann::json::parse(request.body(), nullptr, false);
    if (body.is_discarded()) {
      fail(400, "the body is not valid JSON");
      return std::nullopt;
    }
    if (!body.is_object()) {
      fail(400, "the body must be a JSON object");
      return std::nullopt;
    }
    return body;
  }
  // A paging limit from ?limit=, 1..1000 (default 100); nullopt after a 400.
  std::optional<std::uint32_t> limit() {
    auto it = query.find("limit");
    if (it == query.end()) return 100;
    try {
      std::size_t used = 0;
      long v = std::stol(it->second, &used);
      if (used == it->second.size() && v >= 1 && v <= 1000) return static_cast<std::uint32_t>(v);
    } catch (const std::exception&) {
    }
    fail(400, "limit must be an integer from 1 to 1000");
    return std::nullopt;
  }
  std::string param(const char* name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string{} : it->second;
  }
  std::string query_value(const char* name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string{} : it->second;
  }
};

}  // namespace convoy::runtime
