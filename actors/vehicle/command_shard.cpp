#include "actors/vehicle/command_shard.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/placement/stable_hash.hpp"
#include "actors/rules/telemetry_rules.hpp"

namespace convoy {

namespace {

using namespace std::chrono_literals;
using poll_timeout_atom = caf::atom_constant<caf::atom("polltime")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

constexpr std::size_t recent_kept = 1024;

std::uint64_t presence_key(std::string_view vin) {
  return placement::stable_hash(vin);
}

std::uint32_t owner_of(std::string_view vin, std::uint32_t count) {
  return placement::slice_of(vin, count);
}

// Sorts by creation time: milliseconds, then randomness.
std::string new_id(command_shard_state& st) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "c%012" PRIx64 "%08" PRIx32, static_cast<std::uint64_t>(now_ms()),
                static_cast<std::uint32_t>(st.random()));
  return buf;
}

std::string idempotency_slot(const command_record& c) {
  return c.requested_by + '\0' + c.idempotency_key;
}

void remember_idempotency(command_shard_state& st, const command_record& c) {
  if (c.idempotency_key.empty()) return;
  st.idempotency[idempotency_slot(c)] = {c.vin, c.id, c.name, c.params, c.created_at};
}

void remember_recent(command_shard_state& st, command_record c) {
  if (!st.recent.count(c.id)) st.recent_order.push_back(c.id);
  st.recent[c.id] = std::move(c);
  while (st.recent_order.size() > recent_kept) {
    st.recent.erase(st.recent_order.front());
    st.recent_order.pop_front();
  }
}

// The command as it is now, wherever it is: running, just ended, stored.
std::optional<command_record> find(command_shard_state& st, const std::string& vin,
                                   const std::string& id) {
  if (auto it = st.live.find(id); it != st.live.end())
    return it->second.record.vin == vin ? std::optional{it->second.record} : std::nullopt;
  if (auto it = st.recent.find(id); it != st.recent.end())
    return it->second.vin == vin ? std::optional{it->second} : std::nullopt;
  if (st.ctx->store) return st.ctx->store->load_command(vin, id);
  return std::nullopt;
}

command_reply found(command_record r) {
  command_reply reply;
  reply.ok = true;
  reply.record = std::move(r);
  return reply;
}

command_reply refusal(std::uint16_t status, std::string error) {
  command_reply reply;
  reply.status = status;
  reply.error = std::move(error);
  return reply;
}

caf::actor start_workflow(command_shard_actor* self, command_record record, bool fresh) {
  auto& st = self->state;
  const bool online = st.online.count(presence_key(record.vin)) > 0;
  auto id = record.id;
  auto vin = record.vin;
  auto wf = self->spawn(command_workflow, record, st.ctx, caf::actor_cast<caf::actor>(self),
                        st.settings, online, fresh);
  self->monitor(wf);
  st.running[wf.address()] = wf;
  st.id_of[wf.address()] = id;
  st.live_by_vin[vin].push_back(id);
  st.live[id] = {wf, std::move(record)};
  return wf;
}

void forget_live(command_shard_state& st, const std::string& id) {
  auto it = st.live.find(id);
  if (it == st.live.end()) return;
  st.id_of.erase(it->second.workflow.address());
  if (auto v = st.live_by_vin.find(it->second.record.vin); v != st.live_by_vin.end()) {
    auto& ids = v->second;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (ids.empty()) st.live_by_vin.erase(v);
  }
  st.live.erase(it);
}

void answer_waiters(command_shard_state& st, const command_record& r) {
  for (auto it = st.waiters.begin(); it != st.waiters.end();) {
    if (it->second.id == r.id && (r.timeline.size() > it->second.seen || is_terminal(r.status))) {
      it->second.promise.deliver(found(r));
      it = st.waiters.erase(it);
    } else {
      ++it;
    }
  }
}

// Restores the unfinished commands of this shard's vehicles and forgets
// finished ones past the retention time (also run hourly for the latter).
void sweep(command_shard_actor* self, bool restore) {
  auto& st = self->state;
  if (!st.ctx->store) return;
  const auto now = now_ms();
  auto records = st.ctx->store->load_commands(
      [&](std::string_view vin) { return owner_of(vin, st.count) == st.index; });
  std::size_t restored = 0, forgotten = 0;
  for (auto& r : records) {
    if (is_terminal(r.status)) {
      const epoch_ms ended = r.timeline.empty() ? r.created_at : r.timeline.back().at;
      if (now - ended > st.settings.retention_ms) {
        st.ctx->store->erase_command(r.vin, r.id, [](bool) {});
        if (auto it = st.idempotency.find(idempotency_slot(r));
            it != st.idempotency.end() && it->second.id == r.id)
          st.idempotency.erase(it);
        ++forgotten;
      } else if (restore) {
        remember_idempotency(st, r);
      }
      continue;
    }
    if (!restore) continue;
    remember_idempotency(st, r);
    r.timeline.push_back({now, r.status, "restored after a node restart"});
    start_workflow(self, std::move(r), false);
    ++restored;
  }
  if (restored > 0) spdlog::info("command shard {}: {} commands resumed", st.index, restored);
  if (forgotten > 0)
    spdlog::info("command shard {}: {} finished commands past retention deleted", st.index,
                 forgotten);
}

