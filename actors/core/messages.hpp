#pragma once

// Every message exchanged between Convoy's actors, with the CAF 0.17 inspect
// overloads that make them serializable, so any actor can live on any node.
// register_message_types() adds them all to an actor system config.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/core/principal.hpp"
#include "actors/core/session_sink.hpp"
#include "protocol/packets.hpp"

namespace convoy {

// Milliseconds since the Unix epoch: a time every node reads the same way.
using epoch_ms = std::int64_t;
epoch_ms now_ms();
std::int64_t now_us();  // microseconds since the Unix epoch

// An application message as published, immutable once routed. Every delivery
// of it holds the same instance.
struct app_message {
  std::string topic;
  std::shared_ptr<const std::string> payload;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  epoch_ms expires_at = 0;  // 0: never expires
  // Properties forwarded unchanged to MQTT 5 subscribers: payload format,
  // content type, response topic, correlation data, user properties.
  mqtt::properties props;
  std::string publisher;  // client id, for No Local
  // When its publisher's session received it (microseconds since the Unix
  // epoch, comparable across nodes); 0 for messages restored from storage.
  std::int64_t published_us = 0;

  // Topic and payload bytes: what queues, in-flight windows and the windows
  // to other members count.
  std::size_t size_in_bytes() const { return topic.size() + (payload ? payload->size() : 0); }

  // Encoded PUBLISH headers for deliveries that look the same to every
  // subscriber (QoS 0, no subscription identifier, no expiry), one per
  // protocol version and RETAIN flag: the first subscriber of a shape
  // encodes, the others share the bytes. Filled lazily by sessions on any
  // thread, hence the lock.
  std::shared_ptr<const mqtt::byte_buffer> shared_header(mqtt::protocol_version version,
                                                         bool retain_flag) const;

