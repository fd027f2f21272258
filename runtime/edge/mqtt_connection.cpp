#include "runtime/edge/mqtt_connection.hpp"

#include <array>
#include <limits>

#include <sys/socket.h>
#include <sys/uio.h>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/session/connect_policy.hpp"
#include "protocol/disconnect.hpp"
#include "protocol/encoder.hpp"
#include "runtime/auth/authenticator.hpp"
#include "runtime/auth/certificate_identity.hpp"

namespace convoy::runtime {

namespace asio = boost::asio;
using mqtt::reason_code;

namespace {

// One read buffer per I/O thread instead of one per connection: idle
// connections, most of a fleet, then hold no buffer at all.
constexpr std::size_t read_chunk = 64 * 1024;

std::array<std::uint8_t, read_chunk>& thread_read_buffer() {
  thread_local std::array<std::uint8_t, read_chunk> buffer;
  return buffer;
}

counter counter_for(reason_code rc) {
  switch (rc) {
    case reason_code::packet_too_large:
      return counter::refused_packet_too_large;
    case reason_code::malformed_packet:
      return counter::refused_malformed;
    default:
      return counter::refused_protocol_error;
  }
}

}  // namespace

std::uint32_t edge_context::auth_failure_delay(const std::string& address, std::uint32_t base_ms,
                                               std::int64_t now_ms) {
  constexpr std::int64_t forget_after_ms = 10 * 60'000;
  std::lock_guard lock{failures_mutex};
  // Bounded by the addresses of the last ten minutes.
  if (failures.size() > 100'000)
    std::erase_if(failures,
                  [&](const auto& f) { return now_ms - f.second.last_ms > forget_after_ms; });
  auto& f = failures[address];
  if (now_ms - f.last_ms > forget_after_ms) f.count = 0;
  f.last_ms = now_ms;
  ++f.count;
  std::uint64_t delay = base_ms;
  for (std::uint32_t i = 1; i < f.count && delay < max_auth_failure_delay_ms; ++i)
    delay *= 2;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(delay, max_auth_failure_delay_ms));
}

void edge_context::auth_succeeded(const std::string& address) {
  std::lock_guard lock{failures_mutex};
  failures.erase(address);
}

void edge_context::check_silence(std::int64_t now_ms) {
  std::lock_guard lock{connections_mutex};
  for (const auto& c : connections)
    c->check_silence(now_ms);
}

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

mqtt_connection::mqtt_connection(socket_type socket, edge_context& ctx, ssl_context_ptr tls,
                                 const websocket::upgrade_rules* websocket)
    : socket_(std::move(socket)), ctx_(ctx) {
  if (websocket) ws_ = std::make_unique<websocket_state>(*websocket);
  if (tls) tls_ = std::make_unique<tls_stream>(tls.get(), socket_.native_handle());
  metrics::connections_delta(1);
}

mqtt_connection::~mqtt_connection() {
  metrics::connections_delta(-1);
}

void mqtt_connection::start() {
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  fd_ = socket_.native_handle();
  last_heard_ms_.store(steady_now_ms(), std::memory_order_relaxed);
  // The connect timeout covers the TLS handshake as well: a client that
  // stalls it is as silent as one that never sends CONNECT.
  silence_limit_ms_.store(ctx_.connect_timeout_ms, std::memory_order_relaxed);
  if (tls_) return continue_handshake();
  wait_readable();
}

void mqtt_connection::continue_handshake() {
  if (phase_ != phase::awaiting_connect) return;
  tls_stream::status state;
  {
    std::lock_guard lock{mutex_};
    state = tls_->handshake();
  }
  auto again = [self = shared_from_this()](boost::system::error_code ec) {
    if (ec) {
      if (self->phase_ != phase::closed) self->lost();
      return;
    }
    self->continue_handshake();
  };
  switch (state) {
    case tls_stream::status::ok:
      spdlog::debug("TLS ({}) with {} established", tls_->version(), peer());
      return wait_readable();
    case tls_stream::status::want_read:
      return socket_.async_wait(socket_type::wait_read, std::move(again));
    case tls_stream::status::want_write:
      return socket_.async_wait(socket_type::wait_write, std::move(again));
    case tls_stream::status::closed:
    case tls_stream::status::failed:
      return on_handshake_failed();
  }
}

// Expired, revoked, wrong-CA or missing certificates end here, as do
// clients that speak no TLS at all; none of them ever reach MQTT.
void mqtt_connection::on_handshake_failed() {
  metrics::add(counter::refused_tls_handshake);
  spdlog::info("TLS handshake with {} failed: {}", peer(),
               tls_->error().empty() ? "the client closed the connection" : tls_->error());
  begin_close();
}

void mqtt_connection::recheck_certificate(SSL_CTX* ctx) {
  if (!tls_) return;
  std::optional<std::string> why;
  {
    std::lock_guard lock{mutex_};
    if (gone_ || !tls_->peer_certificate()) return;
    why = verify_against(ctx, tls_->peer_certificate(), tls_->peer_chain());
  }
  if (!why) return;
  asio::post(socket_.get_executor(), [self = shared_from_this(), why = std::move(*why)] {
    if (self->phase_ == phase::closed || self->phase_ == phase::closing) return;
    metrics::add(counter::disconnected_certificate_revoked);
    spdlog::info("disconnecting {}: its client certificate no longer verifies ({})", self->peer(),
                 why);
    if (self->phase_ == phase::bound)
      return self->violate(reason_code::not_authorized, "client certificate: " + why);
    self->begin_close();
  });
}

std::size_t mqtt_connection::read_some(std::span<std::uint8_t> buffer,
                                       boost::system::error_code& ec) {
  if (!tls_) return socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
  tls_stream::io_result r;
  {
    std::lock_guard lock{mutex_};
    r = tls_->read(buffer);
  }
  tls_read_wants_write_ = r.state == tls_stream::status::want_write;
  switch (r.state) {
    case tls_stream::status::ok:
    case tls_stream::status::want_read:
    case tls_stream::status::want_write:
      if (r.bytes == 0) ec = asio::error::would_block;
      break;
    case tls_stream::status::closed:
      // Bytes that came before the close are still handled; the next read
      // reports the end.
      if (r.bytes == 0) ec = asio::error::eof;
      break;
    case tls_stream::status::failed:
      spdlog::debug("TLS error from {}: {}", peer(), tls_->error());
      if (r.bytes == 0) ec = asio::error::connection_aborted;
      break;
  }
  return r.bytes;
}

void mqtt_connection::check_silence(std::int64_t now_ms) {
  std::uint32_t limit = silence_limit_ms_.load(std::memory_order_relaxed);
  if (limit == 0) return;
  if (now_ms - last_heard_ms_.load(std::memory_order_relaxed) <= limit) return;
  // Exactly one sweep hands the connection its timeout.
  if (!silence_limit_ms_.compare_exchange_strong(limit, 0)) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_silence(); });
}

