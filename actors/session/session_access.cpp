#include "actors/session/session_internal.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/session/connect_policy.hpp"
#include "actors/vehicle/registry_control.hpp"

namespace convoy::session_detail {

access_view access_of(const session_state& st) {
  access_view v;
  v.policy = st.ctx->access->current();
  if (!v.policy) return v;
  const client_principal* p = st.params.principal ? st.params.principal.ptr.get() : nullptr;
  std::string role = v.policy->role_for(st.params.principal);
  v.role = role.empty() ? nullptr : v.policy->find(role);
  v.who = access_policy::subject_of(p, st.params.client_id);
  return v;
}

// A service's subscriptions get telemetry only with the vehicles' consent:
// its identity is the subject consent is checked for. Empty for everyone
// else (vehicles, operators, clients of no role).
std::string consent_subject_of(const session_state& st) {
  const auto& roles = st.ctx->consent_service_roles;
  if (roles.empty() || !st.params.principal) return {};
  auto policy = st.ctx->access->current();
  if (!policy) return {};
  std::string role = policy->role_for(st.params.principal);
  if (std::find(roles.begin(), roles.end(), role) == roles.end()) return {};
  return st.params.principal->identity;
}

bool may_publish(const session_state& st, std::string_view topic) {
  auto v = access_of(st);
  if (!v.policy) return true;
  return v.role && access_policy::may_publish(*v.role, topic, v.who);
}

bool may_subscribe(const access_view& v, std::string_view filter) {
  if (!v.policy) return true;
  return v.role && access_policy::may_subscribe(*v.role, filter, v.who);
}

// The policy changed: what this client holds is checked again. A client
// whose role is gone, or no longer allows its client id, is disconnected.
void on_access_changed(session_actor* self) {
  auto& st = self->state;
  // An offline session's record keeps the removed filters until it is next
  // written: restore and resume check them again anyway.
  if (drop_unauthorized_subscriptions(self, true) && st.persisted && st.connected()) persist(self);
  if (!st.connected()) return;
  auto access = access_of(st);
  if (!access.policy) return;
  if (!access.role || !access_policy::may_use_client_id(*access.role, access.who)) {
    metrics::add(counter::refused_client_id_not_allowed);
    close_for(self, reason_code::not_authorized,
              "the access rules no longer allow this login this client identifier");
  }
}

// The registry record of this session's vehicle changed: the connected
// device asks whether it may stay (a replaced, suspended or revoked device
// goes at once, with Administrative action), and takes a new region.
void on_vehicle_changed(session_actor* self, const vehicle_changed& changed) {
  auto& st = self->state;
  if (!st.connected() || !st.params.principal) return;
  const auto& who = *st.params.principal;
  registry_check check{changed.vin, who.fingerprint};
  auto generation = st.connection_generation;
  self->request(st.ctx->registry_shards.for_key(changed.vin), peer_answer_timeout, std::move(check))
      .then(
          [self, generation](registry_verdict& verdict) {
            auto& st = self->state;
            if (generation != st.connection_generation || !st.connected()) return;
            if (!verdict.allowed) {
              metrics::add(counter::disconnected_by_registry);
              spdlog::info("client '{}' disconnected: {}", st.params.client_id, verdict.reason);
              return close_for(self, reason_code::administrative_action, verdict.reason.c_str());
            }
            if (verdict.region != st.params.principal->region) {
              client_principal moved = *st.params.principal;
              moved.region = std::move(verdict.region);
              st.params.principal = make_principal(std::move(moved));
              on_access_changed(self);  // {region} rules now mean another region
            }
          },
          [](caf::error&) {});
}

// A token login lasts as long as its token: the connection closes when it
// expires, unless AUTH brought a fresh one first (which arms a new check).
void arm_token_expiry(session_actor* self) {
  auto& st = self->state;
  if (!st.params.principal || st.params.principal->method != auth_method::jwt) return;
  std::int64_t left_ms = st.params.principal->expires_at * 1000 - now_ms();
  self->delayed_send(self, std::chrono::milliseconds(std::max<std::int64_t>(left_ms, 0)),
                     token_expiry{st.connection_generation});
}

void on_token_expiry(session_actor* self, const token_expiry& t) {
  auto& st = self->state;
  if (t.generation != st.connection_generation || !st.connected() || !st.params.principal) return;
  // A renewed token moved the end; a check armed for the old one is stale.
  if (st.params.principal->expires_at * 1000 > now_ms()) return;
  metrics::add(counter::disconnected_token_expired);
  spdlog::info("client '{}' disconnected: its token expired", st.params.client_id);
  close_for(self, reason_code::not_authorized, "token expired");
}

void on_reauthentication(session_actor* self, reauthentication& r) {
  auto& st = self->state;
  if (r.connection != st.connection()) return;
  if (!st.params.enhanced_auth)
    return close_for(self, reason_code::protocol_error,
                     "AUTH without an authentication method agreed at CONNECT");
  if (!r.ok) {
    metrics::add(counter::refused_not_authorized);
    return close_for(self, reason_code::not_authorized, r.why.c_str());
  }
  if (!st.params.principal || r.principal->identity != st.params.principal->identity) {
    metrics::add(counter::refused_not_authorized);
    return close_for(self, reason_code::not_authorized,
                     "re-authentication must prove the same identity");
  }
  client_principal renewed = *st.params.principal;
  renewed.expires_at = r.principal->expires_at;
  st.params.principal = make_principal(std::move(renewed));
  mqtt::auth_packet ok{reason_code::success, {}};
  ok.props.add(property_id::authentication_method, std::string{jwt_authentication_method});
  send_packet(self, ok);
  arm_token_expiry(self);
}

}  // namespace convoy::session_detail
