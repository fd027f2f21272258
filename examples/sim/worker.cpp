#include "examples/sim/worker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "examples/sim/naming.hpp"
#include "protocol/encoder.hpp"
#include "protocol/reason_code.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace convoy::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;
// A publishing client whose socket has this much unsent skips publishes.
constexpr std::size_t out_limit = 256 * 1024;
constexpr std::int64_t housekeeping_ns = 250'000'000;
constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t second = 1'000'000'000;

std::chrono::steady_clock::time_point to_time_point(std::int64_t ns) {
  return std::chrono::steady_clock::time_point{std::chrono::nanoseconds{ns}};
}

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

worker::worker(const plan& p, run_state& shared, unsigned id)
    : plan_(p),
      shared_(shared),
      id_(id),
      guard_(io_.get_executor()),
      ramp_timer_(io_),
      publish_timer_(io_),
      tick_timer_(io_),
      command_timer_(io_),
      tick_ns_(static_cast<std::int64_t>(p.opt.tick_ms * 1e6)),
      read_buffer_(read_chunk) {
  decode_options_.version = p.version;
}

worker::~worker() {
  if (thread_.joinable()) {
    stop();
    join();
  }
}

void worker::add_subscriber(std::uint32_t index, std::uint32_t number) {
  client& c = clients_.emplace_back(io_);
  c.kind = role::subscriber;
  c.index = index;
  c.number = number;
  order_.push_back(&c);
}

void worker::add_vehicle(std::uint32_t index, std::uint32_t number) {
  client& c = clients_.emplace_back(io_);
  c.kind = role::vehicle;
  c.index = index;
  c.number = number;
  vehicles_.push_back(&c);
}

void worker::add_commander(std::uint32_t index, std::uint32_t number) {
  client& c = clients_.emplace_back(io_);
  c.kind = role::commander;
  c.index = index;
  c.number = number;
  order_.push_back(&c);
  commander_ = &c;
}

void worker::start() {
  // Subscribers and the commander connect first so that they see every
  // vehicle's first message.
  order_.insert(order_.end(), vehicles_.begin(), vehicles_.end());
  const auto& o = plan_.opt;
  if (o.ramp_rate > 0 && !order_.empty()) {
    double share = static_cast<double>(order_.size()) / plan_.total_clients;
    ramp_interval_ns_ = 1e9 / (o.ramp_rate * share);
  }
  ramp_base_ns_ = plan_.start_ns;
  if (o.publish_rate > 0 && !vehicles_.empty()) {
    publish_interval_ns_ = 1e9 / (o.publish_rate * static_cast<double>(vehicles_.size()));
    // Workers interleave: worker k's slots fall between worker k-1's.
    double global_interval = 1e9 / (o.publish_rate * o.vehicles);
    publish_base_ns_ = plan_.start_ns + static_cast<std::int64_t>(global_interval * id_);
  }
  if (commander_ != nullptr && o.command_rate > 0) command_interval_ns_ = 1e9 / o.command_rate;
  thread_ = std::thread([this] {
    asio::post(io_, [this] {
      ramp_tick();
      if (publish_interval_ns_ > 0) arm(publish_timer_, publish_base_ns_, &worker::publish_tick);
      if (command_interval_ns_ > 0) arm(command_timer_, now_ns() + ms, &worker::command_tick);
      arm(tick_timer_, now_ns() + housekeeping_ns, &worker::housekeeping_tick);
    });
    io_.run();
  });
}

