#include "examples/sim/options.hpp"

#include <CLI/CLI.hpp>

namespace convoy::sim {

void add_options(CLI::App& app, options& o) {
  app.add_option("--host", o.host, "Broker host name or address")->capture_default_str();
  app.add_option("--port", o.port, "Broker MQTT port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--protocol", o.protocol, "MQTT version: 3.1.1 or 5")
      ->check(CLI::IsMember({"3.1.1", "5"}))
      ->capture_default_str();
  app.add_option("--vehicles", o.vehicles, "Publishing clients (one per vehicle)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--publish-rate", o.publish_rate,
                 "Messages per second per vehicle (fractions allowed; 0 = idle, keep-alive only)")
      ->check(CLI::Range(0.0, 1'000'000.0))
      ->capture_default_str();
  app.add_option("--qos", o.qos, "QoS of publishes (and of subscriptions unless --subscribe-qos)")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  app.add_option("--subscribe-qos", o.subscribe_qos, "Maximum QoS of the subscriptions")
      ->check(CLI::Range(0, 2));
  app.add_option("--payload-size", o.payload_size,
                 "Payload bytes; the first 16 carry a timestamp and a sequence number")
      ->check(CLI::Range(16, 256 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--topic-template", o.topic_template, "Topic of each vehicle; {vin} = client id")
      ->capture_default_str();
  app.add_option("--subscribers", o.subscribers, "Subscribing clients")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--subscribe-filter", o.subscribe_filter,
                 "Filter of every subscriber; {vin}: subscriber i takes vehicle i's id")
      ->capture_default_str();
  app.add_option("--ramp-rate", o.ramp_rate, "New connections per second (0 = as fast as possible)")
      ->check(CLI::Range(0.0, 10'000'000.0))
      ->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds the whole run takes, ramp included")
      ->check(CLI::Range(0.1, 31'536'000.0))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup,
                 "Seconds after the ramp whose messages are left out of rates and latencies")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--drain", o.drain,
                 "Seconds at the end without publishing, for in-flight messages to arrive "
                 "(default: min(1, duration/4))")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--source-ips", o.source_ips,
               "Bind each client to its own 127.x.y.z source address (loopback brokers only)");
  app.add_option("--keep-alive", o.keep_alive, "Keep alive in seconds (0 = none)")
      ->capture_default_str();
  app.add_flag("--clean-start,!--persistent", o.clean_start,
               "Clean start (default) or persistent sessions");
  app.add_option("--session-expiry", o.session_expiry,
                 "Session expiry interval in seconds with --persistent (MQTT 5)")
      ->capture_default_str();
  app.add_option("--client-id-prefix", o.client_id_prefix,
                 "Start of every client id; vehicles get VIN-like 17-character ids")
      ->check([](const std::string& s) {
        return s.size() > 11 ? std::string{"at most 11 characters"} : std::string{};
      })
      ->capture_default_str();
  app.add_option("--json", o.json_file, "Write the summary as JSON to this file ('-': stdout)");
  app.add_flag("--progress", o.progress, "Print a progress line every second on stderr");
  app.add_option("--max-inflight", o.max_inflight,
                 "Unacknowledged QoS 1/2 publishes per vehicle before it waits")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "I/O threads of the simulator")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  app.add_option("--tick-ms", o.tick_ms,
                 "Publishes due within this many milliseconds share one timer wake-up: lower "
                 "paces more smoothly, higher costs the simulator less CPU")
      ->check(CLI::Range(0.05, 100.0))
      ->capture_default_str();
  app.add_option("--connect-timeout", o.connect_timeout,
                 "Seconds for TCP connect, CONNACK and SUBACK together")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-connecting", o.max_connecting,
                 "Connection attempts in progress at once during the ramp (mosquitto's listen "
                 "backlog is 100: more lose SYNs to 1 s retransmits)")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--command-rate", o.command_rate,
                 "Remote commands per second in all, sent by one back-end client to the vehicles "
                 "in turn; the vehicles answer and the round trip is measured (0 = none)")
      ->check(CLI::Range(0.0, 1'000'000.0))
      ->capture_default_str();
  app.add_flag("--responders", o.responders,
               "Vehicles subscribe to vehicles/{vin}/commands/+ and answer every command, also "
               "without --command-rate (for a back end outside the simulator)");
  app.add_option("--command-qos", o.command_qos,
                 "QoS of commands, responses and their subscriptions")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  app.add_option("--command-outcome", o.command_outcome,
                 "How responders answer a command of the node's command workflows (JSON with "
                 "\"id\" and \"responseTopic\"): reports accepted, then succeeded or failed on "
                 "its response topic; accept-only stops after accepted, silent answers nothing")
      ->check(CLI::IsMember({"succeeded", "failed", "accept-only", "silent"}))
      ->capture_default_str();
}

}  // namespace convoy::sim
