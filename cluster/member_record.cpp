#include "cluster/member_record.hpp"

#include <nlohmann/json.hpp>

namespace convoy::cluster {

std::string cluster_prefix(std::string_view cluster) {
  return "/convoy/" + std::string{cluster} + "/";
}

std::string members_prefix(std::string_view cluster) {
  return cluster_prefix(cluster) + "members/";
}

std::string member_value(const member_record& self) {
  return nlohmann::json{{"host", self.host},
                        {"cluster_port", self.cluster_port},
                        {"mqtt_port", self.mqtt_port},
                        {"http_port", self.http_port},
                        {"joined_at_ms", self.joined_at_ms},
                        {"version", self.version}}
      .dump();
}

std::optional<member_record> member_from(const etcd::key_value& kv, std::string_view prefix) {
  if (!kv.key.starts_with(prefix) || kv.key.size() == prefix.size()) return std::nullopt;
  member_record m;
  m.node = kv.key.substr(prefix.size());
  if (m.node.find('/') != std::string::npos) return std::nullopt;
  m.incarnation = kv.create_revision;
  auto j = nlohmann::json::parse(kv.value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto port = [&](const char* name) -> std::optional<std::uint16_t> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > 65535)
      return std::nullopt;
    return static_cast<std::uint16_t>(it->get<std::uint64_t>());
  };
  auto host = j.find("host");
  auto cluster_port = port("cluster_port");
  auto mqtt_port = port("mqtt_port");
  auto http_port = port("http_port");
  if (host == j.end() || !host->is_string() || host->get_ref<const std::string&>().empty() ||
      !cluster_port || *cluster_port == 0 || !mqtt_port || !http_port)
    return std::nullopt;
  m.host = host->get<std::string>();
  m.cluster_port = *cluster_port;
  m.mqtt_port = *mqtt_port;
  m.http_port = *http_port;
  if (auto it = j.find("joined_at_ms"); it != j.end() && it->is_number_integer())
    m.joined_at_ms = it->get<std::int64_t>();
  if (auto it = j.find("version"); it != j.end() && it->is_string())
    m.version = it->get<std::string>();
  return m;
}

}  // namespace convoy::cluster
