// The management API's remote command routes: submit, list, read (with a
// long poll) and cancel. The command shards and workflows do the work
// (actors/vehicle/command_shard.hpp); these handlers check the request and
// translate.

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/vehicle/command.hpp"
#include "actors/vehicle/command_json.hpp"
#include "actors/vehicle/registry_shard.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"
#include "runtime/http/management_api.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

namespace {

constexpr std::size_t max_params_bytes = 16 * 1024;
constexpr std::size_t max_key_bytes = 128;
constexpr std::uint32_t max_wait_seconds = 120;

// Command names appear in topics: letters, digits, '-' and '_'.
bool valid_command_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

// A whole number of seconds from the body, within [low, high]; false after a 400.
bool seconds_field(management_api::call& c, const json& body, const char* key, std::uint32_t low,
                   std::uint32_t high, std::uint32_t& out) {
  auto it = body.find(key);
  if (it == body.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < low ||
      it->get<std::uint64_t>() > high) {
    c.fail(400, std::string{"\""} + key + "\" must be whole seconds from " + std::to_string(low) +
                    " to " + std::to_string(high));
    return false;
  }
  out = static_cast<std::uint32_t>(it->get<std::uint64_t>());
  return true;
}

// Follows one command for a server-sent event stream: every event of its
// timeline from `sent` on, then long polls of its shard for the next ones,
// until the terminal event or until the client goes. It holds no pointer
// into the API, which may be gone before the last poll answers.
struct event_follower : std::enable_shared_from_this<event_follower> {
  static constexpr std::uint32_t poll_ms = 15'000;  // a keep-alive comment at least this often
  caf::actor_system& system;
  caf::actor shard;
  command_get get;
  std::shared_ptr<http_event_stream> stream;
  std::chrono::milliseconds timeout;
  std::uint32_t sent = 0;

  event_follower(caf::actor_system& sys, caf::actor s, command_get g,
                 std::shared_ptr<http_event_stream> out, std::chrono::milliseconds t,
                 std::uint32_t from)
      : system(sys),
        shard(std::move(s)),
        get(std::move(g)),
        stream(std::move(out)),
        timeout(t),
        sent(from) {}

  // "id: 3", "event: accepted", data: the event with the command's id, VIN
  // and whether it is the last.
  void deliver(const command_record& r) {
    for (auto i = sent; i < r.timeline.size(); ++i) {
      const auto& e = r.timeline[i];
      json data = {
          {"id", r.id},         {"vin", r.vin},
          {"command", r.name},  {"index", i},
          {"at", e.at},         {"status", to_string(e.status)},
          {"detail", e.detail}, {"terminal", i + 1 == r.timeline.size() && is_terminal(r.status)}};
      if (data["terminal"].get<bool>()) data["result"] = json_value_of(r.result);
      if (!stream->send("id: " + std::to_string(i) + "\nevent: " +
                        std::string{to_string(e.status)} + "\ndata: " + data.dump() + "\n\n"))
        return;
    }
    sent = std::max<std::uint32_t>(sent, static_cast<std::uint32_t>(r.timeline.size()));
    if (is_terminal(r.status)) return stream->close();
    poll();
  }

  void poll() {
    get.wait_ms = poll_ms;
    get.seen = sent;
    ask<command_reply>(system, shard, get, timeout + std::chrono::milliseconds(poll_ms),
                       [self = shared_from_this()](std::optional<command_reply> r) {
                         if (!r || !r->ok) {
                           json why = {{"message", r ? r->error : "the node stopped answering"}};
                           self->stream->send("event: error\ndata: " + why.dump() + "\n\n");
                           return self->stream->close();
                         }
                         if (r->record.timeline.size() <= self->sent &&
                             !is_terminal(r->record.status) &&
                             !self->stream->send(": keep-alive\n\n"))
                           return;  // the client has gone
                         self->deliver(r->record);
                       });
  }
};

void answer(const std::shared_ptr<management_api::call>& c, std::optional<command_reply>& r,
            unsigned success) {
  if (!r) return c->fail(504, "the command shard did not answer in time");
  if (!r->ok) return c->fail(r->status, r->error);
  c->reply(success, to_json(r->record, true));
}

}  // namespace

bool management_api::commands_enabled(call& c) const {
  if (!broker_->command_shards.empty()) return true;
  c.fail(503, "this node runs no command workflows (commands.enabled = false)");
  return false;
}

