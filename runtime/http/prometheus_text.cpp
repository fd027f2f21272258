#include "runtime/http/prometheus_text.hpp"

#include <cstdio>
#include <fstream>
#include <string_view>

#include <unistd.h>

#include "actors/core/metrics.hpp"

namespace convoy::runtime {

namespace {

class writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP convoy_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE convoy_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    out_ += "convoy_";
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    char number[64];
    std::snprintf(number, sizeof number, " %.17g\n", value);
    out_ += number;
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample(name, labels, static_cast<double>(value));
  }
  void single(std::string_view name, std::string_view type, std::string_view help, double value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  void histogram(std::string_view name, std::string_view help, const latency_histogram& h) {
    family(name, "histogram", help);
    auto s = h.read();
    std::string bucket = std::string{name} + "_bucket";
    for (std::size_t i = 0; i < latency_histogram::bounds_us.size(); ++i) {
      char le[48];
      std::snprintf(le, sizeof le, "le=\"%g\"",
                    static_cast<double>(latency_histogram::bounds_us[i]) / 1e6);
      sample(bucket, le, s.cumulative[i]);
    }
    sample(bucket, "le=\"+Inf\"", s.count());
    sample(std::string{name} + "_sum", {}, static_cast<double>(s.sum_us) / 1e6);
    sample(std::string{name} + "_count", {}, s.count());
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
  std::string s{key};
  s += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  s += '"';
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::uint64_t resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string render_prometheus(const metrics_readings& r) {
  writer w;
  w.family("info", "gauge", "The node: its name and version (always 1).");
  w.sample("info", label("node", r.node) + "," + label("version", r.version), 1.0);
  w.single("uptime_seconds", "gauge", "Seconds since the node started.",
           static_cast<double>(r.uptime_seconds));
  w.single("resident_memory_bytes", "gauge", "Resident set size of the node process.",
           static_cast<double>(r.resident_bytes));
  w.single("connections", "gauge", "Open client connections (TCP, TLS, WebSocket).",
           static_cast<double>(metrics::connections()));
  w.single("sessions", "gauge", "MQTT sessions on this node, connected or not.",
           static_cast<double>(metrics::sessions()));
  w.single("queued_messages", "gauge",
           "Messages waiting in session queues (client offline or its window full).",
           static_cast<double>(metrics::queued()));

  w.family("messages_received_total", "counter", "PUBLISH messages received from clients, by QoS.");
  for (int q = 0; q < 3; ++q)
    w.sample(
        "messages_received_total", label("qos", std::to_string(q)),
        metrics::get(static_cast<counter>(static_cast<int>(counter::messages_received_qos0) + q)));
  w.family("messages_delivered_total", "counter",
           "Messages handed to subscribers' connections, by QoS.");
  for (int q = 0; q < 3; ++q)
    w.sample(
        "messages_delivered_total", label("qos", std::to_string(q)),
        metrics::get(static_cast<counter>(static_cast<int>(counter::messages_delivered_qos0) + q)));
  w.family("message_bytes_received_total", "counter",
           "Payload bytes of messages received, by QoS.");
  for (std::uint8_t q = 0; q < 3; ++q)
    w.sample("message_bytes_received_total", label("qos", std::to_string(q)),
             metrics::message_bytes_received(q));
  w.family("message_bytes_delivered_total", "counter",
           "Payload bytes of messages delivered, by QoS.");
  for (std::uint8_t q = 0; q < 3; ++q)
    w.sample("message_bytes_delivered_total", label("qos", std::to_string(q)),
             metrics::message_bytes_delivered(q));

  // Every counter named refused_* or dropped_* is one reason of a family;
  // the rest are families of their own.
  w.family("refusals_total", "counter",
           "Packets, connections and requests refused, by reason (each also answered with a "
           "reason code or status).");
  for (std::size_t i = 0; i < static_cast<std::size_t>(counter::count_); ++i) {
    auto name = name_of(static_cast<counter>(i));
    if (starts_with(name, "refused_"))
      w.sample("refusals_total", label("reason", name.substr(8)),
               metrics::get(static_cast<counter>(i)));
  }
  w.family("drops_total", "counter", "Messages dropped, by reason.");
  for (std::size_t i = 0; i < static_cast<std::size_t>(counter::count_); ++i) {
    auto name = name_of(static_cast<counter>(i));
    if (starts_with(name, "dropped_"))
      w.sample("drops_total", label("reason", name.substr(8)),
               metrics::get(static_cast<counter>(i)));
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(counter::count_); ++i) {
    auto c = static_cast<counter>(i);
    auto name = name_of(c);
    if (starts_with(name, "refused_") || starts_with(name, "dropped_") ||
        starts_with(name, "messages_received_") || starts_with(name, "messages_delivered_"))
      continue;
    std::string family = std::string{name} + "_total";
    w.family(family, "counter", "Count of " + std::string{name} + ".");
    w.sample(family, {}, metrics::get(c));
  }

  w.family("actors", "gauge", "Live actors by kind.");
  w.sample("actors", label("kind", "session"), static_cast<double>(metrics::sessions()));
  w.sample("actors", label("kind", "topic_shard"), r.topic_shards);
  w.sample("actors", label("kind", "registry_shard"), r.registry_shards);
  w.sample("actors", label("kind", "all"), r.actors_running);
  w.family("mailbox_messages", "gauge",
           "Messages waiting in the mailboxes of the node's long-lived actors.");
  for (const auto& m : r.mailboxes)
    w.sample("mailbox_messages",
             label("actor", m.actor) + "," + label("index", std::to_string(m.index)), m.messages);
  w.family("webhook_queued_items", "gauge",
           "Items a webhook holds that its endpoint has not taken yet.");
  for (const auto& h : r.webhooks)
    w.sample("webhook_queued_items", label("webhook", h.name), h.queued);
  w.family("webhook_failing", "gauge",
           "1 while a webhook's last POST failed and it retries with back-off, else 0.");
  for (const auto& h : r.webhooks)
    w.sample("webhook_failing", label("webhook", h.name), std::uint64_t{h.failing ? 1u : 0u});

  if (r.cluster) {
    const auto& c = *r.cluster;
    w.single("cluster_authority", "gauge",
             "1 while this node may act as a cluster member (its etcd lease renewed in time).",
             c.authority ? 1.0 : 0.0);
    w.single("cluster_incarnation", "gauge",
             "This node's incarnation: the etcd revision of its latest join (0 while joining).",
             static_cast<double>(c.incarnation));
    w.single("cluster_members", "gauge", "Members of the cluster this node knows, itself included.",
             static_cast<double>(c.members.size()));
    w.family("cluster_member", "gauge",
             "One sample (always 1) per member this node knows: its incarnation and the state of "
             "the link to it.");
    for (const auto& m : c.members)
      w.sample("cluster_member",
               label("member", m.node) + "," + label("incarnation", std::to_string(m.incarnation)) +
                   "," + label("link", m.link),
               1.0);
  }

  w.histogram("publish_to_deliver_seconds",
              "From a PUBLISH reaching its publisher's session to its delivery being handed to "
              "a subscriber's connection.",
              metrics::publish_to_deliver);
  w.histogram("storage_commit_seconds", "Storage group commits, fsync included.",
              metrics::storage_commit);
  return w.take();
}

}  // namespace convoy::runtime