void worker::stop() {
  asio::post(io_, [this] { shutdown(); });
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::shutdown() {
  stopping_ = true;
  ramp_timer_.cancel();
  publish_timer_.cancel();
  tick_timer_.cancel();
  command_timer_.cancel();
  const auto& bye = plan_.frames.disconnect;
  for (auto& c : clients_) {
    if (c.st == state::idle || c.st == state::closed) continue;
    boost::system::error_code ec;
    // Best effort: a socket with unsent bytes would cut the DISCONNECT in two.
    if (c.st == state::ready && c.out_pos == c.out.size())
      c.socket.write_some(asio::buffer(bye.data(), bye.size()), ec);
    c.socket.close(ec);
    c.st = state::closed;
  }
  guard_.reset();
  io_.stop();
}

void worker::arm(asio::steady_timer& timer, std::int64_t at_ns, void (worker::*fn)()) {
  timer.expires_at(to_time_point(at_ns));
  timer.async_wait([this, fn](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    (this->*fn)();
  });
}

// ---- ramp ----

void worker::post_ramp() {
  if (ramp_posted_ || next_ >= order_.size() || stopping_) return;
  ramp_posted_ = true;
  asio::post(io_, [this] {
    ramp_posted_ = false;
    if (!stopping_) ramp_tick();
  });
}

void worker::ramp_tick() {
  std::int64_t now = now_ns();
  while (next_ < order_.size()) {
    client& c = *order_[next_];
    if (c.kind == role::vehicle) {
      if (shared_.unsettled_subscribers.load(std::memory_order_acquire) > 0) {
        arm(ramp_timer_, now + ms, &worker::ramp_tick);
        return;
      }
      if (!vehicles_rebased_) {
        // Waiting for subscribers put the schedule behind; vehicles start now
        // instead of catching up in a burst.
        vehicles_rebased_ = true;
        ramp_base_ns_ = now;
        ramp_base_index_ = next_;
      }
    }
    if (connecting_ >= plan_.max_connecting_per_worker) return;  // settle() resumes
    if (ramp_interval_ns_ > 0) {
      auto due =
          ramp_base_ns_ + static_cast<std::int64_t>(ramp_interval_ns_ *
                                                    static_cast<double>(next_ - ramp_base_index_));
      if (due > now) {
        arm(ramp_timer_, std::max(due, now + tick_ns_ / 4), &worker::ramp_tick);
        return;
      }
    }
    ++next_;
    start_connect(c, now);
  }
}

void worker::start_connect(client& c, std::int64_t now) {
  stats_.attempts.add();
  ++connecting_;
  c.st = state::connecting;
  c.deadline_ns = now + plan_.connect_timeout_ns;
  c.window = static_cast<std::uint16_t>(plan_.opt.max_inflight);
  c.keep_alive = plan_.opt.keep_alive;
  boost::system::error_code ec;
  c.socket.open(plan_.target.protocol(), ec);
  if (!ec && plan_.opt.source_ips) {
    int one = 1;
    ::setsockopt(c.socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    auto a = source_address(c.number);
    c.socket.bind(tcp::endpoint(asio::ip::address_v4({a[0], a[1], a[2], a[3]}), 0), ec);
  }
  if (!ec) c.socket.non_blocking(true, ec);
  if (!ec) c.socket.set_option(tcp::no_delay(true), ec);
  if (ec) {
    note_error("socket: " + ec.message());
    stats_.error(error_kind::connect_error);
    return fail_connect(c, now);
  }
  c.socket.async_connect(plan_.target,
                         [this, &c](const boost::system::error_code& ec) { on_connected(c, ec); });
}

void worker::on_connected(client& c, const boost::system::error_code& ec) {
  if (c.st != state::connecting || stopping_) return;
  std::int64_t now = now_ns();
  if (ec) {
    note_error("connect: " + ec.message());
    stats_.error(ec == asio::error::connection_refused ? error_kind::connect_refused
                                                       : error_kind::connect_error);
    return fail_connect(c, now);
  }
  mqtt::connect_packet connect;
  connect.version = plan_.version;
  const auto& prefix = plan_.opt.client_id_prefix;
  switch (c.kind) {
    case role::vehicle:
      connect.client_id = vehicle_id(prefix, c.index);
      break;
    case role::subscriber:
      connect.client_id = subscriber_id(prefix, c.index);
      break;
    case role::commander:
      connect.client_id = commander_id(prefix, c.index);
      break;
  }
  connect.clean_start = plan_.opt.clean_start;
  connect.keep_alive = plan_.opt.keep_alive;
  if (plan_.version == mqtt::protocol_version::v5 && !plan_.opt.clean_start)
    connect.props.add(mqtt::property_id::session_expiry_interval, plan_.opt.session_expiry);
  scratch_.clear();
  mqtt::encode(connect, plan_.version, scratch_);
  c.st = state::awaiting_connack;
  send(c, scratch_.data(), scratch_.size(), now);
  if (c.st == state::awaiting_connack) wait_readable(c);
}

void worker::become_ready(client& c, std::int64_t now) {
  c.st = state::ready;
  stats_.connected.add();
  if (c.kind == role::vehicle && plan_.opt.publish_rate > 0 && c.header.empty()) build_header(c);
  settle(c, now);
}

void worker::fail_connect(client& c, std::int64_t now) {
  stats_.connect_failed.add();
  close_socket(c);
  settle(c, now);
}

void worker::settle(client& c, std::int64_t now) {
  if (c.settled) return;
  c.settled = true;
  --connecting_;
  if (c.kind != role::vehicle)
    shared_.unsettled_subscribers.fetch_sub(1, std::memory_order_acq_rel);
  if (shared_.unsettled_clients.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    shared_.ramp_end_ns.store(now, std::memory_order_relaxed);
    shared_.window_start_ns.store(now + plan_.warmup_ns, std::memory_order_release);
  }
  post_ramp();
}

void worker::lost(client& c, error_kind kind, std::int64_t now) {
  switch (c.st) {
    case state::connecting:
    case state::awaiting_connack:
    case state::subscribing:
      stats_.error(kind == error_kind::connection_closed && c.st == state::awaiting_connack
                       ? error_kind::closed_before_connack
                       : kind);
      return fail_connect(c, now);
    case state::ready:
      stats_.error(kind);
      stats_.lost.add();
      return close_socket(c);
    case state::idle:
    case state::closed:
      return;
  }
}

void worker::close_socket(client& c) {
  boost::system::error_code ec;
  c.socket.close(ec);
  c.st = state::closed;
  c.out = {};
  c.out_pos = 0;
  // c.in may be what consume() is reading; feed() drops it afterwards.
}

void worker::note_error(const std::string& what) {
  if (!shared_.first_error_taken.exchange(true)) shared_.first_error = what;
}

// ---- reading ----

void worker::wait_readable(client& c) {
  c.socket.async_wait(tcp::socket::wait_read, [this, &c](const boost::system::error_code& ec) {
    if (c.st == state::closed || c.st == state::idle || stopping_) return;
    if (ec) return lost(c, error_kind::connection_error, now_ns());
    on_readable(c);
  });
}

// Reads until the socket is empty: the reactor reports readiness by edges,
// so bytes left behind would wait for the next arrival. A short read means
// the socket was empty then, and bytes arriving later make a new edge. After
// 16 full buffers the rest waits for a turn behind the other clients.
void worker::on_readable(client& c) {
  for (int round = 0; round < 16; ++round) {
    boost::system::error_code ec;
    std::size_t n = c.socket.read_some(asio::buffer(read_buffer_), ec);
    std::int64_t now = now_ns();
    if (would_block(ec)) return wait_readable(c);
    if (ec == asio::error::eof || (!ec && n == 0))
      return lost(c, error_kind::connection_closed, now);
    if (ec) {
      note_error("read: " + ec.message());
      return lost(c, error_kind::connection_error, now);
    }
    stats_.bytes_received.add(n);
    feed(c, {read_buffer_.data(), n}, now);
    if (c.st == state::closed) return;
    flush_batch(c, now);
    if (c.st == state::closed) return;
    if (n < read_buffer_.size()) return wait_readable(c);
  }
  asio::post(io_, [this, &c] {
    if (c.st != state::closed && !stopping_) on_readable(c);
  });
}

void worker::feed(client& c, mqtt::byte_view data, std::int64_t now) {
  if (c.in.empty()) {
    std::size_t used = consume(c, data, now);
    if (c.st != state::closed && used < data.size()) c.in.assign(data.begin() + used, data.end());
    return;
  }
  c.in.insert(c.in.end(), data.begin(), data.end());
  std::size_t used = consume(c, c.in, now);
  if (c.st == state::closed) {
    c.in = {};
    return;
  }
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(used));
  if (c.in.empty() && c.in.capacity() > read_chunk) c.in = {};
}

std::size_t worker::consume(client& c, mqtt::byte_view data, std::int64_t now) {
  std::size_t offset = 0;
  while (offset < data.size()) {
    mqtt::frame_header h;
    auto rest = data.subspan(offset);
    auto peek = mqtt::peek_frame(rest, h);
    if (peek.failed()) {
      note_error("broker sent a malformed packet: " + peek.detail);
      lost(c, error_kind::protocol_error, now);
      return data.size();
    }
    if (peek.incomplete() || rest.size() < h.total_size()) break;
    auto frame = rest.first(h.total_size());
    offset += h.total_size();
    if ((h.first_byte >> 4) == static_cast<std::uint8_t>(mqtt::packet_type::publish)) {
      on_publish(c, frame, h.header_size, now);
    } else {
      auto r = mqtt::decode(frame, decode_options_);
      if (!r.complete()) {
        note_error("broker sent a packet the codec refused: " + r.detail);
        lost(c, error_kind::protocol_error, now);
        return data.size();
      }
      on_packet(c, r.value, now);
    }
    if (c.st == state::closed) return data.size();
  }
  return offset;
}

void worker::on_publish(client& c, mqtt::byte_view frame, std::size_t header_size,
                        std::int64_t now) {
  auto v = parse_publish(frame, header_size, plan_.version);
  if (!v) {
    note_error("broker sent a malformed PUBLISH");
    return lost(c, error_kind::protocol_error, now);
  }
  if (c.st != state::ready) {
    stats_.error(error_kind::unexpected_packet);
  } else if (c.kind == role::vehicle) {
    on_command(c, frame, now);
    if (c.st == state::closed) return;
  } else if (c.kind == role::commander) {
    on_response(c, frame, now);
    if (c.st == state::closed) return;
  } else {
    stats_.received.add();
    ++c.received;
    if (v->payload.size() >= stamp_size) {
      stamp s = read_stamp(v->payload.data());
      if (s.sent_ns >= shared_.window_start_ns.load(std::memory_order_relaxed) &&
          s.sent_ns < plan_.publish_end_ns) {
        stats_.received_window.add();
        stats_.latency.record(now > s.sent_ns ? static_cast<std::uint64_t>(now - s.sent_ns) / 1000
                                              : 0);
      }
      std::uint32_t* next = nullptr;
      if (c.next_seq) {
        if (plan_.pair_filter) {
          if (plan_.opt.vehicles != 0 && s.vehicle == c.index % plan_.opt.vehicles)
            next = &c.next_seq[0];
        } else if (s.vehicle < plan_.opt.vehicles) {
          next = &c.next_seq[s.vehicle];
        }
      }
      if (next == nullptr) {
        ++c.unique;
      } else if (s.seq >= *next) {
        ++c.unique;
        *next = s.seq + 1;
      } else {
        ++c.duplicates;
      }
    } else {
      stats_.error(error_kind::foreign_payload);
    }
  }
  if (v->qos == 1) {
    auto a = control_frames::with_id(plan_.frames.puback, v->packet_id);
    batch_.insert(batch_.end(), a.begin(), a.end());
  } else if (v->qos == 2) {
    auto a = control_frames::with_id(plan_.frames.pubrec, v->packet_id);
    batch_.insert(batch_.end(), a.begin(), a.end());
  }
}

void worker::on_packet(client& c, mqtt::packet& p, std::int64_t now) {
  if (auto* a = std::get_if<mqtt::pub_ack_packet>(&p)) return on_ack(c, *a, now);
  if (std::holds_alternative<mqtt::pingresp_packet>(p)) {
    c.ping_sent_ns = 0;
    return;
  }
  if (auto* ack = std::get_if<mqtt::connack_packet>(&p)) {
    if (c.st != state::awaiting_connack) return stats_.error(error_kind::unexpected_packet);
    if (mqtt::is_error(ack->reason)) {
      note_error(std::string{"CONNACK: "} + mqtt::to_string(ack->reason));
      stats_.connack_refusals[static_cast<std::uint8_t>(ack->reason)].add();
      return fail_connect(c, now);
    }
    if (auto ka = ack->props.number(mqtt::property_id::server_keep_alive))
      c.keep_alive = static_cast<std::uint16_t>(*ka);
    if (auto rm = ack->props.number(mqtt::property_id::receive_maximum))
      c.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(c.window, std::max(*rm, 1u)));
    mqtt::subscribe_packet sub;
    if (!subscription_of(c, sub)) return become_ready(c, now);
    scratch_.clear();
    mqtt::encode(sub, plan_.version, scratch_);
    c.st = state::subscribing;
    send(c, scratch_.data(), scratch_.size(), now);
    return;
  }
  if (auto* suback = std::get_if<mqtt::suback_packet>(&p)) return on_subscribed(c, *suback, now);
  if (auto* d = std::get_if<mqtt::disconnect_packet>(&p)) {
    note_error(std::string{"DISCONNECT from the broker: "} + mqtt::to_string(d->reason));
    stats_.disconnects[static_cast<std::uint8_t>(d->reason)].add();
    if (c.st == state::ready) {
      stats_.lost.add();
      return close_socket(c);
    }
    return fail_connect(c, now);
  }
  stats_.error(error_kind::unexpected_packet);
}