void mqtt_connection::on_silence() {
  if (phase_ == phase::awaiting_connect) {
    metrics::add(counter::connect_timeouts);
    return begin_close();
  }
  if (phase_ == phase::bound) {
    // Spec 3.1.2.10: one and a half times the keep alive without a packet.
    metrics::add(counter::keep_alive_timeouts);
    violate(reason_code::keep_alive_timeout, "no packet within 1.5 times the keep alive");
  }
}

void mqtt_connection::wait_readable() {
  if (tls_) {
    bool pending;
    {
      std::lock_guard lock{mutex_};
      pending = tls_->has_pending();
    }
    // Bytes already inside the TLS session make the socket look idle.
    if (pending) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
      return;
    }
  }
  socket_.async_wait(tls_read_wants_write_ ? socket_type::wait_write : socket_type::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       if (ec) {
                         if (self->phase_ != phase::closed) self->lost();
                         return;
                       }
                       self->on_readable();
                     });
}

void mqtt_connection::on_readable() {
  if (phase_ != phase::awaiting_connect && phase_ != phase::bound) return;
  auto& buffer = thread_read_buffer();
  boost::system::error_code ec;
  std::size_t n = read_some(buffer, ec);
  if (ec == asio::error::would_block) return wait_readable();
  if (ec || n == 0) return lost();
  metrics::add(counter::bytes_received, n);
  std::span<std::uint8_t> fresh{buffer.data(), n};
  websocket::frame_reader::result frames;
  if (ws_) {
    if (!ws_->upgraded && !upgrade_websocket(fresh)) return;
    frames = ws_->reader.feed(fresh);
    fresh = fresh.first(frames.data);
  }
  if (fresh.empty()) {
    // Only frame headers or control frames.
  } else if (unfinished_.empty()) {
    keep_unconsumed(fresh, consume(fresh));
  } else {
    unfinished_.insert(unfinished_.end(), fresh.begin(), fresh.end());
    std::vector<std::uint8_t> input = std::move(unfinished_);
    unfinished_.clear();
    keep_unconsumed(input, consume(input));
  }
  if (ws_ && (!frames.controls.empty() || frames.error))
    on_websocket_events(frames.controls, frames.error);
  if (phase_ == phase::awaiting_connect) wait_readable();
  if (phase_ == phase::bound) read_more_or_pause();
}

bool mqtt_connection::upgrade_websocket(std::span<std::uint8_t>& fresh) {
  // The request is kept until whole; read_upgrade bounds it.
  unfinished_.insert(unfinished_.end(), fresh.begin(), fresh.end());
  auto outcome = websocket::read_upgrade(unfinished_, ws_->rules);
  using verdict = websocket::upgrade_outcome::verdict;
  if (outcome.result == verdict::incomplete) {
    wait_readable();
    return false;
  }
  if (outcome.result == verdict::refused) {
    metrics::add(counter::refused_websocket_upgrade);
    spdlog::info("refused WebSocket upgrade from {}: {} {}", peer(), outcome.status,
                 outcome.reason);
    unfinished_ = {};
    write_raw({outcome.response.begin(), outcome.response.end()});
    begin_close();
    return false;
  }
  write_raw({outcome.response.begin(), outcome.response.end()});
  ws_->upgraded = true;
  metrics::add(counter::websocket_upgrades);
  // Frames the client sent right behind its request.
  auto& buffer = thread_read_buffer();
  std::size_t rest = unfinished_.size() - outcome.consumed;
  std::copy(unfinished_.begin() + static_cast<std::ptrdiff_t>(outcome.consumed), unfinished_.end(),
            buffer.begin());
  unfinished_ = {};
  fresh = std::span<std::uint8_t>{buffer.data(), rest};
  return true;
}

