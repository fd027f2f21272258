// The management API's message routes: publishing, and the retained
// messages the topic shards keep.

#include "runtime/http/management_api.hpp"

#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
#include "protocol/base64.hpp"
#include "protocol/topic.hpp"
#include "protocol/utf8.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"

namespace convoy::runtime {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

json payload_json(const std::string& payload) {
  if (mqtt::is_valid_utf8(payload)) return {{"payload", payload}, {"payloadEncoding", "utf8"}};
  return {{"payload", base64_encode(payload)}, {"payloadEncoding", "base64"}};
}

json to_json(const app_message& m) {
  json j{{"topic", m.topic}, {"qos", static_cast<int>(m.qos)}};
  j.update(payload_json(m.payload ? *m.payload : std::string{}));
  if (m.expires_at != 0) j["expiresAt"] = m.expires_at;
  if (const auto* ct = m.props.string(mqtt::property_id::content_type)) j["contentType"] = *ct;
  return j;
}

}  // namespace

void management_api::route_message(std::shared_ptr<call> c, std::shared_ptr<const app_message> m,
                                   bool answer_receivers) {
  const caf::actor& shard = broker_->shard_for_topic(m->topic);
  ask<route_outcome>(system_, shard, route_request{message_ref{std::move(m)}}, timeout_,
                     [c, answer_receivers](std::optional<route_outcome> o) {
                       if (!o) return c->fail(503, "the message could not be routed (storage?)");
                       if (!answer_receivers) return c->no_content();
                       c->reply(200, {{"receivers", o->receivers}, {"refused", o->refused}});
                     });
}

void management_api::publish(std::shared_ptr<call> c) {
  auto body = c->body_object();
  if (!body) return;
  auto& b = *body;
  auto text = [&](const char* key, std::string& out, bool required) -> bool {
    auto it = b.find(key);
    if (it == b.end()) {
      if (required) c->fail(400, std::string{"\""} + key + "\" is required");
      return !required;
    }
    if (!it->is_string()) {
      c->fail(400, std::string{"\""} + key + "\" must be a string");
      return false;
    }
    out = it->get<std::string>();
    return true;
  };
  auto m = std::make_shared<app_message>();
  std::string payload, encoding = "utf8", content_type, response_topic, correlation;
  if (!text("topic", m->topic, true) || !text("payload", payload, false) ||
      !text("payloadEncoding", encoding, false) || !text("contentType", content_type, false) ||
      !text("responseTopic", response_topic, false) || !text("correlationData", correlation, false))
    return;
  if (mqtt::validate_topic_name(m->topic) != mqtt::reason_code::success)
    return c->fail(400, "\"topic\" is not a valid topic name (no wildcards, not empty)");
  if (m->topic.starts_with("$"))
    return c->fail(400, "\"topic\" must not start with '$' (reserved for the broker)");
  if (encoding == "base64") {
    auto decoded = base64_decode(payload);
    if (!decoded) return c->fail(400, "\"payload\" is not valid base64");
    payload = std::move(*decoded);
  } else if (encoding != "utf8") {
    return c->fail(400, "\"payloadEncoding\" must be utf8 or base64");
  }
  int qos = 0;
  if (auto it = b.find("qos"); it != b.end()) {
    if (!it->is_number_integer() || it->get<int>() < 0 || it->get<int>() > 2)
      return c->fail(400, "\"qos\" must be 0, 1 or 2");
    qos = it->get<int>();
  }
  if (auto it = b.find("retain"); it != b.end()) {
    if (!it->is_boolean()) return c->fail(400, "\"retain\" must be true or false");
    m->retain = it->get<bool>();
  }
  if (auto it = b.find("messageExpiryInterval"); it != b.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 0xFFFFFFFFu)
      return c->fail(400, "\"messageExpiryInterval\" must be seconds, 0 to 4294967295");
    if (auto s = it->get<std::uint64_t>(); s > 0)
      m->expires_at = now_ms() + static_cast<std::int64_t>(s) * 1000;
  }
  if (auto it = b.find("userProperties"); it != b.end()) {
    if (!it->is_object()) return c->fail(400, "\"userProperties\" must be an object of strings");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return c->fail(400, "\"userProperties\" values must be strings");
      m->props.add_user_property(k, v.get<std::string>());
    }
  }
  if (payload.size() > broker_->settings.max_packet_size)
    return c->fail(413, "the payload is larger than mqtt.max_packet_size");
  if (!content_type.empty()) m->props.add(mqtt::property_id::content_type, content_type);
  if (!response_topic.empty()) {
    if (mqtt::validate_topic_name(response_topic) != mqtt::reason_code::success)
      return c->fail(400, "\"responseTopic\" is not a valid topic name");
    m->props.add(mqtt::property_id::response_topic, response_topic);
  }
  if (!correlation.empty()) m->props.add(mqtt::property_id::correlation_data, correlation);
  m->qos = static_cast<mqtt::qos>(qos);
  m->payload = std::make_shared<const std::string>(std::move(payload));
  m->publisher = "$api";
  m->published_us = now_us();
  metrics::add(static_cast<counter>(static_cast<int>(counter::messages_received_qos0) + qos));
  route_message(std::move(c), std::move(m), true);
}