bool worker::subscription_of(const client& c, mqtt::subscribe_packet& out) const {
  const auto& prefix = plan_.opt.client_id_prefix;
  std::string filter;
  mqtt::subscription_options so;
  so.max_qos = static_cast<mqtt::qos>(plan_.command_qos);
  switch (c.kind) {
    case role::subscriber:
      filter = plan_.opt.subscribe_filter;
      if (plan_.pair_filter) {
        std::uint32_t follows = plan_.opt.vehicles == 0 ? c.index : c.index % plan_.opt.vehicles;
        filter = substitute_vin(filter, vehicle_id(prefix, follows));
      }
      so.max_qos = static_cast<mqtt::qos>(plan_.subscribe_qos);
      break;
    case role::vehicle:
      if (!plan_.responders) return false;
      filter = command_filter(vehicle_id(prefix, c.index));
      break;
    case role::commander:
      filter = plan_.version == mqtt::protocol_version::v5
                   ? response_topic(commander_id(prefix, c.index))
                   : std::string{response_filter_v311};
      break;
  }
  out.packet_id = 1;
  out.entries.push_back({std::move(filter), so});
  return true;
}

void worker::on_subscribed(client& c, const mqtt::suback_packet& ack, std::int64_t now) {
  if (c.st != state::subscribing) return stats_.error(error_kind::unexpected_packet);
  bool granted =
      !ack.reasons.empty() && std::none_of(ack.reasons.begin(), ack.reasons.end(),
                                           [](mqtt::reason_code rc) { return mqtt::is_error(rc); });
  if (!granted) {
    note_error("SUBACK refused the subscription");
    stats_.error(error_kind::subscribe_failed);
    return become_ready(c, now);
  }
  c.subscribed = true;
  switch (c.kind) {
    case role::subscriber:
      stats_.subscribed.add();
      if (plan_.track_sequences) {
        std::size_t slots = plan_.pair_filter ? 1 : plan_.opt.vehicles;
        c.next_seq.reset(new std::uint32_t[std::max<std::size_t>(slots, 1)]());
      }
      break;
    case role::vehicle:
      stats_.responders.add();
      break;
    case role::commander:
      break;
  }
  become_ready(c, now);
}