void management_api::submit_command(std::shared_ptr<call> c) {
  if (!commands_enabled(*c)) return;
  std::string vin = c->param("vin");
  if (!valid_vin(vin))
    return c->fail(400, "the VIN must be 1 to 64 letters, digits, '-', '_' or '.'");
  auto body = c->body_object();
  if (!body) return;
  command_record r;
  r.vin = vin;
  auto name = body->find("command");
  if (name == body->end() || !name->is_string())
    return c->fail(400, "\"command\" is required (a string such as \"lock-doors\")");
  r.name = name->get<std::string>();
  if (!valid_command_name(r.name))
    return c->fail(400, "\"command\" must be 1 to 64 letters, digits, '-' or '_'");
  if (auto p = body->find("params"); p != body->end()) {
    if (!p->is_object()) return c->fail(400, "\"params\" must be a JSON object");
    r.params = p->dump(-1, ' ', false, json::error_handler_t::replace);
    if (r.params.size() > max_params_bytes) return c->fail(413, "\"params\" is larger than 16 KiB");
  }
  r.timeout_ms = commands_.default_timeout_seconds;
  std::uint32_t ttl = 0;
  if (!seconds_field(*c, *body, "timeoutSeconds", 1, commands_.max_timeout_seconds, r.timeout_ms) ||
      !seconds_field(*c, *body, "ttlSeconds", 0, commands_.max_ttl_seconds, ttl))
    return;
  r.timeout_ms *= 1000;
  r.ttl_ms = ttl * 1000;
  r.requested_by = c->who;
  if (auto s = body->find("subject"); s != body->end()) {
    if (!s->is_string() || s->get<std::string>().empty() || !printable(s->get<std::string>()))
      return c->fail(400, "\"subject\" must be a non-empty string without control characters");
    r.requested_by = s->get<std::string>();
  }
  auto header = c->request["Idempotency-Key"];
  r.idempotency_key = std::string{header.data(), header.size()};
  if (auto k = body->find("idempotencyKey"); k != body->end()) {
    if (!k->is_string()) return c->fail(400, "\"idempotencyKey\" must be a string");
    if (!r.idempotency_key.empty() && r.idempotency_key != k->get<std::string>())
      return c->fail(400, "the Idempotency-Key header and \"idempotencyKey\" differ");
    r.idempotency_key = k->get<std::string>();
  }
  if (r.idempotency_key.size() > max_key_bytes || !printable(r.idempotency_key))
    return c->fail(400, "the idempotency key must be at most 128 printable characters");
  ask<command_reply>(system_, broker_->command_shards.for_key(vin), command_submit{std::move(r)},
                     timeout_, [c](std::optional<command_reply> reply) {
                       // A repeated request gets the command it made, as it is now.
                       answer(c, reply, reply && !reply->created ? 200 : 202);
                     });
}

void management_api::list_commands(std::shared_ptr<call> c) {
  if (!commands_enabled(*c)) return;
  auto limit = c->limit();
  if (!limit) return;
  command_list_request req{c->param("vin"), c->query_value("before"), *limit};
  ask<command_list>(system_, broker_->command_shards.for_key(req.vin), req, timeout_,
                    [c](std::optional<command_list> l) {
                      if (!l) return c->fail(504, "the command shard did not answer in time");
                      json data = json::array();
                      for (const auto& r : l->records)
                        data.push_back(to_json(r, false));
                      json next = nullptr;
                      if (l->more && !l->records.empty()) next = l->records.back().id;
                      c->reply(200, {{"data", std::move(data)}, {"next", next}});
                    });
}

// ?wait=SECONDS holds the answer until the command has more than ?seen=N
// events (default: the ones it has now) or ends: a long poll.
void management_api::get_command(std::shared_ptr<call> c) {
  if (!commands_enabled(*c)) return;
  command_get g{c->param("vin"), c->param("commandId"), 0, 0};
  auto number = [&](const char* key, std::uint32_t high, std::uint32_t& out) {
    auto text = c->query_value(key);
    if (text.empty()) return true;
    try {
      std::size_t used = 0;
      unsigned long v = std::stoul(text, &used);
      if (used == text.size() && v <= high) {
        out = static_cast<std::uint32_t>(v);
        return true;
      }
    } catch (const std::exception&) {
    }
    c->fail(400, std::string{key} + " must be a whole number from 0 to " + std::to_string(high));
    return false;
  };
  std::uint32_t wait = 0;
  g.seen = command_get::unseen_all;  // without ?seen: wait for anything new
  if (!number("wait", max_wait_seconds, wait) || !number("seen", 0xFFFFFFFEu, g.seen)) return;
  g.wait_ms = wait * 1000;
  ask<command_reply>(system_, broker_->command_shards.for_key(g.vin), g,
                     timeout_ + std::chrono::milliseconds(g.wait_ms),
                     [c](std::optional<command_reply> r) { answer(c, r, 200); });
}

// text/event-stream of the command's timeline, from the first event or
// after the one a reconnecting EventSource names in Last-Event-ID.
void management_api::command_events(std::shared_ptr<call> c) {
  if (!commands_enabled(*c)) return;
  command_get g{c->param("vin"), c->param("commandId"), 0, command_get::unseen_all};
  std::uint32_t from = 0;
  if (auto last = c->request["Last-Event-ID"]; !last.empty()) {
    std::string text{last.data(), last.size()};
    try {
      std::size_t used = 0;
      unsigned long v = std::stoul(text, &used);
      if (used != text.size() || v >= 0xFFFFFFFFul) throw std::out_of_range("id");
      from = static_cast<std::uint32_t>(v + 1);
    } catch (const std::exception&) {
      return c->fail(400, "Last-Event-ID must be the id of an event of this stream");
    }
  }
  const caf::actor shard = broker_->command_shards.for_key(g.vin);
  ask<command_reply>(
      system_, shard, g, timeout_,
      [c, g, from, shard, &system = system_, timeout = timeout_](std::optional<command_reply> r) {
        if (!r) return c->fail(504, "the command shard did not answer in time");
        if (!r->ok) return c->fail(r->status, r->error);
        http_response header{boost::beast::http::status::ok, c->request.version()};
        header.set(boost::beast::http::field::content_type, "text/event-stream");
        auto stream = c->respond.stream(std::move(header));
        if (!stream) return;
        std::make_shared<event_follower>(system, shard, g, std::move(stream), timeout, from)
            ->deliver(r->record);
      });
}

void management_api::cancel_command(std::shared_ptr<call> c) {
  if (!commands_enabled(*c)) return;
  command_cancel cancel{c->param("vin"), c->param("commandId"), c->who};
  ask<command_reply>(system_, broker_->command_shards.for_key(cancel.vin), cancel, timeout_,
                     [c](std::optional<command_reply> r) { answer(c, r, 200); });
}

}  // namespace convoy::runtime