void mqtt_connection::on_websocket_events(std::vector<websocket::control_frame>& controls,
                                          const std::optional<websocket::frame_error>& error) {
  for (auto& frame : controls) {
    if (phase_ == phase::closed) return;
    if (frame.op == websocket::opcode::ping) {
      write_raw(websocket::encode_frame(websocket::opcode::pong, frame.payload));
    } else if (frame.op == websocket::opcode::close) {
      // Echo the client's status (RFC 6455 5.5.1); the connection ends
      // without an MQTT DISCONNECT unless one came before, so a will is due.
      if (!ws_->close_sent) {
        ws_->close_sent = true;
        std::vector<std::uint8_t> payload(
            frame.payload.begin(),
            frame.payload.begin() + std::min<std::ptrdiff_t>(2, std::ssize(frame.payload)));
        write_raw(websocket::encode_frame(websocket::opcode::close, payload));
      }
      spdlog::debug("WebSocket close from {}", peer());
      return lost();
    }
  }
  if (error) {
    metrics::add(counter::refused_websocket_frame);
    spdlog::info("closing WebSocket connection from {}: {}", peer(), error->detail);
    if (!ws_->close_sent) {
      ws_->close_sent = true;
      write_raw(websocket::encode_close(error->code, error->detail));
    }
    lost();
  }
}

void mqtt_connection::write_raw(std::vector<std::uint8_t> bytes) {
  std::vector<outbound_frame> frames(1);
  frames.front().head = std::move(bytes);
  write_frames(std::move(frames), false);
}

// Credit-based flow control towards the session: at most inbound_window
// packets wait in its mailbox. Past that the connection stops reading, TCP
// pushes back on the client, and consumed() resumes at half the window.
void mqtt_connection::read_more_or_pause() {
  if (unprocessed_.load() <= inbound_window) return wait_readable();
  metrics::add(counter::inbound_paused);
  paused_.store(true);
  // The session may have caught up between the check and the flag.
  if (unprocessed_.load() <= inbound_window / 2 && paused_.exchange(false)) wait_readable();
}

void mqtt_connection::consumed(std::uint32_t packets) {
  auto left = unprocessed_.fetch_sub(packets) - packets;
  if (left > inbound_window / 2 || !paused_.load() || !paused_.exchange(false)) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == phase::bound) self->wait_readable();
  });
}

void mqtt_connection::keep_unconsumed(mqtt::byte_view input, std::size_t consumed) {
  if (phase_ == phase::closing || phase_ == phase::closed) return;
  unfinished_.assign(input.begin() + static_cast<std::ptrdiff_t>(consumed), input.end());
  if (unfinished_.empty()) unfinished_.shrink_to_fit();
}

std::size_t mqtt_connection::consume(mqtt::byte_view input) {
  std::size_t offset = 0;
  mqtt::decode_options options{version_, ctx_.broker->settings.max_packet_size};
  while (offset < input.size() && (phase_ == phase::awaiting_connect || phase_ == phase::bound)) {
    auto r = mqtt::decode(input.subspan(offset), options);
    if (r.incomplete()) break;
    if (r.failed()) {
      fail(r);
      return input.size();
    }
    offset += r.consumed;
    dispatch(std::move(r.value));
  }
  return offset;
}

void mqtt_connection::dispatch(mqtt::packet&& p) {
  metrics::add(counter::packets_received);
  // Keep alive counts whole packets (spec 3.1.2.10): a client trickling
  // bytes of one packet is as silent as one sending nothing.
  last_heard_ms_.store(steady_now_ms(), std::memory_order_relaxed);
  if (phase_ == phase::awaiting_connect) {
    if (auto* c = std::get_if<mqtt::connect_packet>(&p)) return on_connect(std::move(*c));
    // The first packet must be CONNECT; with no version agreed there is no
    // way to say why, so the connection just closes (spec 3.1).
    metrics::add(counter::refused_protocol_error);
    return begin_close();
  }
  struct visitor {
    mqtt_connection* self;
    void operator()(mqtt::publish_packet& x) {
      if (!self->within_publish_rate(x)) {
        metrics::add(counter::refused_publish_rate);
        return self->violate(reason_code::message_rate_too_high,
                             "above mqtt.max_publish_rate or mqtt.max_publish_bytes_rate");
      }
      self->to_session(std::move(x));
    }
    void operator()(mqtt::pub_ack_packet& x) { self->to_session(std::move(x)); }
    void operator()(mqtt::subscribe_packet& x) { self->to_session(std::move(x)); }
    void operator()(mqtt::unsubscribe_packet& x) { self->to_session(std::move(x)); }
    void operator()(mqtt::auth_packet& x) { self->on_auth(std::move(x)); }
    void operator()(mqtt::pingreq_packet&) { self->write_now(mqtt::pingresp_packet{}); }
    void operator()(mqtt::disconnect_packet& x) {
      // The session closes the connection once it has read the DISCONNECT.
      self->phase_ = phase::closing;
      caf::anon_send(self->session_, self->id(), std::move(x));
    }
    void operator()(mqtt::connect_packet&) {
      self->violate(reason_code::protocol_error, "second CONNECT on a connection");
    }
    // Packets only a server sends.
    void operator()(mqtt::connack_packet&) { self->server_only(mqtt::packet_type::connack); }
    void operator()(mqtt::suback_packet&) { self->server_only(mqtt::packet_type::suback); }
    void operator()(mqtt::unsuback_packet&) { self->server_only(mqtt::packet_type::unsuback); }
    void operator()(mqtt::pingresp_packet&) { self->server_only(mqtt::packet_type::pingresp); }
  };
  std::visit(visitor{this}, p);
}