// A status report on vehicles/{vin}/command-status/{id}: {"status":
// "accepted" | "in_progress" | "succeeded" | "failed", "detail": any}.
void take_report(command_shard_actor* self, const app_message& m) {
  auto& st = self->state;
  std::string vin{vehicle_vin(m.topic)};
  if (vin.empty()) return;
  std::string id{m.topic.substr(m.topic.rfind('/') + 1)};
  auto live = st.live.find(id);
  if (live == st.live.end() || live->second.record.vin != vin) {
    metrics::add(counter::dropped_command_report);
    return;
  }
  command_report report;
  auto body = nlohmann::json::parse(*m.payload, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    report.problem = "the payload is not a JSON object";
  } else if (auto s = body.find("status"); s == body.end() || !s->is_string()) {
    report.problem = "\"status\" is missing or not a string";
  } else if (auto status = vehicle_report_status(s->get<std::string>()); !status) {
    report.problem = "\"status\" must be accepted, in_progress, succeeded or failed, not \"" +
                     s->get<std::string>() + "\"";
  } else {
    report.status = *status;
    if (auto d = body.find("detail"); d != body.end())
      report.detail = d->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  self->send(live->second.workflow, std::move(report));
}

void route_report(command_shard_actor* self, const message_ref& msg) {
  auto& st = self->state;
  auto vin = vehicle_vin(msg->topic);
  if (vin.empty() || st.shards.empty()) return;
  auto owner = owner_of(vin, st.count);
  if (owner == st.index || owner >= st.shards.size())
    take_report(self, *msg);
  else
    self->send(st.shards[owner], command_report_forward{msg});
}

caf::result<command_reply> submit(command_shard_actor* self, command_submit& s) {
  auto& st = self->state;
  auto& r = s.request;
  if (!r.idempotency_key.empty()) {
    if (auto it = st.idempotency.find(idempotency_slot(r)); it != st.idempotency.end()) {
      if (it->second.vin != r.vin || it->second.name != r.name || it->second.params != r.params)
        return refusal(409,
                       "the Idempotency-Key was used for another command (" + it->second.id + ")");
      if (auto earlier = find(st, it->second.vin, it->second.id)) {
        command_reply reply = found(std::move(*earlier));
        reply.created = false;
        return reply;
      }
    }
  }
  const std::uint32_t per_shard = std::max<std::uint32_t>(st.settings.max_active / st.count, 1);
  if (st.live.size() >= per_shard) {
    metrics::add(counter::refused_command_limit);
    return refusal(503, "too many commands in progress on this node (commands.max_active)");
  }
  if (auto v = st.live_by_vin.find(r.vin);
      v != st.live_by_vin.end() && v->second.size() >= st.settings.max_active_per_vehicle) {
    metrics::add(counter::refused_command_limit);
    return refusal(429, "the vehicle has " + std::to_string(v->second.size()) +
                            " commands in progress (commands.max_active_per_vehicle)");
  }
  metrics::add(counter::commands_submitted);
  r.id = new_id(st);
  r.created_at = now_ms();
  r.status = command_status::received;
  r.sent_at = 0;
  r.result.clear();
  r.timeline = {
      {r.created_at, command_status::received,
       "requested by " + (r.requested_by.empty() ? std::string{"the API"} : r.requested_by)}};
  remember_idempotency(st, r);
  auto wf = start_workflow(self, std::move(r), true);
  auto promise = self->make_response_promise();
  promise.delegate(wf, command_submit{});
  return promise;
}

caf::result<command_reply> get(command_shard_actor* self, const command_get& g) {
  auto& st = self->state;
  auto live = st.live.find(g.id);
  if (live != st.live.end() && live->second.record.vin == g.vin && g.wait_ms > 0 &&
      (g.seen == command_get::unseen_all || live->second.record.timeline.size() <= g.seen)) {
    auto seen = g.seen == command_get::unseen_all
                    ? static_cast<std::uint32_t>(live->second.record.timeline.size())
                    : g.seen;
    auto key = st.next_waiter++;
    auto promise = self->make_response_promise();
    st.waiters[key] = {promise, g.id, seen};
    self->delayed_send(self, std::chrono::milliseconds(g.wait_ms), poll_timeout_atom::value, key);
    return promise;
  }
  if (auto r = find(st, g.vin, g.id)) return found(std::move(*r));
  return refusal(404, "no command " + g.id + " for vehicle " + g.vin);
}

command_list list(command_shard_actor* self, const command_list_request& req) {
  auto& st = self->state;
  std::map<std::string, command_record, std::greater<>> merged;  // newest first
  bool more = false;
  if (st.ctx->store)
    for (auto& r : st.ctx->store->list_commands(req.vin, req.before, req.limit, more))
      merged[r.id] = std::move(r);
  // Newer than storage: what ran or ended since its last write.
  auto overlay = [&](const command_record& r) {
    if (r.vin == req.vin && (req.before.empty() || r.id < req.before)) merged[r.id] = r;
  };
  if (auto v = st.live_by_vin.find(req.vin); v != st.live_by_vin.end())
    for (const auto& id : v->second)
      overlay(st.live[id].record);
  for (const auto& [id, r] : st.recent)
    overlay(r);
  command_list out;
  for (auto& [id, r] : merged) {
    if (out.records.size() == req.limit) {
      more = true;
      break;
    }
    out.records.push_back(std::move(r));
  }
  out.more = more;
  return out;
}

}  // namespace