void worker::on_ack(client& c, const mqtt::pub_ack_packet& a, std::int64_t now) {
  switch (a.type) {
    case mqtt::packet_type::puback:
    case mqtt::packet_type::pubcomp:
      return complete_publish(c, a.packet_id, a.reason, now);
    case mqtt::packet_type::pubrec: {
      if (mqtt::is_error(a.reason)) return complete_publish(c, a.packet_id, a.reason, now);
      auto rel = control_frames::with_id(plan_.frames.pubrel, a.packet_id);
      batch_.insert(batch_.end(), rel.begin(), rel.end());
      return;
    }
    case mqtt::packet_type::pubrel: {
      auto comp = control_frames::with_id(plan_.frames.pubcomp, a.packet_id);
      batch_.insert(batch_.end(), comp.begin(), comp.end());
      return;
    }
    default:
      return stats_.error(error_kind::unexpected_packet);
  }
}

void worker::complete_publish(client& c, std::uint16_t id, mqtt::reason_code reason,
                              std::int64_t now) {
  if (!c.inflight || c.inflight_count == 0) return stats_.error(error_kind::ack_unknown_packet_id);
  const std::uint32_t cap = plan_.opt.max_inflight;
  // Brokers acknowledge in order (MQTT 4.6), so the oldest entry matches.
  std::uint32_t k = 0;
  while (k < c.inflight_count && c.inflight[(c.inflight_head + k) % cap].id != id)
    ++k;
  if (k == c.inflight_count) return stats_.error(error_kind::ack_unknown_packet_id);
  const inflight_entry done = c.inflight[(c.inflight_head + k) % cap];
  for (; k > 0; --k)
    c.inflight[(c.inflight_head + k) % cap] = c.inflight[(c.inflight_head + k - 1) % cap];
  c.inflight_head = static_cast<std::uint16_t>((c.inflight_head + 1) % cap);
  --c.inflight_count;
  if (mqtt::is_error(reason)) {
    stats_.publish_refusals[static_cast<std::uint8_t>(reason)].add();
  } else if (done.kind == sent_kind::command) {
    stats_.commands_acked.add();
  } else if (done.kind == sent_kind::telemetry) {
    stats_.acked.add();
    std::int64_t sent = done.sent_ns;
    if (sent >= shared_.window_start_ns.load(std::memory_order_relaxed) &&
        sent < plan_.publish_end_ns)
      stats_.ack_latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - sent, 0)) /
                                1000);
  }
  if (c.owed > 0 && c.st == state::ready && now < plan_.publish_end_ns) {
    --c.owed;
    publish(c, now);
  }
}