void mqtt_connection::on_connect(mqtt::connect_packet&& c) {
  version_ = c.version;
  if (auto limit = c.props.number(mqtt::property_id::maximum_packet_size))
    client_maximum_packet_size_ = *limit;
  auto accepted = accept_connect(c, ctx_.broker->settings, make_assigned_client_id());
  spdlog::debug("CONNECT from {} as '{}' (MQTT {})", peer(), c.client_id,
                c.version == mqtt::protocol_version::v5 ? "5.0" : "3.1.1");
  if (auto* rc = std::get_if<reason_code>(&accepted))
    return refuse_connect(c.version, *rc, "CONNECT refused");
  if (refusal_ != reason_code::success)
    return refuse_connect(c.version, refusal_,
                          refusal_ == reason_code::server_busy
                              ? "the node holds mqtt.max_connections connections"
                              : "too many connections from this address per second");
  phase_ = phase::connecting;
  silence_limit_ms_.store(0);
  auto params = std::move(std::get<connection_params>(accepted));
  // A verified client certificate is the client's login: its identity is
  // the username, and username and password in the CONNECT are not used.
  std::string why;
  if (auto who = certificate_principal_of_peer(why)) {
    params.principal = make_principal(std::move(*who));
    return hand_to_registry(std::move(params));
  }
  if (!why.empty()) {
    metrics::add(counter::refused_not_authorized);
    spdlog::info("refused '{}' from {}: {}", params.client_id, peer(), why);
    return refuse_connect(version_, reason_code::not_authorized, why);
  }
  if (c.username)
    params.principal = make_principal(*c.username, auth_method::password, {},
                                      ctx_.auth && ctx_.auth->checks_passwords());
  if (!ctx_.auth) return hand_to_registry(std::move(params));
  std::optional<std::string> token;
  if (params.enhanced_auth) {
    const auto* data = c.props.string(mqtt::property_id::authentication_data);
    token = data ? *data : std::string{};
  }
  ctx_.auth->check(
      std::move(c.username), std::move(c.password), std::move(token), socket_.get_executor(),
      [self = shared_from_this(), params = std::move(params)](authenticator::outcome o) mutable {
        self->on_authenticated(std::move(o), std::move(params));
      });
}

std::optional<client_principal> mqtt_connection::certificate_principal_of_peer(
    std::string& why) const {
  if (!tls_) return std::nullopt;
  X509* cert;
  {
    std::lock_guard lock{mutex_};
    if (!tls_->peer_verified()) return std::nullopt;
    cert = tls_->peer_certificate();
  }
  // The certificate stays with the TLS session, which outlives this call;
  // it is read once for both the identity and the fingerprint.
  auto read = read_certificate_identity(cert);
  auto identity = pick_identity(read, ctx_.certificate_identity_field);
  if (!identity) {
    why = "the client certificate has no " + ctx_.certificate_identity_field +
          " to name the device by (tls.identity)";
    return std::nullopt;
  }
  client_principal who;
  who.identity = std::move(*identity);
  who.method = auth_method::certificate;
  who.verified = true;
  who.fingerprint = std::move(read.fingerprint_sha256);
  return who;
}

namespace {

// The principal a verified token proves.
principal_ptr token_principal(authenticator::outcome& o) {
  client_principal who;
  who.identity = std::move(o.token_identity);
  who.method = auth_method::jwt;
  who.verified = true;
  who.expires_at = o.token_expires_at;
  return make_principal(std::move(who));
}

}  // namespace

// AUTH with Re-authenticate and a fresh token: checked here, where the keys
// are; the session decides what the outcome means for the connection.
void mqtt_connection::on_auth(mqtt::auth_packet&& a) {
  const auto* method = a.props.string(mqtt::property_id::authentication_method);
  if (!ctx_.auth || !ctx_.auth->accepts_tokens() || a.reason != reason_code::re_authenticate ||
      !method || *method != jwt_authentication_method) {
    // Not a re-authentication we do: the session answers with the right
    // protocol error.
    caf::anon_send(session_, id(), std::move(a));
    return;
  }
  const auto* data = a.props.string(mqtt::property_id::authentication_data);
  ctx_.auth->check_token(data ? *data : std::string{}, socket_.get_executor(),
                         [self = shared_from_this()](authenticator::outcome o) {
                           if (self->phase_ != phase::bound) return;
                           reauthentication r;
                           r.connection = self->id();
                           r.ok = o.rc == reason_code::success;
                           r.why = std::move(o.why);
                           if (r.ok) r.principal = token_principal(o);
                           caf::anon_send(self->session_, std::move(r));
                         });
}

void mqtt_connection::hand_to_registry(connection_params params) {
  // With a policy, every client needs a role, and its role says which
  // client ids it may use: nobody takes over a session by naming its id.
  if (auto policy = ctx_.broker->access->current()) {
    std::string role = policy->role_for(params.principal);
    const access_role* rules = role.empty() ? nullptr : policy->find(role);
    const client_principal* who = params.principal ? params.principal.ptr.get() : nullptr;
    std::string name = who ? "'" + who->identity + "'" : "an anonymous client";
    if (!rules) {
      metrics::add(counter::refused_not_authorized);
      spdlog::info("refused {} as '{}' from {}: no role in auth.acl_file", name, params.client_id,
                   peer());
      return refuse_connect(version_, reason_code::not_authorized, "no role for this login");
    }
    if (!access_policy::may_use_client_id(*rules,
                                          access_policy::subject_of(who, params.client_id))) {
      metrics::add(counter::refused_client_id_not_allowed);
      spdlog::warn("refused {} (role {}) from {}: client id '{}' is not one it may use", name, role,
                   peer(), params.client_id);
      return refuse_connect(version_, reason_code::not_authorized,
                            "this login may not use this client identifier");
    }
    client_principal with_role;
    if (who) {
      with_role = *who;
    } else {
      with_role.method = auth_method::anonymous;
    }
    with_role.role = std::move(role);
    params.principal = make_principal(std::move(with_role));
  }
  caf::anon_send(ctx_.registry, connect_request{std::move(params), shared_from_this()});
}