caf::behavior command_shard(command_shard_actor* self, std::uint32_t index, std::uint32_t count,
                            context_ptr ctx, command_settings settings) {
  auto& st = self->state;
  st.index = index;
  st.count = std::max<std::uint32_t>(count, 1);
  st.ctx = std::move(ctx);
  st.settings = std::move(settings);
  sweep(self, true);
  self->delayed_send(self, 1h, sweep_atom::value);
  self->set_down_handler([self](const caf::down_msg& down) {
    auto& st = self->state;
    st.running.erase(down.source);
    auto it = st.id_of.find(down.source);
    if (it == st.id_of.end()) return;
    auto id = it->second;
    if (auto live = st.live.find(id); live != st.live.end()) {
      if (down.reason && !is_terminal(live->second.record.status))
        spdlog::error("command {} stopped: {}; it resumes at the next start", id,
                      to_string(down.reason));
      remember_recent(st, live->second.record);
      answer_waiters(st, live->second.record);
    }
    forget_live(st, id);
  });
  // Workflows are monitored, not linked, so shutdown is passed on by hand.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (const auto& [addr, workflow] : self->state.running)
      self->send_exit(workflow, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](command_shards& s) { self->state.shards = std::move(s.shards); },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](command_submit& s) { return submit(self, s); },
      [self](const command_get& g) { return get(self, g); },
      [self](const command_list_request& r) { return list(self, r); },
      [self](command_cancel& c) -> caf::result<command_reply> {
        auto& st = self->state;
        auto live = st.live.find(c.id);
        if (live != st.live.end() && live->second.record.vin == c.vin) {
          auto promise = self->make_response_promise();
          promise.delegate(live->second.workflow, std::move(c));
          return promise;
        }
        if (auto r = find(st, c.vin, c.id)) {
          command_reply reply = refusal(
              409, "the command has already ended (" + std::string{to_string(r->status)} + ")");
          reply.record = std::move(*r);
          return reply;
        }
        return refusal(404, "no command " + c.id + " for vehicle " + c.vin);
      },
      [self](const command_changed& c) {
        auto& st = self->state;
        auto live = st.live.find(c.record.id);
        if (live == st.live.end()) return;
        live->second.record = c.record;
        answer_waiters(st, c.record);
        if (is_terminal(c.record.status)) {
          // No longer counted against the bounds; the workflow ends once
          // its last write is stored.
          remember_recent(st, c.record);
          forget_live(st, c.record.id);
        }
      },
      [self](const vehicle_presence& p) {
        auto& st = self->state;
        const auto key = presence_key(p.vin);
        auto& n = st.online[key];
        const bool was_online = n > 0;
        if (p.online)
          ++n;
        else if (n > 0)
          --n;
        const bool is_online = n > 0;
        if (!is_online) st.online.erase(key);
        if (was_online == is_online) return;
        if (auto v = st.live_by_vin.find(p.vin); v != st.live_by_vin.end())
          for (const auto& id : v->second)
            self->send(st.live[id].workflow, presence_changed{is_online});
      },
      [self](const delivery& d) { route_report(self, d.msg); },
      [self](const delivery_batch& b) {
        for (const auto& d : b.deliveries)
          route_report(self, d.msg);
      },
      [self](const retained_batch&) {},
      [self](const command_report_forward& f) { take_report(self, *f.msg); },
      [self](poll_timeout_atom, std::uint64_t key) {
        auto& st = self->state;
        auto it = st.waiters.find(key);
        if (it == st.waiters.end()) return;
        auto w = std::move(it->second);
        st.waiters.erase(it);
        if (auto live = st.live.find(w.id); live != st.live.end())
          w.promise.deliver(found(live->second.record));
        else if (auto r = st.recent.find(w.id); r != st.recent.end())
          w.promise.deliver(found(r->second));
        else
          w.promise.deliver(refusal(404, "command " + w.id + " is gone"));
      },
      [self](sweep_atom) {
        sweep(self, false);
        self->delayed_send(self, 1h, sweep_atom::value);
      },
  };
}

}  // namespace convoy