// ---- publishing ----

void worker::build_header(client& c) {
  mqtt::publish_packet p;
  p.topic =
      substitute_vin(plan_.opt.topic_template, vehicle_id(plan_.opt.client_id_prefix, c.index));
  p.qos = static_cast<mqtt::qos>(plan_.publish_qos);
  p.packet_id = plan_.publish_qos != 0 ? 1 : 0;
  mqtt::encode_publish_header(p, plan_.opt.payload_size, plan_.version, c.header);
  c.header.shrink_to_fit();
  if (plan_.publish_qos != 0) {
    std::size_t props = plan_.version == mqtt::protocol_version::v5 ? 1 : 0;
    c.id_offset = static_cast<std::uint16_t>(c.header.size() - props - 2);
    if (!c.inflight) c.inflight.reset(new inflight_entry[plan_.opt.max_inflight]);
  }
}

void worker::publish_tick() {
  std::int64_t now = now_ns();
  if (now >= plan_.publish_end_ns) return;
  auto due = [this](std::uint64_t slot) {
    return publish_base_ns_ +
           static_cast<std::int64_t>(publish_interval_ns_ * static_cast<double>(slot));
  };
  // More than a second behind: the simulator cannot keep up. Skip rather than
  // burst, and say so.
  if (now - due(publish_slot_) > second) {
    auto behind = static_cast<std::uint64_t>(static_cast<double>(now - due(publish_slot_) - ms) /
                                             publish_interval_ns_);
    stats_.errors[static_cast<std::size_t>(error_kind::skipped_lag)].add(behind);
    publish_slot_ += behind;
  }
  const std::size_t n = vehicles_.size();
  while (due(publish_slot_) <= now) {
    client& c = *vehicles_[publish_slot_ % n];
    ++publish_slot_;
    // Each publish reads the clock: the stamp is when its bytes leave, not
    // when the tick began.
    if (c.st == state::ready) publish(c, now_ns());
  }
  // Publishes due within one tick go out in one wake-up.
  arm(publish_timer_, std::max(due(publish_slot_), now + tick_ns_), &worker::publish_tick);
}

