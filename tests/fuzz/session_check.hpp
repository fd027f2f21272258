#pragma once

// One fuzz input played as a client against the real session actors: a
// CONNECT made from the first byte, then the rest decoded into packets and
// handed to the session the way the MQTT edge does, until the input ends or
// stops decoding (where the edge would disconnect). The broker must not
// crash or trip a sanitizer, must only ever send packets that decode in the
// client's protocol version and fit its Maximum Packet Size, and the session
// must still answer afterwards (no hang). Used by session_fuzz.cpp and by
// tests/unit/fuzz_corpus_test.cpp, which replays the corpus in every build.
//
// First byte: bit 0 MQTT 5 (else 3.1.1), bit 1 clean start, bit 2 session
// expiry 60 s, bit 3 a will on fuzz/will, bit 4 a client Maximum Packet Size
// of 256 bytes (MQTT 5).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/broker_context.hpp"
#include "actors/core/messages.hpp"
#include "actors/core/refusal_log.hpp"
#include "actors/core/session_sink.hpp"
#include "actors/routing/session_registry.hpp"
#include "actors/routing/topic_shard.hpp"
#include "actors/session/connect_policy.hpp"
#include "actors/vehicle/registry_control.hpp"
#include "actors/vehicle/registry_shard.hpp"
#include "protocol/decoder.hpp"

namespace convoy::fuzz {

// Checks every frame the session writes; remembers the first problem.
class checking_sink final : public session_sink {
 public:
  checking_sink(mqtt::protocol_version version, std::uint32_t max_packet_size)
      : version_(version), max_packet_size_(max_packet_size) {}

  write_result write(std::vector<outbound_frame> frames) override {
    std::lock_guard lock{mutex_};
    if (closed_) return {0, true};
    for (const auto& f : frames) {
      ++frames_;
      mqtt::byte_buffer bytes = f.shared_head ? *f.shared_head : f.head;
      if (f.body) bytes.insert(bytes.end(), f.body->begin(), f.body->end());
      if (bytes.size() > max_packet_size_ && problem_.empty())
        problem_ = "sent a packet of " + std::to_string(bytes.size()) +
                   " bytes above the client's Maximum Packet Size";
      auto r = mqtt::decode(bytes, {version_, mqtt::max_packet_size_limit});
      if ((!r.complete() || r.consumed != bytes.size()) && problem_.empty())
        problem_ = "sent a packet that does not decode: " + r.detail;
    }
    return {};
  }
  void bind(caf::actor session, std::uint16_t) override {
    std::lock_guard lock{mutex_};
    session_ = std::move(session);
    cv_.notify_all();
  }
  void consumed(std::uint32_t) override {}
  void close() override {
    std::lock_guard lock{mutex_};
    closed_ = true;
    cv_.notify_all();
  }
  void refuse(mqtt::reason_code, std::string, std::string = {}) override { close(); }

  // The session once it took the connection; null when it refused it.
  caf::actor wait_bound() {
    std::unique_lock lock{mutex_};
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return session_ || closed_; });
    return session_;
  }
  bool closed() {
    std::lock_guard lock{mutex_};
    return closed_;
  }
  std::string problem() {
    std::lock_guard lock{mutex_};
    return problem_;
  }
  std::size_t frames() {
    std::lock_guard lock{mutex_};
    return frames_;
  }

 private:
  mqtt::protocol_version version_;
  std::uint32_t max_packet_size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  caf::actor session_;
  bool closed_ = false;
  std::string problem_;
  std::size_t frames_ = 0;
};

class session_harness {
 public:
  session_harness() : system_(config_) {
    auto ctx = std::make_shared<broker_context>();
    ctx->settings.max_packet_size = 64 * 1024;
    ctx->settings.max_queued_messages = 16;
    ctx->settings.topic_alias_maximum = 4;
    ctx->settings.max_topic_levels = 8;
    ctx->settings.max_subscriptions_per_client = 16;
    ctx->topic_placement = placement::topic_placement{2, 1};
    for (std::uint32_t i = 0; i < 2; ++i)
      ctx->topic_shards.add(system_.spawn(topic_shard, i, store_ptr{}));
    ctx->registry_shards.add(system_.spawn(registry_shard, store_ptr{}, caf::actor{}));
    ctx->refusal_log = system_.spawn(refusal_log, std::size_t{8}, std::size_t{64});
    context_ptr shared = ctx;
    ctx->registry_control = system_.spawn(registry_control, shared);
    ctx_ = shared;
    registry_ = system_.spawn(session_registry, shared);
  }