// The authenticator's verdict, on this connection's I/O thread. A refusal
// waits auth.failure_delay_ms, which slows down anyone guessing passwords.
void mqtt_connection::on_authenticated(authenticator::outcome o, connection_params params) {
  if (phase_ != phase::connecting) return;  // closed meanwhile
  reason_code rc = o.rc;
  if (rc == reason_code::success) {
    if (params.principal) ctx_.auth_succeeded(peer_address());
    if (!o.token_identity.empty()) {
      // A token names its service by its identity claim; the username of
      // the CONNECT, if any, is not used.
      params.principal = token_principal(o);
    }
    return hand_to_registry(std::move(params));
  }
  metrics::add(rc == reason_code::not_authorized ? counter::refused_not_authorized
                                                 : counter::refused_bad_credentials);
  spdlog::info("refused login of '{}' from {}: {}", params.client_id, peer(),
               o.why.empty() ? std::string{mqtt::to_string(rc)} : o.why);
  std::string why = !o.why.empty()                      ? o.why
                    : rc == reason_code::not_authorized ? "a username is required"
                                                        : "bad username or password";
  std::uint32_t delay_ms =
      rc == reason_code::bad_user_name_or_password
          ? ctx_.auth_failure_delay(peer_address(), ctx_.auth_failure_delay_ms, steady_now_ms())
          : ctx_.auth_failure_delay_ms;
  if (delay_ms == 0) return refuse_connect(version_, rc, why);
  auto timer = std::make_shared<boost::asio::steady_timer>(socket_.get_executor(),
                                                           std::chrono::milliseconds(delay_ms));
  timer->async_wait(
      [self = shared_from_this(), timer, rc, why = std::move(why)](boost::system::error_code) {
        if (self->phase_ == phase::connecting) self->refuse_connect(self->version_, rc, why);
      });
}

void mqtt_connection::refuse_connect(mqtt::protocol_version version, reason_code reason,
                                     const std::string& why, const std::string& server_reference) {
  metrics::add(counter::connections_refused);
  spdlog::debug("refused connection from {}: {} ({})", peer(), mqtt::to_string(reason), why);
  version_ = version;
  mqtt::connack_packet refusal{false, reason, {}};
  if (!server_reference.empty())
    refusal.props.add(mqtt::property_id::server_reference, server_reference);
  refusal.props.add(mqtt::property_id::reason_string, why);
  write_now(refusal);
  begin_close();
}

void mqtt_connection::fail(const mqtt::decode_result& r) {
  metrics::add(counter_for(r.error));
  spdlog::debug("closing connection from {}: {} ({})", peer(), mqtt::to_string(r.error), r.detail);
  if (phase_ == phase::awaiting_connect) {
    // A CONNECT we could read far enough to know its version is answered
    // with a CONNACK; 3.1.1 has a return code only for the protocol version.
    if (r.connect_version == mqtt::protocol_version::v5) {
      refuse_connect(mqtt::protocol_version::v5, r.error, r.detail);
    } else if (r.error == reason_code::unsupported_protocol_version) {
      refuse_connect(mqtt::protocol_version::v311, r.error, r.detail);
    } else {
      begin_close();
    }
    return;
  }
  violate(r.error, r.detail);
}

void mqtt_connection::server_only(mqtt::packet_type type) {
  violate(reason_code::protocol_error,
          std::string{mqtt::to_string(type)} + " is sent only by servers");
}

// MQTT 5 clients are told why in a DISCONNECT (mqtt::disconnect_bytes, as
// the session does); 3.1.1 connections just close.
void mqtt_connection::violate(reason_code reason, const std::string& why) {
  write_disconnect(reason, why);
  lost();
}

// The connection ends without a DISCONNECT from the client (or with a bad
// packet): the session publishes the will if there is one.
void mqtt_connection::lost() {
  bool was_bound = phase_ == phase::bound;
  begin_close();
  if (was_bound)
    caf::anon_send(session_, connection_closed{id(), false, reason_code::unspecified_error});
}

// MQTT 5 clients get a DISCONNECT (mqtt::disconnect_bytes); 3.1.1 ones
// nothing, their connection just closes.
void mqtt_connection::write_disconnect(reason_code reason, std::string_view why) {
  auto goodbye = mqtt::disconnect_bytes(version_, reason, why, client_maximum_packet_size_);
  if (!goodbye) return;
  std::vector<outbound_frame> frames(1);
  frames.front().head = std::move(*goodbye);
  write(std::move(frames));
  metrics::add(counter::packets_sent);
}

void mqtt_connection::write_now(const mqtt::packet& p) {
  std::vector<outbound_frame> frames(1);
  if (!mqtt::encode_within(p, version_, client_maximum_packet_size_, frames.front().head)) {
    metrics::add(counter::dropped_too_large_for_client);
    return;
  }
  write(std::move(frames));
  metrics::add(counter::packets_sent);
}