void worker::publish(client& c, std::int64_t now) {
  const std::uint32_t cap = plan_.opt.max_inflight;
  std::uint16_t id = 0;
  if (plan_.publish_qos != 0) {
    if (c.inflight_count >= c.window) {
      // Waits for an acknowledgement, up to one window's worth; beyond that skips.
      if (c.owed < c.window)
        ++c.owed;
      else
        stats_.error(error_kind::skipped_window_full);
      return;
    }
    id = c.next_id;
    c.next_id = c.next_id == 65535 ? 1 : static_cast<std::uint16_t>(c.next_id + 1);
    c.header[c.id_offset] = static_cast<std::uint8_t>(id >> 8);
    c.header[c.id_offset + 1] = static_cast<std::uint8_t>(id & 0xFF);
  }
  std::array<std::uint8_t, stamp_size> st;
  write_stamp({now, c.index, c.seq}, st.data());
  std::array<asio::const_buffer, 3> buffers{
      asio::const_buffer{c.header.data(), c.header.size()},
      asio::const_buffer{st.data(), st.size()},
      asio::const_buffer{plan_.filler.data(), plan_.filler.size()}};
  if (!send(c, buffers.data(), plan_.filler.empty() ? 2 : 3, true, now)) {
    stats_.error(error_kind::skipped_backpressure);
    return;
  }
  ++c.seq;
  stats_.sent.add();
  if (now >= shared_.window_start_ns.load(std::memory_order_relaxed) && now < plan_.publish_end_ns)
    stats_.sent_window.add();
  if (plan_.publish_qos != 0) {
    c.inflight[(c.inflight_head + c.inflight_count) % cap] = {id, sent_kind::telemetry, now};
    ++c.inflight_count;
  }
}

// ---- commands: the commander sends, vehicles answer ----

std::uint16_t worker::take_packet_id(client& c, sent_kind kind, std::int64_t now) {
  const std::uint32_t cap = plan_.opt.max_inflight;
  if (c.inflight_count >= c.window) return 0;
  if (!c.inflight) c.inflight.reset(new inflight_entry[cap]);
  std::uint16_t id = c.next_id;
  c.next_id = c.next_id == 65535 ? 1 : static_cast<std::uint16_t>(c.next_id + 1);
  c.inflight[(c.inflight_head + c.inflight_count) % cap] = {id, kind, now};
  ++c.inflight_count;
  return id;
}

namespace {

// Correlation Data of command seq: its number, big-endian, 8 bytes.
std::string correlation_of(std::uint64_t seq) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8)
    out[static_cast<std::size_t>(i)] = static_cast<char>(seq & 0xFF);
  return out;
}

constexpr std::string_view command_body = R"({"requested_by":"convoy sim"})";
constexpr std::string_view response_body = R"({"status":"done"})";

}  // namespace

void worker::command_tick() {
  std::int64_t now = now_ns();
  if (now >= plan_.publish_end_ns || commander_->st == state::closed) return;
  if (command_base_ns_ == 0) {
    // Commands start with the measurement window, once every vehicle has had
    // its chance to connect and subscribe.
    if (shared_.window_start_ns.load(std::memory_order_acquire) > now ||
        commander_->st != state::ready)
      return arm(command_timer_, now + 5 * ms, &worker::command_tick);
    command_base_ns_ = now;
  }
  auto due = [this](std::uint64_t slot) {
    return command_base_ns_ +
           static_cast<std::int64_t>(command_interval_ns_ * static_cast<double>(slot));
  };
  if (now - due(command_slot_) > second) {
    auto behind = static_cast<std::uint64_t>(static_cast<double>(now - due(command_slot_) - ms) /
                                             command_interval_ns_);
    stats_.errors[static_cast<std::size_t>(error_kind::skipped_lag)].add(behind);
    command_slot_ += behind;
  }
  while (due(command_slot_) <= now && commander_->st == state::ready) {
    ++command_slot_;
    send_command(*commander_, now_ns());
  }
  arm(command_timer_, std::max(due(command_slot_), now + tick_ns_), &worker::command_tick);
}

void worker::send_command(client& c, std::int64_t now) {
  std::uint64_t seq = commands_.answered.size();
  auto target = static_cast<std::uint32_t>(seq % plan_.opt.vehicles);
  mqtt::publish_packet p;
  p.qos = static_cast<mqtt::qos>(plan_.command_qos);
  if (plan_.command_qos != 0) {
    p.packet_id = take_packet_id(c, sent_kind::command, now);
    if (p.packet_id == 0) return stats_.error(error_kind::command_skipped);
  }
  const auto& prefix = plan_.opt.client_id_prefix;
  p.topic = command_topic(vehicle_id(prefix, target), seq);
  if (plan_.version == mqtt::protocol_version::v5) {
    p.props.add(mqtt::property_id::response_topic, response_topic(commander_id(prefix, c.index)));
    p.props.add(mqtt::property_id::correlation_data, correlation_of(seq));
  }
  p.payload.resize(stamp_size);
  write_stamp({now, target, static_cast<std::uint32_t>(seq)},
              reinterpret_cast<std::uint8_t*>(p.payload.data()));
  p.payload.append(command_body);
  commands_.answered.push_back(false);
  stats_.commands_sent.add();
  send_encoded(c, p, now);
}

