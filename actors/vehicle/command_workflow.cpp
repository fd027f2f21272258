#include "actors/vehicle/command_workflow.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/metrics.hpp"
#include "actors/core/storage_gate.hpp"
#include "actors/vehicle/command_json.hpp"
#include "actors/vehicle/consent.hpp"
#include "protocol/topic.hpp"

namespace convoy {

std::string command_topic(const command_record& c) {
  return "vehicles/" + c.vin + "/commands/" + c.name;
}

std::string command_status_topic(const command_record& c) {
  return "vehicles/" + c.vin + "/command-status/" + c.id;
}

std::string command_payload(const command_record& c) {
  nlohmann::json out = {
      {"id", c.id},
      {"command", c.name},
      {"params", c.params.empty() ? nlohmann::json::object() : json_value_of(c.params)},
      {"timeoutSeconds", c.timeout_ms / 1000},
      {"responseTopic", command_status_topic(c)},
  };
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

using timer_atom = caf::atom_constant<caf::atom("timer")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;

void finish_counter(command_status s) {
  switch (s) {
    case command_status::succeeded:
      return metrics::add(counter::commands_succeeded);
    case command_status::failed:
      return metrics::add(counter::commands_failed);
    case command_status::rejected:
      return metrics::add(counter::commands_rejected);
    case command_status::timed_out:
      return metrics::add(counter::commands_timed_out);
    case command_status::expired:
      return metrics::add(counter::commands_expired);
    case command_status::interrupted:
      return metrics::add(counter::commands_interrupted);
    case command_status::cancelled:
      return metrics::add(counter::commands_cancelled);
    default:
      return;
  }
}

// The notification topic with the command's values; empty when a value
// would make it no topic name (a subject holding '+' or '#').
std::string notification_topic(const command_workflow_state& st) {
  std::string out = st.settings.notification_topic;
  const auto& c = st.record;
  for (auto [placeholder, value] :
       {std::pair<std::string_view, const std::string*>{"{vin}", &c.vin},
        {"{id}", &c.id},
        {"{name}", &c.name},
        {"{subject}", &c.requested_by}}) {
    for (auto at = out.find(placeholder); at != std::string::npos;
         at = out.find(placeholder, at + value->size()))
      out.replace(at, placeholder.size(), *value);
  }
  return mqtt::validate_topic_name(out) == mqtt::reason_code::success ? out : std::string{};
}

void announce(command_workflow_actor* self) {
  auto& st = self->state;
  if (st.settings.notification_topic.empty() || st.ctx->topic_shards.empty()) return;
  std::string topic = notification_topic(st);
  if (topic.empty()) return;
  auto m = std::make_shared<app_message>();
  m->topic = std::move(topic);
  m->payload = std::make_shared<const std::string>(
      to_json(st.record, false).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  m->qos = mqtt::qos::at_least_once;
  m->props.add(mqtt::property_id::content_type, std::string{"application/json"});
  m->publisher = "$commands";
  m->published_us = now_us();
  // No answer wanted: an announcement nobody subscribed to is not a failure.
  const caf::actor& shard = st.ctx->shard_for_topic(m->topic);
  caf::anon_send(shard, route_request{message_ref{std::move(m)}});
}

// Stores the record; with `then`, calls it once the write is durable (or
// at once without storage) with whether it was stored.
template <class Then>
void store(command_workflow_actor* self, Then then) {
  auto& st = self->state;
  const auto& store = st.ctx->store;
  if (!store) return then(true);
  auto ticket = next_write_ticket();
  if (!store->save_command(st.record, gate_completion(st.ctx->storage_gate, ticket))) {
    metrics::add(counter::refused_storage_busy);
    spdlog::warn("command {}: storage busy, its event '{}' is not stored", st.record.id,
                 to_string(st.record.status));
    return then(false);
  }
  self->request(st.ctx->storage_gate, caf::infinite, await_atom::value, ticket)
      .then([then](bool stored) mutable { then(stored); },
            [then](caf::error&) mutable { then(false); });
}

void answer_submitter(command_workflow_actor* self) {
  auto& st = self->state;
  if (!st.answer_pending) return;
  st.answer_pending = false;
  command_reply reply;
  reply.ok = true;
  reply.created = true;
  reply.status = 202;
  reply.record = st.record;
  st.submitter.deliver(std::move(reply));
}

void arm_timer(command_workflow_actor* self, epoch_ms at) {
  auto& st = self->state;
  auto delay = std::max<epoch_ms>(at - now_ms(), 0);
  self->delayed_send(self, std::chrono::milliseconds(delay), timer_atom::value,
                     ++st.timer_generation);
}

// Appends an event and makes it known: storage, shard, notification. A
// terminal event ends the workflow once it is stored.
void record_event(command_workflow_actor* self, command_status status, std::string detail) {
  auto& st = self->state;
  auto& c = st.record;
  c.status = status;
  c.timeline.push_back({now_ms(), status, std::move(detail)});
  self->send(st.shard, command_changed{c});
  announce(self);
  const bool terminal = is_terminal(status);
  if (terminal) {
    finish_counter(status);
    ++st.timer_generation;  // no timer of an earlier state fires any more
  }
  store(self, [self, terminal](bool) {
    answer_submitter(self);
    if (terminal) self->quit();
  });
}

void send_to_vehicle(command_workflow_actor* self, std::string_view why);

// Asks whether the requester has the vehicle's consent for the command:
// without it the command ends rejected; with it (or without
// commands.require_consent) `allowed` runs. An answer that finds the
// command moved on meanwhile (cancelled) is ignored; no answer at all
// runs `unanswered`.
template <class Allowed, class Unanswered>
void with_consent(command_workflow_actor* self, Allowed allowed, Unanswered unanswered) {
  auto& st = self->state;
  if (!st.settings.require_consent) return allowed();
  consent_check check{st.record.vin, st.record.requested_by, "", st.record.name};
  const auto asked_in = st.record.status;
  self->request(st.ctx->consent_shards.for_key(st.record.vin), st.settings.check_timeout,
                std::move(check))
      .then(
          [self, asked_in, allowed](consent_verdict& v) mutable {
            if (self->state.record.status != asked_in) return;
            if (!v.allowed) {
              metrics::add(counter::refused_no_consent);
              return record_event(self, command_status::rejected, "no consent: " + v.reason);
            }
            allowed();
          },
          [unanswered](caf::error& e) mutable { unanswered(e); });
}

// The vehicle is online and the command may go: consent is checked again
// (it may have been revoked while the command waited), then it is sent.
void deliver_when_allowed(command_workflow_actor* self) {
  with_consent(
      self,
      [self] {
        if (self->state.online) send_to_vehicle(self, "");
      },
      [self](caf::error& e) {
        // Still queued: the next connection of the vehicle tries again.
        spdlog::warn("command {}: consent check failed: {}", self->state.record.id, to_string(e));
      });
}

void wait_for_vehicle(command_workflow_actor* self, std::string detail) {
  auto& st = self->state;
  auto& c = st.record;
  if (c.ttl_ms == 0)
    return record_event(self, command_status::expired,
                        detail.empty() ? "the vehicle is offline and the command has no "
                                         "store-and-forward TTL"
                                       : std::move(detail));
  if (now_ms() >= c.deliver_by())
    return record_event(self, command_status::expired,
                        "the vehicle stayed offline past the store-and-forward TTL");
  if (c.status != command_status::queued)
    record_event(self, command_status::queued,
                 detail.empty() ? "the vehicle is offline: held until it connects" : detail);
  arm_timer(self, c.deliver_by());
}

void send_to_vehicle(command_workflow_actor* self, std::string_view why) {
  auto& st = self->state;
  auto& c = st.record;
  if (st.route_pending) return;
  const bool resend = c.sent_at != 0;
  if (!resend) c.sent_at = now_ms();
  auto m = std::make_shared<app_message>();
  m->topic = command_topic(c);
  m->payload = std::make_shared<const std::string>(command_payload(c));
  m->qos = mqtt::qos::at_least_once;
  // A queued copy must not reach the vehicle after the command has ended.
  m->expires_at = std::max(c.deadline(), now_ms() + 1000);
  m->props.add(mqtt::property_id::content_type, std::string{"application/json"});
  m->props.add(mqtt::property_id::response_topic, command_status_topic(c));
  m->props.add(mqtt::property_id::correlation_data, c.id);
  m->publisher = "$commands";
  m->published_us = now_us();
  st.route_pending = true;
  auto topic = m->topic;
  self->request(st.ctx->shard_for_topic(topic), std::chrono::seconds(10),
                route_request{message_ref{std::move(m)}})
      .then(
          [self, resend, why = std::string{why}](route_outcome& o) {
            auto& st = self->state;
            st.route_pending = false;
            if (is_terminal(st.record.status)) return;
            if (o.receivers == 0) {
              // Connected but not (yet) subscribed to its commands: held like
              // an offline vehicle. A vehicle that just connected subscribes
              // in a moment, so it is tried again soon, backing off.
              if (!resend) st.record.sent_at = 0;
              wait_for_vehicle(self, "no subscriber on " + command_topic(st.record) +
                                         ": the vehicle does not listen for commands (yet)");
              if (st.record.status == command_status::queued && st.online) {
                auto delay = std::chrono::milliseconds(200 << std::min(st.retries, 5));
                ++st.retries;
                self->delayed_send(self, delay, retry_atom::value);
              }
              return;
            }
            st.retries = 0;
            // A command sent again stays where the vehicle's reports took it.
            auto status = st.record.status == command_status::received ||
                                  st.record.status == command_status::queued
                              ? command_status::sent
                              : st.record.status;
            record_event(self, status,
                         resend ? (why.empty() ? "sent again after the vehicle reconnected" : why)
                                : "published to " + command_topic(st.record));
            arm_timer(self, st.record.deadline());
          },
          [self, resend](caf::error& e) {
            auto& st = self->state;
            st.route_pending = false;
            if (!resend) st.record.sent_at = 0;
            if (is_terminal(st.record.status)) return;
            wait_for_vehicle(self, "the command could not be routed: " + to_string(e));
          });
}

void go_ahead(command_workflow_actor* self) {
  if (self->state.online) return send_to_vehicle(self, "");
  wait_for_vehicle(self, "");
}

void check_consent(command_workflow_actor* self) {
  with_consent(
      self, [self] { go_ahead(self); },
      [self](caf::error& e) {
        record_event(self, command_status::rejected,
                     "the consent check did not answer: " + to_string(e));
      });
}

// The vehicle must be registered and active.
void check_vehicle(command_workflow_actor* self) {
  auto& st = self->state;
  registry_command get;
  get.what = registry_command::op::get_vehicle;
  get.vin = st.record.vin;
  self->request(st.ctx->registry_shards.for_key(st.record.vin), st.settings.check_timeout,
                std::move(get))
      .then(
          [self](registry_result& r) {
            if (is_terminal(self->state.record.status)) return;
            if (!r.ok)
              return record_event(self, command_status::rejected,
                                  "the vehicle is not registered (" + r.error + ")");
            if (r.vehicle.status != vehicle_status::active)
              return record_event(self, command_status::rejected, "the vehicle is suspended");
            check_consent(self);
          },
          [self](caf::error& e) {
            record_event(self, command_status::rejected,
                         "the device registry did not answer: " + to_string(e));
          });
}

// A report from the vehicle on the status topic.
void take_report(command_workflow_actor* self, command_report& r) {
  auto& st = self->state;
  auto& c = st.record;
  const bool on_vehicle = c.status == command_status::sent ||
                          c.status == command_status::accepted ||
                          c.status == command_status::in_progress;
  if (!r.problem.empty() || !on_vehicle) {
    metrics::add(counter::dropped_command_report);
    // Kept in the timeline, the state unchanged: an operator sees what the
    // vehicle said.
    return record_event(
        self, c.status,
        "ignored a report: " +
            (r.problem.empty() ? std::string{"the command is "} + std::string{to_string(c.status)}
                               : r.problem));
  }
  if (!r.detail.empty()) c.result = r.detail;
  // A progress report after a later one (reordered, or repeated) only
  // joins the timeline.
  if (!is_terminal(r.status) && static_cast<int>(r.status) < static_cast<int>(c.status))
    return record_event(self, c.status, "late report: " + std::string{to_string(r.status)});
  record_event(self, r.status, r.detail);
}

void on_presence(command_workflow_actor* self, bool online) {
  auto& st = self->state;
  st.online = online;
  switch (st.record.status) {
    case command_status::queued:
      if (online) deliver_when_allowed(self);
      return;
    case command_status::sent:
      // Sent and never acknowledged, the vehicle back after a node restart
      // (a drop while the node ran interrupts): it may never have had it.
      if (online) return send_to_vehicle(self, "sent again after the vehicle reconnected");
      [[fallthrough]];
    case command_status::accepted:
    case command_status::in_progress:
      if (!online)
        record_event(self, command_status::interrupted,
                     "the vehicle's connection closed before its final report");
      return;
    default:
      return;
  }
}

void on_timer(command_workflow_actor* self) {
  auto& c = self->state.record;
  switch (c.status) {
    case command_status::queued:
      if (now_ms() >= c.deliver_by())
        record_event(self, command_status::expired,
                     "the vehicle stayed offline past the store-and-forward TTL");
      else
        arm_timer(self, c.deliver_by());
      return;
    case command_status::sent:
    case command_status::accepted:
    case command_status::in_progress:
      if (now_ms() >= c.deadline())
        record_event(self, command_status::timed_out,
                     "no final report within " + std::to_string(c.timeout_ms / 1000) + " s");
      else
        arm_timer(self, c.deadline());
      return;
    default:
      return;
  }
}

// A command restored from storage carries on from its state.
void resume(command_workflow_actor* self) {
  auto& c = self->state.record;
  switch (c.status) {
    case command_status::received:
      return check_vehicle(self);
    case command_status::queued:
      return on_timer(self);
    case command_status::sent:
    case command_status::accepted:
    case command_status::in_progress:
      return on_timer(self);
    default:
      return self->quit();
  }
}

}  // namespace

caf::behavior command_workflow(command_workflow_actor* self, command_record record, context_ptr ctx,
                               caf::actor shard, command_settings settings, bool online,
                               bool fresh) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.shard = std::move(shard);
  st.settings = std::move(settings);
  st.record = std::move(record);
  st.online = online;
  if (!fresh) resume(self);
  return {
      [self](command_submit&) -> caf::response_promise {
        auto& st = self->state;
        st.submitter = self->make_response_promise();
        st.answer_pending = true;
        // The receipt is stored first, so a crash during the checks leaves
        // a command that resumes with them.
        store(self, [self](bool stored) {
          if (!stored) {
            command_reply reply;
            reply.status = 503;
            reply.error = "storage is busy: the command was not accepted";
            self->state.answer_pending = false;
            self->state.submitter.deliver(std::move(reply));
            self->send(self->state.shard, command_changed{self->state.record});
            return self->quit();
          }
          check_vehicle(self);
        });
        return st.submitter;
      },
      [self](presence_changed& p) { on_presence(self, p.online); },
      [self](command_report& r) { take_report(self, r); },
      [self](command_cancel& c) -> command_reply {
        auto& st = self->state;
        command_reply reply;
        if (is_terminal(st.record.status)) {
          reply.status = 409;
          reply.error =
              "the command has already ended (" + std::string{to_string(st.record.status)} + ")";
          reply.record = st.record;
          return reply;
        }
        const bool on_vehicle = st.record.sent_at != 0;
        record_event(self, command_status::cancelled,
                     "cancelled by " + (c.by.empty() ? std::string{"the API"} : c.by));
        if (on_vehicle) {
          // The vehicle learns it on its commands topic, below the command.
          auto m = std::make_shared<app_message>();
          m->topic = command_topic(st.record) + "/cancel";
          m->payload = std::make_shared<const std::string>(
              nlohmann::json{{"id", st.record.id}, {"command", st.record.name}}.dump());
          m->qos = mqtt::qos::at_least_once;
          m->expires_at = now_ms() + 60'000;
          m->publisher = "$commands";
          m->published_us = now_us();
          const caf::actor& shard = st.ctx->shard_for_topic(m->topic);
          caf::anon_send(shard, route_request{message_ref{std::move(m)}});
        }
        reply.ok = true;
        reply.record = st.record;
        return reply;
      },
      [self](retry_atom) {
        auto& st = self->state;
        if (st.record.status == command_status::queued && st.online) deliver_when_allowed(self);
      },
      [self](timer_atom, std::uint32_t generation) {
        if (generation == self->state.timer_generation) on_timer(self);
      },
  };
}

}  // namespace convoy
