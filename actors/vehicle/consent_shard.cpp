#include "actors/vehicle/consent_shard.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/storage_gate.hpp"
#include "actors/rules/telemetry_rules.hpp"

namespace convoy {

namespace {

using namespace std::chrono_literals;

constexpr auto sweep_interval = 60s;
constexpr std::int64_t idle_ms = 10 * 60'000;

struct sweep_atom_tag {};

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

consent_result failure(std::string why) {
  return {false, std::move(why), {}};
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 256 && s.find('\0') == std::string_view::npos;
}

// The vehicle's consents, read from storage on first use; expired ones are
// dropped here (and from storage).
std::vector<consent_record>& consents_of(consent_shard_state& st, const std::string& vin) {
  auto now_steady = steady_ms();
  auto it = st.cache.find(vin);
  if (it == st.cache.end()) {
    if (st.cache.size() >= st.max_cached) st.cache.erase(st.cache.begin());
    consent_shard_state::vehicle_consents loaded;
    if (st.store) loaded.records = st.store->load_consents(vin);
    it = st.cache.emplace(vin, std::move(loaded)).first;
  }
  it->second.used_ms = now_steady;
  auto& records = it->second.records;
  epoch_ms now = now_ms();
  std::erase_if(records, [&](const consent_record& r) {
    if (r.active(now)) return false;
    if (st.store) st.store->erase_consent(r.vin, r.subject, r.purpose, [](bool) {});
    return true;
  });
  return records;
}

// Answers once the write is durable, like the registry: a caller told
// "granted" or "revoked" finds it so after a crash.
template <class Write>
caf::result<consent_result> persist(consent_shard_actor* self, consent_result r, Write write) {
  auto& st = self->state;
  if (!st.store) return r;
  auto ticket = next_write_ticket();
  if (!write(gate_completion(st.gate, ticket))) return failure("storage busy, try again");
  auto promise = self->make_response_promise<consent_result>();
  self->request(st.gate, caf::infinite, await_atom::value, ticket)
      .then(
          [promise, r](bool stored) mutable {
            promise.deliver(stored ? r : failure("the change could not be stored"));
          },
          [promise](caf::error&) mutable {
            promise.deliver(failure("the change could not be stored"));
          });
  return promise;
}

consent_verdict check(consent_shard_state& st, const consent_check& c) {
  consent_verdict v;
  const auto& records = consents_of(st, c.vin);
  for (const auto& r : records) {
    if (r.subject != c.subject) continue;
    const consent_purpose* p = st.catalog->find(r.purpose);
    if (!p) continue;  // a purpose the catalog no longer has
    bool covered = c.command.empty() ? consent_catalog::covers_topic(*p, c.vin, c.topic)
                                     : consent_catalog::covers_command(*p, c.command);
    if (covered) {
      v.allowed = true;
      v.purpose = r.purpose;
      return v;
    }
  }
  v.reason = "no consent of " + c.vin + " lets " + c.subject + " " +
             (c.command.empty() ? "have " + c.topic : "run " + c.command);
  return v;
}

}  // namespace

caf::behavior consent_shard(consent_shard_actor* self, store_ptr store, caf::actor gate,
                            catalog_ptr catalog) {
  self->state.store = std::move(store);
  self->state.gate = std::move(gate);
  self->state.catalog = std::move(catalog);
  self->delayed_send(self, sweep_interval, caf::atom("sweep"));
  return {
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](caf::atom_value a) {
        if (a != caf::atom("sweep")) return;
        auto now = steady_ms();
        std::erase_if(self->state.cache,
                      [&](const auto& entry) { return now - entry.second.used_ms > idle_ms; });
        self->delayed_send(self, sweep_interval, caf::atom("sweep"));
      },
      [self](consent_grant& g) -> caf::result<consent_result> {
        auto& st = self->state;
        auto& r = g.record;
        if (!valid_name(r.vin)) return failure("\"vin\" is missing or too long");
        if (!valid_name(r.subject)) return failure("\"subject\" is missing or too long");
        if (!st.catalog->find(r.purpose)) return failure("unknown purpose \"" + r.purpose + "\"");
        epoch_ms now = now_ms();
        if (r.expires_at != 0 && r.expires_at <= now)
          return failure("the consent would expire before it is given");
        r.granted_at = now;
        auto& records = consents_of(st, r.vin);
        std::erase_if(records, [&](const consent_record& old) {
          return old.subject == r.subject && old.purpose == r.purpose;
        });
        records.push_back(r);
        spdlog::info("consent: {} may have {} for {} (by {})", r.subject, r.vin, r.purpose,
                     r.granted_by);
        return persist(self, consent_result{true, {}, r}, [&](durable_store::completion done) {
          return st.store->save_consent(r, std::move(done));
        });
      },
      [self](const consent_revoke& rv) -> caf::result<consent_result> {
        auto& st = self->state;
        auto& records = consents_of(st, rv.vin);
        auto it = std::find_if(records.begin(), records.end(), [&](const consent_record& r) {
          return r.subject == rv.subject && r.purpose == rv.purpose;
        });
        if (it == records.end()) return failure("consent not found");
        consent_record gone = *it;
        records.erase(it);
        metrics::add(counter::consents_revoked);
        spdlog::info("consent: {} no longer may have {} for {} (by {})", rv.subject, rv.vin,
                     rv.purpose, rv.revoked_by);
        return persist(self, consent_result{true, {}, gone}, [&](durable_store::completion done) {
          return st.store->erase_consent(rv.vin, rv.subject, rv.purpose, std::move(done));
        });
      },
      [self](const consent_list_request& r) {
        auto records = consents_of(self->state, r.vin);
        std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
          return std::tie(a.subject, a.purpose) < std::tie(b.subject, b.purpose);
        });
        return consent_list{std::move(records)};
      },
      [self](const consent_check& c) {
        auto v = check(self->state, c);
        if (!v.allowed) metrics::add(counter::refused_no_consent);
        return v;
      },
      [self](gated_delivery& g) {
        const std::string& topic = g.d.msg->topic;
        // vehicles/{vin}/...: the topic shard sends only such topics here.
        std::string vin{vehicle_vin(topic)};
        if (check(self->state, consent_check{vin, g.subject, topic, ""}).allowed) {
          self->send(g.session, std::move(g.d));
          return;
        }
        metrics::add(counter::dropped_no_consent);
        if (g.d.stored_id != 0) self->send(g.session, delivery_withheld{std::move(g.d)});
      },
  };
}

}  // namespace convoy