void mqtt_connection::bind(caf::actor session, std::uint16_t keep_alive) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), session = std::move(session),
                                      keep_alive]() mutable {
    if (self->phase_ != phase::connecting) {
      // The socket died while the session was being found: tell it.
      caf::anon_send(session, connection_closed{self->id(), false, reason_code::unspecified_error});
      return;
    }
    self->session_ = std::move(session);
    self->phase_ = phase::bound;
    self->last_heard_ms_.store(steady_now_ms(), std::memory_order_relaxed);
    self->silence_limit_ms_.store(std::uint32_t{keep_alive} * 1500);
    // Packets that arrived right behind the CONNECT.
    std::vector<std::uint8_t> input = std::move(self->unfinished_);
    self->unfinished_.clear();
    self->keep_unconsumed(input, self->consume(input));
    if (self->phase_ == phase::bound) self->read_more_or_pause();
  });
}

session_sink::write_result mqtt_connection::write(std::vector<outbound_frame> frames) {
  // A DISCONNECT, from the session or from here, makes the close linger
  // (see linger_for_close). Every frame starts with its packet's fixed
  // header, so the first byte tells.
  for (const auto& f : frames)
    if (!f.shared_head && !f.head.empty() && (f.head.front() & 0xF0) == 0xE0)
      disconnect_written_.store(true, std::memory_order_relaxed);
  return write_frames(std::move(frames), ws_ != nullptr);
}

session_sink::write_result mqtt_connection::write_frames(std::vector<outbound_frame> frames,
                                                         bool as_websocket_data) {
  write_result result;
  std::lock_guard lock{mutex_};
  if (gone_) return {0, true};
  // QoS 0 frames beyond the backlog bound are refused one by one, so the
  // frames before and after them keep their order.
  std::size_t accepted_bytes = 0;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    std::size_t size = frames[i].size();
    if (frames[i].droppable && backlog_bytes_ + accepted_bytes + size > ctx_.max_outbound_bytes) {
      ++result.refused;
      continue;
    }
    accepted_bytes += size;
    if (kept != i) frames[kept] = std::move(frames[i]);
    ++kept;
  }
  frames.resize(kept);
  if (frames.empty()) return result;
  if (as_websocket_data) {
    // One binary frame around all of them: MQTT over WebSocket may put
    // several packets into one frame (MQTT 5.0 6.0).
    std::array<std::uint8_t, 10> header;
    std::size_t size = websocket::encode_header(websocket::opcode::binary, accepted_bytes, header);
    outbound_frame framing;
    framing.head.assign(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(size));
    accepted_bytes += size;
    frames.insert(frames.begin(), std::move(framing));
  }
  if (write_scheduled_ || close_requested_) {
    backlog_bytes_ += accepted_bytes;
    for (auto& f : frames)
      queued_.push_back(std::move(f));
    schedule_write_locked();
    return result;
  }
  send_or_queue_locked(frames);
  result.gone = gone_;
  return result;
}

// A write handed to the I/O thread costs a wake-up of that thread and a
// context switch per write; most writes fit in the socket buffer at once, so
// the actor thread that produced them sends them itself. The mutex keeps the
// descriptor open meanwhile: close_socket() marks the connection gone under
// it before closing.
void mqtt_connection::send_or_queue_locked(std::vector<outbound_frame>& frames) {
  thread_local std::vector<iovec> pieces;
  pieces.clear();
  std::size_t total = 0;
  auto add = [&](const void* data, std::size_t size) {
    if (size == 0) return;
    pieces.push_back({const_cast<void*>(data), size});
    total += size;
  };
  for (const auto& f : frames) {
    if (f.shared_head)
      add(f.shared_head->data(), f.shared_head->size());
    else
      add(f.head.data(), f.head.size());
    if (f.body) add(f.body->data(), f.body->size());
  }
  std::size_t sent = 0;
  if (tls_) {
    // TLS encrypts into records anyway, so the pieces are copied into one
    // plaintext buffer first and handed over in as few records as fit.
    thread_local std::vector<std::uint8_t> plain;
    plain.clear();
    plain.reserve(total);
    for (const auto& piece : pieces) {
      auto* data = static_cast<const std::uint8_t*>(piece.iov_base);
      plain.insert(plain.end(), data, data + piece.iov_len);
    }
    auto r = tls_->write(plain.data(), plain.size());
    if (plain.capacity() > 256 * 1024) plain = {};  // one huge message must not pin memory
    if (r.state == tls_stream::status::closed || r.state == tls_stream::status::failed) {
      gone_ = true;
      asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->phase_ != phase::closed) self->lost();
        self->close_socket();
      });
      return;
    }
    sent = r.bytes;
    metrics::add(counter::bytes_sent, sent);
  } else if (pieces.size() <= IOV_MAX) {
    msghdr msg{};
    msg.msg_iov = pieces.data();
    msg.msg_iovlen = pieces.size();
    ssize_t n = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // The reading side sees the same failure and ends the session.
      gone_ = true;
      asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->phase_ != phase::closed) self->lost();
        self->close_socket();
      });
      return;
    }
    sent = n > 0 ? static_cast<std::size_t>(n) : 0;
    metrics::add(counter::bytes_sent, sent);
  }
  if (sent == total) return;
  // The socket buffer is full: the unsent rest waits for the I/O thread,
  // which writes once the socket is writable again.
  outbound_frame rest;
  rest.head.reserve(total - sent);
  for (const auto& piece : pieces) {
    auto* data = static_cast<const std::uint8_t*>(piece.iov_base);
    if (sent >= piece.iov_len) {
      sent -= piece.iov_len;
      continue;
    }
    rest.head.insert(rest.head.end(), data + sent, data + piece.iov_len);
    sent = 0;
  }
  backlog_bytes_ += rest.head.size();
  queued_.push_back(std::move(rest));
  schedule_write_locked();
}