void management_api::list_retained(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  std::string filter = c->query.count("filter") ? c->query_value("filter") : "#";
  if (mqtt::validate_topic_filter(filter) != mqtt::reason_code::success)
    return c->fail(400, "\"filter\" is not a valid topic filter");
  retained_page_request req{filter, c->query_value("after"), *limit};
  // Every shard's first page, merged in topic order: a topic lives in one
  // shard, so the first `limit` of the merge are the page.
  ask_all<retained_page>(
      system_, broker_->topic_shards.all(), req, timeout_,
      [c, limit = *limit](std::vector<std::optional<retained_page>> pages) {
        std::vector<message_ref> all;
        bool more = false;
        for (auto& p : pages) {
          if (!p) return c->fail(504, "a topic shard did not answer in time");
          more = more || p->more;
          for (auto& m : p->messages)
            all.push_back(std::move(m));
        }
        std::sort(all.begin(), all.end(),
                  [](const auto& a, const auto& b) { return a->topic < b->topic; });
        if (all.size() > limit) {
          all.resize(limit);
          more = true;
        }
        json data = json::array();
        for (const auto& m : all)
          data.push_back(to_json(*m));
        json next = more && !all.empty() ? json(all.back()->topic) : json(nullptr);
        c->reply(200, {{"data", std::move(data)}, {"next", std::move(next)}});
      });
}

void management_api::get_retained(std::shared_ptr<call> c) {
  std::string topic = c->param("topic");
  if (mqtt::validate_topic_name(topic) != mqtt::reason_code::success)
    return c->fail(400, "not a valid topic name: " + topic);
  retained_page_request req{topic, {}, 1};
  ask<retained_page>(system_, broker_->shard_for_topic(topic), req, timeout_,
                     [c, topic](std::optional<retained_page> page) {
                       if (!page) return c->fail(504, "the topic shard did not answer in time");
                       if (page->messages.empty())
                         return c->fail(404, "no retained message on " + topic);
                       c->reply(200, to_json(*page->messages.front()));
                     });
}

void management_api::delete_retained(std::shared_ptr<call> c) {
  std::string topic = c->param("topic");
  if (mqtt::validate_topic_name(topic) != mqtt::reason_code::success)
    return c->fail(400, "not a valid topic name: " + topic);
  retained_page_request req{topic, {}, 1};
  ask<retained_page>(system_, broker_->shard_for_topic(topic), req, timeout_,
                     [this, c, topic](std::optional<retained_page> page) {
                       if (!page) return c->fail(504, "the topic shard did not answer in time");
                       if (page->messages.empty())
                         return c->fail(404, "no retained message on " + topic);
                       // An empty retained message clears the topic, stored copy
                       // included, and reaches no subscriber.
                       auto m = std::make_shared<app_message>();
                       m->topic = topic;
                       m->payload = std::make_shared<const std::string>();
                       m->retain = true;
                       m->qos = mqtt::qos::at_least_once;
                       m->publisher = "$api";
                       route_message(c, std::move(m), false);
                     });
}

}  // namespace convoy::runtime
