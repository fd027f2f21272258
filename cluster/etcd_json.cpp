#include "cluster/etcd_json.hpp"

#include <nlohmann/json.hpp>

#include "protocol/base64.hpp"

namespace convoy::cluster::etcd {

using json = nlohmann::json;

namespace {

// grpc-gateway writes int64 as a string and leaves zero out.
std::int64_t int_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::size_t used = 0;
    try {
      auto v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  throw reply_error(std::string{"field '"} + name + "' is not an integer: " + it->dump());
}

std::string bytes_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string())
    throw reply_error(std::string{"field '"} + name + "' is not a string: " + it->dump());
  auto decoded = base64_decode(it->get_ref<const std::string&>());
  if (!decoded) throw reply_error(std::string{"field '"} + name + "' is not base64");
  return std::move(*decoded);
}

// A nested object or array; an empty one when the gateway left it out.
const json& nested_field(const json& j, const char* name, json::value_t type) {
  static const json empty_object = json::object();
  static const json empty_array = json::array();
  auto it = j.find(name);
  if (it == j.end() || it->is_null())
    return type == json::value_t::array ? empty_array : empty_object;
  if (it->type() != type)
    throw reply_error(std::string{"field '"} + name + "' is not an " +
                      (type == json::value_t::array ? "array" : "object") + ": " + it->dump());
  return *it;
}

const json& object_field(const json& j, const char* name) {
  return nested_field(j, name, json::value_t::object);
}

const json& array_field(const json& j, const char* name) {
  return nested_field(j, name, json::value_t::array);
}

key_value parse_kv(const json& j) {
  if (!j.is_object()) throw reply_error("a key-value is not an object: " + j.dump());
  return {bytes_field(j, "key"), bytes_field(j, "value"), int_field(j, "create_revision"),
          int_field(j, "mod_revision"), int_field(j, "lease")};
}

std::vector<key_value> parse_kvs(const json& j) {
  std::vector<key_value> out;
  for (const auto& kv : array_field(j, "kvs"))
    out.push_back(parse_kv(kv));
  return out;
}

// The reply as a JSON object; an error object the gateway sent instead is
// thrown as what it says.
json parse_object(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw reply_error("not a JSON object: " + std::string{body.substr(0, 200)});
  auto error = j.find("error");
  if (error != j.end()) {
    std::string what = error->is_string() ? error->get<std::string>() : error->dump();
    auto code = j.find("code");
    if (code != j.end() && code->is_number_integer())
      what += " (code " + std::to_string(code->get<int>()) + ")";
    throw reply_error(what);
  }
  return j;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end{prefix};
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string grant_request(std::chrono::seconds ttl) {
  return json{{"TTL", std::to_string(ttl.count())}}.dump();
}

std::string keepalive_request(std::int64_t lease) {
  return json{{"ID", std::to_string(lease)}}.dump();
}

std::string revoke_request(std::int64_t lease) {
  return keepalive_request(lease);
}

std::string create_request(std::string_view key, std::string_view value, std::int64_t lease) {
  auto k = base64_encode(key);
  return json{
      {"compare", json::array({{{"key", k}, {"target", "CREATE"}, {"create_revision", "0"}}})},
      {"success",
       json::array(
           {{{"request_put",
              {{"key", k}, {"value", base64_encode(value)}, {"lease", std::to_string(lease)}}}}})},
      {"failure", json::array({{{"request_range", {{"key", k}}}}})}}
      .dump();
}

std::string delete_created_request(std::string_view key, std::int64_t create_revision) {
  auto k = base64_encode(key);
  return json{{"compare", json::array({{{"key", k},
                                        {"target", "CREATE"},
                                        {"create_revision", std::to_string(create_revision)}}})},
              {"success", json::array({{{"request_delete_range", {{"key", k}}}}})}}
      .dump();
}

std::string range_prefix_request(std::string_view prefix) {
  return json{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}}
      .dump();
}

std::string watch_prefix_request(std::string_view prefix, std::int64_t start_revision) {
  return json{{"create_request",
               {{"key", base64_encode(prefix)},
                {"range_end", base64_encode(prefix_end(prefix))},
                {"start_revision", std::to_string(start_revision)},
                {"prev_kv", true}}}}
      .dump();
}

lease_grant parse_grant(std::string_view body) {
  json j = parse_object(body);
  lease_grant g{int_field(j, "ID"), int_field(j, "TTL")};
  if (g.id == 0 || g.ttl <= 0) throw reply_error("lease grant without an ID or TTL: " + j.dump());
  return g;
}

std::int64_t parse_keepalive(std::string_view body) {
  json j = parse_object(body);
  // A streaming call: the gateway wraps each message in {"result": ...}.
  const json& r = j.contains("result") ? object_field(j, "result") : j;
  return int_field(r, "TTL");
}

create_reply parse_create(std::string_view body) {
  json j = parse_object(body);
  create_reply r;
  auto succeeded = j.find("succeeded");
  r.created = succeeded != j.end() && succeeded->is_boolean() && succeeded->get<bool>();
  r.revision = int_field(object_field(j, "header"), "revision");
  if (!r.created) {
    for (const auto& response : array_field(j, "responses")) {
      auto kvs = parse_kvs(object_field(response, "response_range"));
      if (!kvs.empty()) r.existing = std::move(kvs.front());
    }
  }
  return r;
}

bool parse_succeeded(std::string_view body) {
  json j = parse_object(body);
  auto succeeded = j.find("succeeded");
  return succeeded != j.end() && succeeded->is_boolean() && succeeded->get<bool>();
}

range_reply parse_range(std::string_view body) {
  json j = parse_object(body);
  return {int_field(object_field(j, "header"), "revision"), parse_kvs(j)};
}

watch_message parse_watch(std::string_view line) {
  json j = parse_object(line);
  const json& r = object_field(j, "result");
  watch_message m;
  auto flag = [&](const char* name) {
    auto it = r.find(name);
    return it != r.end() && it->is_boolean() && it->get<bool>();
  };
  m.created = flag("created");
  m.canceled = flag("canceled");
  if (auto it = r.find("cancel_reason"); it != r.end() && it->is_string())
    m.cancel_reason = it->get<std::string>();
  m.compact_revision = int_field(r, "compact_revision");
  m.revision = int_field(object_field(r, "header"), "revision");
  for (const auto& e : array_field(r, "events")) {
    watch_message::event ev;
    auto type = e.find("type");
    ev.deleted = type != e.end() && type->is_string() && type->get<std::string>() == "DELETE";
    ev.kv = parse_kv(object_field(e, "kv"));
    m.events.push_back(std::move(ev));
  }
  return m;
}

}  // namespace convoy::cluster::etcd