  ~session_harness() {
    caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
    for (const auto& a : ctx_->topic_shards)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (const auto& a : ctx_->registry_shards)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx_->registry_control, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx_->refusal_log, caf::exit_reason::user_shutdown);
  }

  // Empty when every check held; otherwise what broke.
  std::string run(std::span<const std::uint8_t> input) {
    if (input.empty()) return {};
    const std::uint8_t flags = input[0];
    input = input.subspan(1);
    mqtt::connect_packet c;
    c.version = flags & 1 ? mqtt::protocol_version::v5 : mqtt::protocol_version::v311;
    // A few client ids, so inputs meet sessions earlier inputs left behind.
    c.client_id = "fuzz-" + std::to_string(flags >> 5);
    c.clean_start = flags & 2;
    bool v5 = c.version == mqtt::protocol_version::v5;
    if (v5 && (flags & 4)) c.props.add(mqtt::property_id::session_expiry_interval, 60u);
    if (!v5 && !c.clean_start && !(flags & 4)) c.clean_start = true;
    if (flags & 8)
      c.will = mqtt::will_message{"fuzz/will", "gone", mqtt::qos::at_least_once, false, {}};
    std::uint32_t max_packet = mqtt::max_packet_size_limit;
    if (v5 && (flags & 16)) {
      max_packet = 256;
      c.props.add(mqtt::property_id::maximum_packet_size, max_packet);
    }
    auto accepted = accept_connect(c, ctx_->settings, make_assigned_client_id());
    auto* params = std::get_if<connection_params>(&accepted);
    if (!params) return {};
    auto sink = std::make_shared<checking_sink>(c.version, max_packet);
    caf::anon_send(registry_, connect_request{*params, sink});
    caf::actor session = sink->wait_bound();
    if (!session) return sink->closed() ? std::string{} : "no CONNACK within 5 s";

    mqtt::decode_options options{c.version, ctx_->settings.max_packet_size};
    std::size_t offset = 0;
    bool disconnected = false;
    while (offset < input.size() && !disconnected) {
      auto r = mqtt::decode(input.subspan(offset), options);
      if (!r.complete()) break;  // the edge would close the connection here
      offset += r.consumed;
      std::visit(
          [&](auto& p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, mqtt::publish_packet> ||
                          std::is_same_v<T, mqtt::pub_ack_packet> ||
                          std::is_same_v<T, mqtt::subscribe_packet> ||
                          std::is_same_v<T, mqtt::unsubscribe_packet> ||
                          std::is_same_v<T, mqtt::auth_packet>) {
              caf::anon_send(session, sink->id(), std::move(p));
            } else if constexpr (std::is_same_v<T, mqtt::disconnect_packet>) {
              caf::anon_send(session, sink->id(), std::move(p));
              disconnected = true;
            }
          },
          r.value);
    }
    // The session still answers, and everything it started is done: a
    // cycle asks every topic shard to route a message nobody subscribes to
    // (answered after what the shards had before, including the session's
    // routes and subscriptions), then asks the session twice for a no-op
    // (an attach without a connection) so it has handled the shards'
    // answers and flushed its outbox. Cycles go on until two in a row
    // brought no new packet.
    caf::scoped_actor self{system_};
    bool stuck = false;
    // An error answer (the actor ended) counts as an answer; silence not.
    auto ask = [&](const caf::actor& who, auto message) {
      bool answered = false;
      auto on_error = [&](caf::error& e) { answered = e != caf::sec::request_timeout; };
      if constexpr (std::is_same_v<decltype(message), route_request>)
        self->request(who, std::chrono::seconds(5), std::move(message))
            .receive([&](route_outcome&) { answered = true; }, on_error);
      else
        self->request(who, std::chrono::seconds(5), std::move(message))
            .receive([&](bool) { answered = true; }, on_error);
      stuck = stuck || !answered;
    };
    std::size_t quiet = 0;
    std::size_t seen = sink->frames();
    for (int cycle = 0; cycle < 50 && quiet < 2 && !stuck; ++cycle) {
      for (const auto& shard : ctx_->topic_shards) {
        auto probe = std::make_shared<app_message>();
        probe->topic = "$fuzz/barrier";
        ask(shard, route_request{message_ref{std::move(probe)}});
      }
      ask(session, attach_connection{*params, nullptr});
      ask(session, attach_connection{*params, nullptr});
      std::size_t now = sink->frames();
      quiet = now == seen ? quiet + 1 : 0;
      seen = now;
    }
    if (stuck) return "an actor did not answer within 5 s";
    // The client goes (its will fires), then its session is discarded.
    if (!disconnected)
      caf::anon_send(session,
                     connection_closed{sink->id(), false, mqtt::reason_code::unspecified_error});
    ask(session, discard_session{});
    if (stuck) return "the session did not answer a discard within 5 s";
    last_frames_ = sink->frames();
    return sink->problem();
  }

  // Packets the session sent during the last run (CONNACK included).
  std::size_t last_frames() const { return last_frames_; }

 private:
  struct harness_config : caf::actor_system_config {
    harness_config() {
      register_message_types(*this);
      set("scheduler.max-threads", std::size_t{2});
    }
  };

  harness_config config_;
  caf::actor_system system_;
  context_ptr ctx_;
  caf::actor registry_;
  std::size_t last_frames_ = 0;
};

}  // namespace convoy::fuzz