 private:
  mutable std::mutex header_mutex_;
  mutable std::array<std::shared_ptr<const mqtt::byte_buffer>, 4> headers_;
};

// The properties of a PUBLISH (or will) that pass to subscribers unchanged:
// payload format, content type, response topic, correlation data, user
// properties. Expiry, topic alias and subscription ids are per delivery.
mqtt::properties forwarded_properties(const mqtt::properties& props);

// Shared, immutable handle to an app_message.
struct message_ref {
  std::shared_ptr<const app_message> ptr;
  const app_message& operator*() const { return *ptr; }
  const app_message* operator->() const { return ptr.get(); }
};

// Topic shard -> session: one message for one subscriber, with what the
// subscriber's matching subscriptions make of it.
struct delivery {
  message_ref msg;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;  // the RETAIN flag this subscriber sees
  std::vector<std::uint32_t> subscription_ids;
  // Storage's id of the message when it is stored in this subscriber's
  // queue (a persistent session, QoS 1/2); 0 when it lives in memory only.
  std::uint64_t stored_id = 0;
};

// Topic shard -> session: the deliveries for this session that one run of
// the shard's mailbox produced, in order; one message instead of one each.
struct delivery_batch {
  std::vector<delivery> deliveries;
};

// Session -> topic shard. Answered with route_outcome (for QoS 1/2, the
// PUBACK waits for every shard's answer).
struct route_request {
  message_ref msg;
};

// Topic shard -> session: what became of a routed message. `receivers`
// sessions got it; `refused` sessions matched but their queues were full.
// For QoS 1/2 to persistent sessions the answer comes once the message is
// stored for each of them.
struct route_outcome {
  std::uint32_t receivers = 0;
  std::uint32_t refused = 0;
};

// One subscription of a session, as the session and storage keep it.
struct subscription_record {
  std::string filter;  // as subscribed, $share/{group}/ included
  mqtt::subscription_options options;
  std::uint32_t subscription_id = 0;  // 0: none
};

// Session -> topic shard. Answered with retained_batch: the retained
// messages the new subscription must receive (empty unless asked).
struct subscribe_request {
  caf::actor subscriber;
  std::string client_id;
  std::string filter;  // as subscribed, $share/{group}/ included
  mqtt::subscription_options options;
  std::uint32_t subscription_id = 0;  // 0: none
  bool send_retained = false;
  bool persistent = false;        // the subscriber's QoS 1/2 messages are stored
  std::uint32_t incarnation = 0;  // of the session, kept with its stored queue entries
  // Set for a service (consent.service_roles): its identity, for which
  // telemetry a consent purpose covers passes a consent check before it is
  // delivered (see consent_gate_setup in actors/vehicle/consent.hpp).
  std::string consent_subject;
};

// Session -> the topic shards of its subscriptions, when either changes:
// whether its messages are stored (session expiry > 0), and whether its
// queue is full with no QoS 0 message left to drop, so that QoS 1/2
// messages for it are refused with Quota exceeded.
struct subscriber_state {
  caf::actor subscriber;
  bool persistent = false;
  bool refusing = false;
  std::uint32_t incarnation = 0;
};

// Node -> topic shard at start-up: a retained message loaded from storage.
struct restore_retained {
  message_ref msg;
};

// Storage -> topic shard: what the route that `token` stands for stored
// (a retained message, queue entries of persistent sessions) is durable, or
// failed to be.
struct route_stored {
  std::uint64_t token = 0;
  bool stored = false;
};

struct retained_batch {
  std::vector<delivery> deliveries;
};

// Session -> topic shard. Answered with bool: the subscription existed.
struct unsubscribe_request {
  caf::actor subscriber;
  std::string filter;
};

// Session -> topic shard when the session ends: forget all its subscriptions.
struct drop_subscriber {
  caf::actor subscriber;
};

// Will message of a connection, as the session keeps it until it fires.
// Fields ordered by size: every session holds one.
struct will_spec {
  std::string topic;
  std::string payload;
  mqtt::properties props;             // forwarded properties
  std::uint32_t delay_interval = 0;   // seconds
  std::uint32_t expiry_interval = 0;  // seconds, 0: none
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  bool has_expiry = false;
};

// What a session needs to know of an accepted CONNECT.
struct connection_params {
  std::string client_id;
  // Who is connected; null for anonymous clients.
  principal_ptr principal;
  will_spec will;
  std::uint32_t session_expiry = 0;  // effective, seconds
  std::uint32_t client_maximum_packet_size = mqtt::max_packet_size_limit;
  std::uint16_t keep_alive = 0;  // effective, after server limits
  std::uint16_t client_receive_maximum = 65535;
  std::uint16_t client_topic_alias_maximum = 0;
  mqtt::protocol_version version = mqtt::protocol_version::v5;
  bool assigned_client_id = false;
  bool clean_start = true;
  bool keep_alive_lowered = false;  // tell the client by Server Keep Alive
  bool session_expiry_lowered = false;
  bool request_problem_information = true;
  bool has_will = false;
  bool enhanced_auth = false;  // MQTT 5 Authentication Method JWT: AUTH may renew the token
};

// Where an outgoing QoS 1/2 message stands with its client, as stored.
enum class outgoing_stage : std::uint8_t {
  queued = 0,       // not sent yet
  sent = 1,         // PUBLISH sent under packet_id, PUBACK or PUBREC outstanding
  pubrel_sent = 2,  // QoS 2: PUBREC received, PUBREL sent, PUBCOMP outstanding
};

// One message of a persistent session's queue or window, loaded from
// storage at start-up.
struct stored_delivery {
  delivery d;  // d.stored_id is the message's storage id
  std::uint16_t packet_id = 0;
  outgoing_stage stage = outgoing_stage::queued;
};

// A persistent session as storage keeps it across restarts.
struct session_record {
  connection_params params;  // client id, version, session expiry and will
  std::vector<subscription_record> subscriptions;
  epoch_ms disconnected_at = 0;  // 0: the client was connected when written
  // Incoming QoS 2 packet ids received and not yet released (loaded only).
  std::vector<std::uint16_t> qos2_received;
  // Outgoing QoS 1/2 messages in the order they were queued (loaded only).
  std::vector<stored_delivery> outgoing;
  // Tells this session's stored queue entries from those an earlier session
  // of the same client id left behind (random, per session).
  std::uint32_t incarnation = 0;
  // Loaded from a record that did not say who owns the session (written by
  // an older version): the first client to resume it becomes its owner.
  bool owner_unknown = false;
};

// Node -> registry -> new session at start-up: a session loaded from
// storage. Answered with true once the session's subscriptions are on
// their way to the shards.
struct restore_session {
  session_record record;
};

// Edge -> session registry: a CONNECT arrived on `sink`.
struct connect_request {
  connection_params params;
  sink_ptr sink;
};

// Session registry -> session: take over this connection.
struct attach_connection {
  connection_params params;
  sink_ptr sink;
  // The registry deleted a stored session of this client id for the clean
  // start: the CONNACK waits until that is durable.
  bool replaced_stored = false;
};

// Storage -> session: what the session stored when connection
// `generation` attached is durable (or failed), so its CONNACK may go.
struct session_stored {
  std::uint64_t generation = 0;
  bool stored = false;
};

// Session registry -> session: a clean start for the same client id replaces
// this session; end it now.
struct discard_session {};

// ---- device registry ----

enum class vehicle_status : std::uint8_t { active = 0, suspended = 1 };
enum class device_status : std::uint8_t { active = 0, replaced = 1, suspended = 2, revoked = 3 };

std::string_view to_string(vehicle_status s);
std::string_view to_string(device_status s);

// A device of a vehicle, known by its certificate's SHA-256 fingerprint.
struct device_record {
  std::string device_id;
  std::string fingerprint;  // lower-case hex, no colons
  device_status status = device_status::active;
  epoch_ms added_at = 0;
};

struct vehicle_record {
  std::string vin;
  std::string model;
  std::string region;
  vehicle_status status = vehicle_status::active;
  epoch_ms created_at = 0;
  epoch_ms updated_at = 0;
  std::vector<device_record> devices;
};

// Control -> registry shard: one change to (or read of) one vehicle.
struct registry_command {
  enum class op : std::uint8_t {
    create_vehicle,   // vin, model, region
    update_vehicle,   // vin, model and region (empty: unchanged)
    suspend_vehicle,  // vin: its devices are disconnected and refused
    activate_vehicle,
    delete_vehicle,
    add_device,      // vin, device_id, fingerprint
    replace_device,  // vin, old_device_id -> device_id, fingerprint (part replacement)
    suspend_device,  // vin, device_id
    activate_device,
    revoke_device,  // vin, device_id: for good
    get_vehicle,
  };
  op what = op::get_vehicle;
  std::string vin;
  std::string model;
  std::string region;
  std::string device_id;
  std::string fingerprint;
  std::string old_device_id;
};

// Registry shard -> control: done (with the vehicle as it is now), or why not.
struct registry_result {
  bool ok = false;
  std::string error;  // "vehicle not found", "vehicle exists", ...
  vehicle_record vehicle;
};

// Session registry or session -> registry shard: may the device with this
// certificate fingerprint connect as vehicle `vin`?
struct registry_check {
  std::string vin;
  std::string fingerprint;
};

struct registry_verdict {
  bool allowed = false;
  std::string reason;  // why not: "vehicle not registered", "vehicle suspended", ...
  std::string region;  // the vehicle's, for {region} in access rules
};

// Registry shard -> session registry -> the sessions of that vehicle: its
// record changed; connected devices check again whether they may stay.
struct vehicle_changed {
  std::string vin;
};

// Node -> registry shard: where vehicle_changed goes.
struct registry_listener {
  caf::actor session_registry;
};

// Edge -> session: the outcome of an AUTH re-authentication (MQTT 5,
// Authentication Method JWT) on connection `connection`: the principal the
// fresh token proves, or why it proves nothing.
struct reauthentication {
  std::uint64_t connection = 0;
  bool ok = false;
  principal_ptr principal;
  std::string why;
};

// Session -> itself: the token of the connection of `generation` expires now.
struct token_expiry {
  std::uint32_t generation = 0;
};

// Topic shard -> session: a QoS 1/2 message for this session was refused
// because its queue is full (counted by the shard), for its refusal log.
struct delivery_refused {
  std::string topic;
};

// Node -> session registry -> every session: the access policy changed
// (auth.acl_file reloaded). Sessions check their subscriptions again and
// drop those no longer allowed; publishes are checked against the new rules
// from now on.
struct access_changed {};

// Edge -> session: the connection is gone. `graceful` is true after a
// DISCONNECT with reason 0x00, which deletes the will.
struct connection_closed {
  std::uint64_t connection = 0;  // session_sink::id()
  bool graceful = false;
  mqtt::reason_code reason = mqtt::reason_code::success;
};

// Session timers; the generation tells a stale timer from the current one.
struct will_timer {
  std::uint64_t generation = 0;
};
struct expiry_timer {
  std::uint64_t generation = 0;
};

// Session or topic shard -> itself: send what was gathered while handling
// the messages that were in its mailbox.
using flush_atom = caf::atom_constant<caf::atom("flush")>;

// Session -> itself: drop the expired messages of its queue.
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

void register_message_types(caf::actor_system_config& cfg);

// ---- inspect overloads (CAF 0.17 form) ----

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery& x) {
  return f(caf::meta::type_name("delivery"), x.msg, x.qos, x.retain, x.subscription_ids,
           x.stored_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_outcome& x) {
  return f(caf::meta::type_name("route_outcome"), x.receivers, x.refused);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_state& x) {
  return f(caf::meta::type_name("subscriber_state"), x.subscriber, x.persistent, x.refusing,
           x.incarnation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_delivery& x) {
  return f(caf::meta::type_name("stored_delivery"), x.d, x.packet_id, x.stage);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_request& x) {
  return f(caf::meta::type_name("route_request"), x.msg);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscribe_request& x) {
  return f(caf::meta::type_name("subscribe_request"), x.subscriber, x.client_id, x.filter,
           x.options, x.subscription_id, x.send_retained, x.persistent, x.incarnation,
           x.consent_subject);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_batch& x) {
  return f(caf::meta::type_name("delivery_batch"), x.deliveries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restore_retained& x) {
  return f(caf::meta::type_name("restore_retained"), x.msg);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_stored& x) {
  return f(caf::meta::type_name("route_stored"), x.token, x.stored);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_batch& x) {
  return f(caf::meta::type_name("retained_batch"), x.deliveries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unsubscribe_request& x) {
  return f(caf::meta::type_name("unsubscribe_request"), x.subscriber, x.filter);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drop_subscriber& x) {
  return f(caf::meta::type_name("drop_subscriber"), x.subscriber);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, will_spec& x) {
  return f(caf::meta::type_name("will_spec"), x.topic, x.payload, x.qos, x.retain, x.delay_interval,
           x.expiry_interval, x.has_expiry, x.props);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_params& x) {
  return f(caf::meta::type_name("connection_params"), x.version, x.client_id, x.assigned_client_id,
           x.clean_start, x.keep_alive, x.keep_alive_lowered, x.session_expiry,
           x.session_expiry_lowered, x.client_receive_maximum, x.client_maximum_packet_size,
           x.client_topic_alias_maximum, x.request_problem_information, x.has_will, x.will,
           x.principal, x.enhanced_auth);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_record& x) {
  return f(caf::meta::type_name("subscription_record"), x.filter, x.options, x.subscription_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_record& x) {
  return f(caf::meta::type_name("session_record"), x.params, x.subscriptions, x.disconnected_at,
           x.qos2_received, x.outgoing, x.incarnation, x.owner_unknown);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_stored& x) {
  return f(caf::meta::type_name("session_stored"), x.generation, x.stored);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restore_session& x) {
  return f(caf::meta::type_name("restore_session"), x.record);
}

// A sink is a socket on this node; it cannot travel. Sessions live where
// their connection is, so these messages stay local. Should one ever be
// deserialized, it arrives without a sink, which the session treats as a
// connection that is already gone.
struct sink_marker {
  bool present = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sink_marker& x) {
  return f(caf::meta::type_name("node_local_sink"), x.present);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connect_request& x) {
  sink_marker marker{x.sink != nullptr};
  return f(caf::meta::type_name("connect_request"), x.params, marker);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attach_connection& x) {
  sink_marker marker{x.sink != nullptr};
  return f(caf::meta::type_name("attach_connection"), x.params, marker, x.replaced_stored);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, discard_session&) {
  return f(caf::meta::type_name("discard_session"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_record& x) {
  return f(caf::meta::type_name("device_record"), x.device_id, x.fingerprint, x.status, x.added_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_record& x) {
  return f(caf::meta::type_name("vehicle_record"), x.vin, x.model, x.region, x.status, x.created_at,
           x.updated_at, x.devices);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_command& x) {
  return f(caf::meta::type_name("registry_command"), x.what, x.vin, x.model, x.region, x.device_id,
           x.fingerprint, x.old_device_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_result& x) {
  return f(caf::meta::type_name("registry_result"), x.ok, x.error, x.vehicle);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_check& x) {
  return f(caf::meta::type_name("registry_check"), x.vin, x.fingerprint);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_verdict& x) {
  return f(caf::meta::type_name("registry_verdict"), x.allowed, x.reason, x.region);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_changed& x) {
  return f(caf::meta::type_name("vehicle_changed"), x.vin);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_listener& x) {
  return f(caf::meta::type_name("registry_listener"), x.session_registry);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reauthentication& x) {
  return f(caf::meta::type_name("reauthentication"), x.connection, x.ok, x.principal, x.why);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_expiry& x) {
  return f(caf::meta::type_name("token_expiry"), x.generation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_refused& x) {
  return f(caf::meta::type_name("delivery_refused"), x.topic);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, access_changed&) {
  return f(caf::meta::type_name("access_changed"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_closed& x) {
  return f(caf::meta::type_name("connection_closed"), x.connection, x.graceful, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, will_timer& x) {
  return f(caf::meta::type_name("will_timer"), x.generation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, expiry_timer& x) {
  return f(caf::meta::type_name("expiry_timer"), x.generation);
}

// app_message travels by value across nodes and is shared within one.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_ref& x) {
  std::string topic, payload, publisher;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  epoch_ms expires_at = 0;
  mqtt::properties props;
  std::int64_t published_us = 0;
  if (x.ptr) {
    published_us = x->published_us;
    topic = x->topic;
    payload = x->payload ? *x->payload : std::string{};
    qos = x->qos;
    retain = x->retain;
    expires_at = x->expires_at;
    props = x->props;
    publisher = x->publisher;
  }
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("app_message"), topic, payload, qos, retain, expires_at, props,
             publisher, published_us);
  } else {
    return f(caf::meta::type_name("app_message"), topic, payload, qos, retain, expires_at, props,
             publisher, published_us, caf::meta::load_callback([&]() -> caf::error {
               auto m = std::make_shared<app_message>();
               m->topic = std::move(topic);
               m->payload = std::make_shared<const std::string>(std::move(payload));
               m->qos = qos;
               m->retain = retain;
               m->expires_at = expires_at;
               m->props = std::move(props);
               m->publisher = std::move(publisher);
               m->published_us = published_us;
               x.ptr = std::move(m);
               return caf::none;
             }));
  }
}

}  // namespace convoy

namespace convoy::mqtt {

// Properties travel as (id, number, text, text2) rows, which CAF can carry.
struct property_row {
  std::uint8_t id = 0;
  std::uint32_t number = 0;
  std::string text;
  std::string text2;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, property_row& x) {
  return f(caf::meta::type_name("property"), x.id, x.number, x.text, x.text2);
}

std::vector<property_row> to_rows(const properties& props);
properties from_rows(const std::vector<property_row>& rows);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, properties& x) {
  auto rows = to_rows(x);
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("properties"), rows);
  } else {
    return f(caf::meta::type_name("properties"), rows,
             caf::meta::load_callback([&]() -> caf::error {
               x = from_rows(rows);
               return caf::none;
             }));
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_options& x) {
  return f(caf::meta::type_name("subscription_options"), x.max_qos, x.no_local,
           x.retain_as_published, x.retain_handling);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscribe_entry& x) {
  return f(caf::meta::type_name("subscribe_entry"), x.filter, x.options);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, publish_packet& x) {
  return f(caf::meta::type_name("publish_packet"), x.topic, x.payload, x.qos, x.retain, x.dup,
           x.packet_id, x.props);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pub_ack_packet& x) {
  return f(caf::meta::type_name("pub_ack_packet"), x.type, x.packet_id, x.reason, x.props);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscribe_packet& x) {
  return f(caf::meta::type_name("subscribe_packet"), x.packet_id, x.entries, x.props);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unsubscribe_packet& x) {
  return f(caf::meta::type_name("unsubscribe_packet"), x.packet_id, x.filters, x.props);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, disconnect_packet& x) {
  return f(caf::meta::type_name("disconnect_packet"), x.reason, x.props);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auth_packet& x) {
  return f(caf::meta::type_name("auth_packet"), x.reason, x.props);
}

}  // namespace convoy::mqtt