void mqtt_connection::schedule_write_locked() {
  if (write_scheduled_) return;
  write_scheduled_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->do_write(); });
}

void mqtt_connection::do_write() {
  auto batch = std::move(writing_);
  {
    std::lock_guard lock{mutex_};
    if (queued_.empty()) {
      write_scheduled_ = false;
      queued_ = {};  // idle again: most connections stay idle, hold nothing
      if (!close_requested_) return;
      gone_ = true;
    } else {
      if (!batch) batch = std::make_unique<write_batch>();
      batch->frames.swap(queued_);
    }
  }
  if (!batch || batch->frames.empty()) return finish_close();
  gather(*batch);
  writing_ = std::move(batch);
  if (tls_) {
    writing_->tls_written = 0;
    return write_tls();
  }
  asio::async_write(socket_, writing_->buffers,
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                      self->on_written(ec, n);
                    });
}

// The I/O thread's write of a batch through TLS: as much as the socket
// takes, then wait until it is writable again.
void mqtt_connection::write_tls() {
  auto& batch = *writing_;
  tls_stream::io_result r;
  {
    std::lock_guard lock{mutex_};
    r = tls_->write(batch.staging.data() + batch.tls_written,
                    batch.staging.size() - batch.tls_written);
  }
  batch.tls_written += r.bytes;
  if (batch.tls_written == batch.staging.size()) return on_written({}, batch.staging.size());
  auto again = [self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return self->on_written(ec, self->writing_->tls_written);
    self->write_tls();
  };
  switch (r.state) {
    case tls_stream::status::ok:
    case tls_stream::status::want_write:
      return socket_.async_wait(socket_type::wait_write, std::move(again));
    case tls_stream::status::want_read:
      return socket_.async_wait(socket_type::wait_read, std::move(again));
    case tls_stream::status::closed:
    case tls_stream::status::failed:
      return on_written(asio::error::connection_aborted, batch.tls_written);
  }
}

void mqtt_connection::on_written(boost::system::error_code ec, std::size_t n) {
  metrics::add(counter::bytes_sent, n);
  writing_->frames.clear();
  writing_->buffers.clear();
  {
    std::lock_guard lock{mutex_};
    backlog_bytes_ -= std::min(backlog_bytes_, n);
    if (ec) {
      gone_ = true;
      queued_.clear();
      backlog_bytes_ = 0;
    }
  }
  if (ec) {
    writing_.reset();
    if (phase_ != phase::closed) lost();
    close_socket();
    return;
  }
  do_write();
}

// Turns the frames of one write into as few buffers as possible. A writev
// takes at most 64 buffers, so one buffer per header and payload would cost a
// system call per 32 small messages; small pieces are copied into one staging
// buffer instead, and only large payloads are written from where they are.
void mqtt_connection::gather(write_batch& batch) {
  // TLS copies every byte into its records anyway.
  const std::size_t copy_below = tls_ ? std::numeric_limits<std::size_t>::max() : 2048;
  std::size_t staged = 0;
  for (const auto& f : batch.frames) {
    staged += f.shared_head ? f.shared_head->size() : f.head.size();
    if (f.body && f.body->size() < copy_below) staged += f.body->size();
  }
  auto& staging = batch.staging;
  auto& buffers = batch.buffers;
  staging.clear();
  staging.reserve(staged);  // no reallocation below: buffers point into it
  buffers.clear();
  std::size_t segment = 0;
  auto append = [&](const auto& bytes) {
    auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
    staging.insert(staging.end(), data, data + bytes.size());
  };
  for (const auto& f : batch.frames) {
    if (f.shared_head)
      append(*f.shared_head);
    else
      append(f.head);
    if (!f.body || f.body->empty()) continue;
    if (f.body->size() < copy_below) {
      append(*f.body);
      continue;
    }
    if (staging.size() > segment)
      buffers.emplace_back(staging.data() + segment, staging.size() - segment);
    segment = staging.size();
    buffers.emplace_back(f.body->data(), f.body->size());
  }
  if (staging.size() > segment)
    buffers.emplace_back(staging.data() + segment, staging.size() - segment);
}

void mqtt_connection::close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == phase::bound || self->phase_ == phase::connecting)
      self->phase_ = phase::closing;
    self->begin_close();
  });
}

void mqtt_connection::refuse(reason_code reason, std::string why, std::string server_reference) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), reason, why = std::move(why),
                                      server_reference = std::move(server_reference)] {
    if (self->phase_ == phase::connecting)
      self->refuse_connect(self->version_, reason, why, server_reference);
  });
}

void mqtt_connection::shut_down(reason_code reason) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), reason] {
    if (self->phase_ == phase::closed) return;
    if (self->phase_ == phase::bound) self->write_disconnect(reason, {});
    if (self->ws_) self->ws_->close_code = websocket::close_code::going_away;
    self->lost();
  });
}