std::optional<mqtt::publish_packet> worker::decode_publish(client& c, mqtt::byte_view frame,
                                                           std::int64_t now) {
  auto r = mqtt::decode(frame, decode_options_);
  if (auto* p = r.complete() ? std::get_if<mqtt::publish_packet>(&r.value) : nullptr)
    return std::move(*p);
  note_error("broker sent a PUBLISH the codec refused: " + r.detail);
  lost(c, error_kind::protocol_error, now);
  return std::nullopt;
}

void worker::send_encoded(client& c, const mqtt::publish_packet& p, std::int64_t now) {
  scratch_.clear();
  mqtt::encode(p, plan_.version, scratch_);
  send(c, scratch_.data(), scratch_.size(), now);
}

// A command of the node's command workflows (actors/vehicle/command_workflow.hpp)
// carries its id and response topic in a JSON payload; the vehicle reports
// accepted and then its outcome there, as a real vehicle would.
bool worker::answer_workflow_command(client& c, const mqtt::publish_packet& command,
                                     std::int64_t now) {
  if (command.payload.empty() || command.payload.front() != '{') return false;
  auto body = nlohmann::json::parse(command.payload, nullptr, false);
  if (!body.is_object() || !body.contains("id") || !body["responseTopic"].is_string()) return false;
  const std::string& outcome = plan_.command_outcome;
  if (outcome == "silent") return true;
  std::vector<std::string> reports = {R"({"status":"accepted"})"};
  if (outcome == "succeeded")
    reports.push_back(R"({"status":"succeeded","detail":{"by":"convoy sim"}})");
  else if (outcome == "failed")
    reports.push_back(R"({"status":"failed","detail":{"reason":"simulated failure"}})");
  for (auto& text : reports) {
    mqtt::publish_packet report;
    report.topic = body["responseTopic"].get<std::string>();
    report.qos = static_cast<mqtt::qos>(plan_.command_qos);
    if (plan_.command_qos != 0) {
      report.packet_id = take_packet_id(c, sent_kind::response, now);
      if (report.packet_id == 0) {
        stats_.error(error_kind::response_skipped);
        return true;
      }
    }
    report.payload = std::move(text);
    stats_.responses_sent.add();
    send_encoded(c, report, now);
  }
  return true;
}

void worker::on_command(client& c, mqtt::byte_view frame, std::int64_t now) {
  auto command = decode_publish(c, frame, now);
  if (!command) return;
  stats_.commands_received.add();
  if (answer_workflow_command(c, *command, now)) return;
  mqtt::publish_packet response;
  if (plan_.version == mqtt::protocol_version::v5) {
    const std::string* topic = command->props.string(mqtt::property_id::response_topic);
    if (topic == nullptr) {
      note_error("a command without a Response Topic reached " +
                 vehicle_id(plan_.opt.client_id_prefix, c.index));
      return stats_.error(error_kind::bad_command);
    }
    response.topic = *topic;
    if (const auto* correlation = command->props.string(mqtt::property_id::correlation_data))
      response.props.add(mqtt::property_id::correlation_data, *correlation);
  } else {
    response.topic = command->topic;
    response.topic.append(response_suffix_v311);
  }
  response.qos = static_cast<mqtt::qos>(plan_.command_qos);
  if (plan_.command_qos != 0) {
    response.packet_id = take_packet_id(c, sent_kind::response, now);
    if (response.packet_id == 0) return stats_.error(error_kind::response_skipped);
  }
  // The command's stamp comes back for the round trip; a command from
  // outside the simulator has none, and its first bytes come back instead.
  response.payload.assign(command->payload, 0, stamp_size);
  response.payload.append(response_body);
  stats_.responses_sent.add();
  send_encoded(c, response, now);
}

void worker::on_response(client& c, mqtt::byte_view frame, std::int64_t now) {
  auto response = decode_publish(c, frame, now);
  if (!response) return;
  stats_.responses_received.add();
  if (response->payload.size() < stamp_size) return stats_.error(error_kind::bad_response);
  stamp s = read_stamp(reinterpret_cast<const std::uint8_t*>(response->payload.data()));
  if (s.seq >= commands_.answered.size()) return stats_.error(error_kind::bad_response);
  if (plan_.version == mqtt::protocol_version::v5) {
    const auto* correlation = response->props.string(mqtt::property_id::correlation_data);
    if (correlation == nullptr || *correlation != correlation_of(s.seq)) {
      note_error("a command response without its command's Correlation Data");
      return stats_.error(error_kind::bad_response);
    }
  }
  if (commands_.answered[s.seq]) {
    ++commands_.duplicate_responses;
    return;
  }
  commands_.answered[s.seq] = true;
  ++commands_.answered_count;
  stats_.command_latency.record(
      static_cast<std::uint64_t>(std::max<std::int64_t>(now - s.sent_ns, 0)) / 1000);
}

