// The management API's consent routes: the purposes, and granting,
// listing, checking and revoking a vehicle's consents.

#include "runtime/http/management_api.hpp"

#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"
#include "actors/vehicle/consent.hpp"
#include "actors/vehicle/consent_catalog.hpp"
#include "protocol/topic.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"

namespace convoy::runtime {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

json to_json(const consent_record& r) {
  return {{"vin", r.vin},
          {"subject", r.subject},
          {"purpose", r.purpose},
          {"grantedAt", r.granted_at},
          {"expiresAt", r.expires_at == 0 ? json(nullptr) : json(r.expires_at)},
          {"grantedBy", r.granted_by}};
}

}  // namespace

void management_api::consent_purposes(std::shared_ptr<call> c) {
  json data = json::array();
  for (const auto& p : broker_->consent_purposes->purposes())
    data.push_back({{"name", p.name},
                    {"description", p.description},
                    {"topics", p.topics},
                    {"commands", p.commands}});
  c->reply(200, {{"data", std::move(data)}});
}

void management_api::grant_consent(std::shared_ptr<call> c) {
  auto body = c->body_object();
  if (!body) return;
  consent_record r;
  r.vin = c->param("vin");
  r.granted_by = c->who;
  for (auto [key, field] : {std::pair{"subject", &r.subject}, {"purpose", &r.purpose}}) {
    auto it = body->find(key);
    if (it == body->end() || !it->is_string() || it->get<std::string>().empty())
      return c->fail(400, std::string{"\""} + key + "\" is required (a string)");
    *field = it->get<std::string>();
  }
  if (!printable(r.subject)) return c->fail(400, "\"subject\" holds control characters");
  if (body->contains("expiresAt") && body->contains("ttlSeconds"))
    return c->fail(400, "give \"expiresAt\" or \"ttlSeconds\", not both");
  if (auto it = body->find("expiresAt"); it != body->end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() <= 0)
      return c->fail(400, "\"expiresAt\" must be a Unix time in milliseconds");
    r.expires_at = it->get<std::int64_t>();
  }
  if (auto it = body->find("ttlSeconds"); it != body->end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
        it->get<std::uint64_t>() > 100ull * 365 * 86'400)
      return c->fail(400, "\"ttlSeconds\" must be a positive number of seconds");
    r.expires_at = now_ms() + static_cast<std::int64_t>(it->get<std::uint64_t>()) * 1000;
  }
  // Only registered vehicles get consents.
  registry_command get;
  get.what = registry_command::op::get_vehicle;
  get.vin = r.vin;
  ask<registry_result>(system_, broker_->registry_shards.for_key(r.vin), get, timeout_,
                       [this, c, r](std::optional<registry_result> v) mutable {
                         if (!v) return c->fail(504, "the registry did not answer in time");
                         if (!v->ok) return c->fail(404, "vehicle " + r.vin + " is not registered");
                         ask<consent_result>(
                             system_, broker_->consent_shards.for_key(r.vin), consent_grant{r},
                             timeout_, [c](std::optional<consent_result> g) {
                               if (!g)
                                 return c->fail(504, "the consent shard did not answer in time");
                               if (!g->ok) return c->fail(400, g->error);
                               c->reply(201, to_json(g->record));
                             });
                       });
}

void management_api::list_consents(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  std::string vin = c->param("vin");
  ask<consent_list>(system_, broker_->consent_shards.for_key(vin), consent_list_request{vin},
                    timeout_, [c, limit = *limit](std::optional<consent_list> l) {
                      if (!l) return c->fail(504, "the consent shard did not answer in time");
                      // Sorted by subject and purpose; the cursor is both, a
                      // newline between (neither holds one).
                      std::string after = c->query_value("after");
                      json data = json::array();
                      json next = nullptr;
                      for (const auto& r : l->records) {
                        std::string key = r.subject + "\n" + r.purpose;
                        if (!after.empty() && key <= after) continue;
                        if (data.size() == limit) {
                          next = data.back()["subject"].get<std::string>() + "\n" +
                                 data.back()["purpose"].get<std::string>();
                          break;
                        }
                        data.push_back(to_json(r));
                      }
                      c->reply(200, {{"data", std::move(data)}, {"next", std::move(next)}});
                    });
}

void management_api::check_consent(std::shared_ptr<call> c) {
  consent_check check{c->param("vin"), c->query_value("subject"), c->query_value("topic"),
                      c->query_value("command")};
  if (check.subject.empty()) return c->fail(400, "\"subject\" is required");
  if (check.topic.empty() == check.command.empty())
    return c->fail(400, "give one of \"topic\" and \"command\"");
  if (!check.topic.empty() && mqtt::validate_topic_name(check.topic) != mqtt::reason_code::success)
    return c->fail(400, "\"topic\" is not a valid topic name");
  ask<consent_verdict>(system_, broker_->consent_shards.for_key(check.vin), check, timeout_,
                       [c](std::optional<consent_verdict> v) {
                         if (!v) return c->fail(504, "the consent shard did not answer in time");
                         json answer{{"allowed", v->allowed}};
                         if (v->allowed)
                           answer["purpose"] = v->purpose;
                         else
                           answer["reason"] = v->reason;
                         c->reply(200, answer);
                       });
}

void management_api::revoke_consent(std::shared_ptr<call> c) {
  consent_revoke rv{c->param("vin"), c->param("subject"), c->param("purpose"), c->who};
  ask<consent_result>(system_, broker_->consent_shards.for_key(rv.vin), rv, timeout_,
                      [c](std::optional<consent_result> r) {
                        if (!r) return c->fail(504, "the consent shard did not answer in time");
                        if (!r->ok)
                          return c->fail(r->error == "consent not found" ? 404 : 503, r->error);
                        c->no_content();
                      });
}

}  // namespace convoy::runtime