// Stops reading; the socket closes once queued writes are out.
void mqtt_connection::begin_close() {
  if (phase_ == phase::closed) return;
  if (phase_ != phase::closing) phase_ = phase::closing;
  unfinished_ = {};
  if (ws_ && ws_->upgraded && !ws_->close_sent) {
    ws_->close_sent = true;
    write_raw(websocket::encode_close(ws_->close_code, {}));
  }
  silence_limit_ms_.store(0);
  std::lock_guard lock{mutex_};
  close_requested_ = true;
  if (!write_scheduled_) {
    write_scheduled_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->do_write(); });
  }
}

void mqtt_connection::finish_close() {
  bool awaits_websocket_close = ws_ && ws_->close_sent && !ws_->reader.closed();
  if (phase_ != phase::closed &&
      (awaits_websocket_close || disconnect_written_.load(std::memory_order_relaxed)))
    return linger_for_close();
  close_socket();
}

// A connection that ends with a DISCONNECT, or with a WebSocket close frame
// the client has not answered yet, is not closed at once: what the client
// still sends (the PUBRELs of a client that has not read the DISCONNECT yet,
// the answer to the close frame, RFC 6455 7.1.1) would meet a closed socket,
// and the kernel answers unread bytes with a reset, which makes the client's
// next send or read fail before it has read the reason code. So the write
// side is shut down (the client reads the end after the DISCONNECT), and
// what arrives is read and dropped until the client closes, its WebSocket
// close frame arrives, or the bound is reached: linger_time, or
// linger_bytes read, whichever comes first, so a client that never stops
// sending is still cut off.
constexpr auto linger_time = std::chrono::seconds(1);
constexpr std::size_t linger_bytes = 256 * 1024;

void mqtt_connection::linger_for_close() {
  if (!linger_) {
    linger_ = std::make_unique<lingering>(socket_.get_executor());
    linger_->timer.expires_after(linger_time);
    linger_->timer.async_wait(
        [self = shared_from_this()](boost::system::error_code) { self->close_socket(); });
    if (tls_) {
      std::lock_guard lock{mutex_};
      tls_->close_notify();
    }
    boost::system::error_code ec;
    socket_.shutdown(socket_type::shutdown_send, ec);
  }
  // TLS that needs to write to read on cannot: the write side is shut.
  if (tls_read_wants_write_) return close_socket();
  socket_.async_wait(socket_type::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       if (ec) return self->close_socket();
                       self->on_linger_readable();
                     });
}

void mqtt_connection::on_linger_readable() {
  if (phase_ == phase::closed) return;
  auto& buffer = thread_read_buffer();
  boost::system::error_code ec;
  std::size_t n = read_some(buffer, ec);
  if (ec == asio::error::would_block) return linger_for_close();
  if (ec || n == 0) return close_socket();
  linger_->read += n;
  if (linger_->read >= linger_bytes) return close_socket();
  if (ws_ && ws_->upgraded) {
    auto r = ws_->reader.feed({buffer.data(), n});
    if (ws_->reader.closed() || r.error) return close_socket();
  }
  linger_for_close();
}

void mqtt_connection::close_socket() {
  if (phase_ == phase::closed) return;
  phase_ = phase::closed;
  if (linger_) linger_->timer.cancel();
  {
    std::lock_guard lock{mutex_};
    gone_ = true;
    queued_.clear();
  }
  if (tls_) {
    std::lock_guard lock{mutex_};
    tls_->close_notify();
  }
  boost::system::error_code ec;
  socket_.shutdown(socket_type::shutdown_both, ec);
  socket_.close(ec);
  metrics::add(counter::connections_closed);
  ctx_.remove(shared_from_this());
}

// Token buckets per client, refilled continuously, holding one second's
// worth (and at least one packet of the largest size, for the bytes).
bool mqtt_connection::within_publish_rate(const mqtt::publish_packet& p) {
  if (ctx_.max_publish_rate == 0 && ctx_.max_publish_bytes_rate == 0) return true;
  std::int64_t now = steady_now_ms();
  double bytes = static_cast<double>(p.topic.size() + p.payload.size());
  double messages_cap = ctx_.max_publish_rate;
  double bytes_cap = std::max<double>(ctx_.max_publish_bytes_rate,
                                      static_cast<double>(ctx_.broker->settings.max_packet_size));
  if (!rate_) rate_ = std::make_unique<publish_rate>(publish_rate{messages_cap, bytes_cap, now});
  double elapsed = static_cast<double>(now - rate_->last_ms) / 1000.0;
  rate_->last_ms = now;
  rate_->messages = std::min(messages_cap, rate_->messages + elapsed * ctx_.max_publish_rate);
  rate_->bytes = std::min(bytes_cap, rate_->bytes + elapsed * ctx_.max_publish_bytes_rate);
  if (ctx_.max_publish_rate > 0) {
    if (rate_->messages < 1) return false;
    rate_->messages -= 1;
  }
  if (ctx_.max_publish_bytes_rate > 0) {
    if (rate_->bytes < bytes) return false;
    rate_->bytes -= bytes;
  }
  return true;
}

const char* mqtt_connection::transport() const {
  if (tls_) return ws_ ? "wss" : "tls";
  return ws_ ? "ws" : "tcp";
}

std::string mqtt_connection::peer_address() const {
  boost::system::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  return ec ? std::string{} : endpoint.address().to_string();
}

std::string mqtt_connection::peer() const {
  boost::system::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (ec) return "(closed)";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace convoy::runtime