// ---- writing ----

bool worker::send(client& c, const asio::const_buffer* buffers, std::size_t count, bool droppable,
                  std::int64_t now) {
  if (c.st == state::closed) return true;
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i)
    total += buffers[i].size();
  auto queue_from = [&](std::size_t skip) {
    for (std::size_t i = 0; i < count; ++i) {
      auto* p = static_cast<const std::uint8_t*>(buffers[i].data());
      std::size_t size = buffers[i].size();
      std::size_t drop = std::min(skip, size);
      skip -= drop;
      c.out.insert(c.out.end(), p + drop, p + size);
    }
  };
  if (c.out_pos < c.out.size()) {
    if (droppable && c.out.size() - c.out_pos + total > out_limit) return false;
    queue_from(0);
    stats_.bytes_sent.add(total);
    c.last_sent_ns = now;
    return true;
  }
  boost::system::error_code ec;
  std::size_t n = 0;
  switch (count) {
    case 1:
      n = c.socket.write_some(buffers[0], ec);
      break;
    case 2:
      n = c.socket.write_some(std::array<asio::const_buffer, 2>{buffers[0], buffers[1]}, ec);
      break;
    default:
      n = c.socket.write_some(std::array<asio::const_buffer, 3>{buffers[0], buffers[1], buffers[2]},
                              ec);
      break;
  }
  if (would_block(ec)) {
    ec = {};
    n = 0;
  }
  if (ec) {
    note_error("write: " + ec.message());
    lost(c, error_kind::connection_error, now);
    return true;
  }
  stats_.bytes_sent.add(total);
  c.last_sent_ns = now;
  if (n < total) {
    c.out.clear();
    c.out_pos = 0;
    queue_from(n);
    wait_writable(c);
  }
  return true;
}

void worker::flush_batch(client& c, std::int64_t now) {
  if (batch_.empty()) return;
  send(c, batch_.data(), batch_.size(), now);
  batch_.clear();
}

void worker::wait_writable(client& c) {
  if (c.write_waiting) return;
  c.write_waiting = true;
  c.socket.async_wait(tcp::socket::wait_write, [this, &c](const boost::system::error_code& ec) {
    c.write_waiting = false;
    if (c.st == state::closed || stopping_) return;
    if (ec) return lost(c, error_kind::connection_error, now_ns());
    flush(c);
  });
}

void worker::flush(client& c) {
  while (c.out_pos < c.out.size()) {
    boost::system::error_code ec;
    std::size_t n =
        c.socket.write_some(asio::buffer(c.out.data() + c.out_pos, c.out.size() - c.out_pos), ec);
    if (would_block(ec)) return wait_writable(c);
    if (ec) {
      note_error("write: " + ec.message());
      return lost(c, error_kind::connection_error, now_ns());
    }
    c.out_pos += n;
  }
  c.out.clear();
  c.out_pos = 0;
  if (c.out.capacity() > out_limit) c.out = {};
}

// ---- housekeeping: connect timeouts and keep alive, for all clients in one pass ----

void worker::housekeeping_tick() {
  std::int64_t now = now_ns();
  for (auto& c : clients_) {
    switch (c.st) {
      case state::connecting:
      case state::awaiting_connack:
      case state::subscribing:
        if (now >= c.deadline_ns) {
          note_error("no CONNACK/SUBACK within --connect-timeout");
          stats_.error(error_kind::connect_timeout);
          fail_connect(c, now);
        }
        break;
      case state::ready: {
        if (c.keep_alive == 0) break;
        std::int64_t ka = std::int64_t{c.keep_alive} * second;
        if (c.ping_sent_ns != 0) {
          if (now - c.ping_sent_ns > std::max(ka, 2 * second)) {
            note_error("no PINGRESP within the keep alive");
            lost(c, error_kind::ping_timeout, now);
          }
        } else if (now - c.last_sent_ns >= ka * 3 / 4) {
          c.ping_sent_ns = now;
          stats_.pings.add();
          send(c, plan_.frames.pingreq.data(), plan_.frames.pingreq.size(), now);
        }
        break;
      }
      case state::idle:
      case state::closed:
        break;
    }
  }
  arm(tick_timer_, now + housekeeping_ns, &worker::housekeeping_tick);
}

void worker::collect(std::vector<vehicle_result>& vehicles,
                     std::vector<subscriber_result>& subscribers,
                     std::vector<commander_result>& commanders) const {
  for (const auto& c : clients_) {
    switch (c.kind) {
      case role::vehicle:
        vehicles.push_back({c.index, c.seq, c.inflight_count});
        break;
      case role::subscriber:
        subscribers.push_back(
            {c.index, c.subscribed, c.next_seq != nullptr, c.received, c.unique, c.duplicates});
        break;
      case role::commander:
        commanders.push_back({commands_.answered.size(), commands_.answered_count,
                              commands_.duplicate_responses, c.inflight_count});
        break;
    }
  }
}

}  // namespace convoy::sim
