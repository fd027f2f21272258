#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace convoy::sim {

// Everything `convoy sim` is told on its command line.
struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string protocol = "5";
  std::uint32_t vehicles = 100;
  double publish_rate = 1.0;  // per vehicle, messages per second; 0 = idle
  int qos = 0;
  int subscribe_qos = -1;  // -1: same as qos
  std::uint32_t payload_size = 64;
  std::string topic_template = "vehicles/{vin}/telemetry";
  std::uint32_t subscribers = 1;
  std::string subscribe_filter = "vehicles/+/telemetry";
  double ramp_rate = 0;  // connections per second; 0 = as fast as possible
  double duration = 10;
  double warmup = 0;
  double drain = -1;  // -1: min(1 s, duration / 4)
  bool source_ips = false;
  std::uint16_t keep_alive = 60;
  bool clean_start = true;
  std::uint32_t session_expiry = 3600;  // MQTT 5, with --persistent
  std::string client_id_prefix = "CNV";
  std::string json_file;
  bool progress = false;
  std::uint32_t max_inflight = 16;
  unsigned threads = 1;
  double tick_ms = 2;  // publishes due within one tick share a timer wake-up
  double connect_timeout = 10;
  std::uint32_t max_connecting = 64;
  double command_rate = 0;  // commands per second from the back-end commander; 0 = none
  bool responders = false;  // vehicles answer commands (implied by --command-rate)
  int command_qos = 1;
  // How responders end a Convoy command workflow's command (one whose JSON
  // payload names its id and responseTopic): succeeded, failed,
  // accept-only (accepted, then nothing: it times out) or silent.
  std::string command_outcome = "succeeded";
};

// Registers the options on the `sim` subcommand.
void add_options(CLI::App& app, options& o);

}  // namespace convoy::sim
