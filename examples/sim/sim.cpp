#include "examples/sim/sim.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "examples/sim/naming.hpp"
#include "examples/sim/worker.hpp"
#include "protocol/topic.hpp"

namespace convoy::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

namespace {

constexpr std::int64_t second = 1'000'000'000;
// Subscribers keep a next-sequence per vehicle they see; past this many
// entries in all, duplicates go uncounted and losses come from totals.
constexpr std::uint64_t max_tracked_sequences = 32 * 1024 * 1024;

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) {
  g_signal = sig;
}

struct bad_options {
  std::string message;
};

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

// Raises the soft open-file limit to the hard one; returns the new soft limit.
rlim_t raise_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur;
}

tcp::endpoint resolve(const options& o) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(o.host, ec);
  if (!ec) return {address, o.port};
  asio::io_context io;
  tcp::resolver resolver{io};
  auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec || results.empty())
    throw bad_options{"--host: cannot resolve '" + o.host +
                      "': " + (ec ? ec.message() : std::string{"no address"})};
  for (const auto& r : results)
    if (r.endpoint().address().is_v4()) return r.endpoint();
  return results.begin()->endpoint();
}

std::unique_ptr<plan> make_plan(const options& o) {
  auto p = std::make_unique<plan>();
  p->opt = o;
  if (p->opt.subscribe_qos < 0) p->opt.subscribe_qos = o.qos;
  p->version = o.protocol == "3.1.1" ? mqtt::protocol_version::v311 : mqtt::protocol_version::v5;
  p->frames = control_frames{p->version};
  p->publish_qos = static_cast<std::uint8_t>(o.qos);
  p->subscribe_qos = static_cast<std::uint8_t>(p->opt.subscribe_qos);
  if (o.vehicles == 0 && o.subscribers == 0)
    throw bad_options{"--vehicles and --subscribers are both 0: nothing to simulate"};
  bool sends = o.publish_rate > 0 || o.command_rate > 0;
  if (p->opt.drain < 0) p->opt.drain = sends ? std::min(1.0, o.duration / 4) : 0.0;
  if (p->opt.drain >= o.duration)
    throw bad_options{"--drain (" + format_seconds(p->opt.drain) +
                      " s) must be shorter than --duration (" + format_seconds(o.duration) + " s)"};
  if (sends && o.vehicles > 0 && o.warmup >= o.duration - p->opt.drain)
    throw bad_options{"--warmup (" + format_seconds(o.warmup) +
                      " s) leaves nothing to measure in --duration (" + format_seconds(o.duration) +
                      " s) minus the drain (" + format_seconds(p->opt.drain) + " s)"};
  std::string sample_vin = vehicle_id(o.client_id_prefix, 0);
  std::string topic = substitute_vin(o.topic_template, sample_vin);
  if (auto rc = mqtt::validate_topic_name(topic); rc != mqtt::reason_code::success)
    throw bad_options{"--topic-template: '" + o.topic_template + "' gives '" + topic +
                      "', not a valid topic name"};
  std::string filter = substitute_vin(o.subscribe_filter, sample_vin);
  if (auto rc = mqtt::validate_topic_filter(filter); rc != mqtt::reason_code::success)
    throw bad_options{"--subscribe-filter: '" + o.subscribe_filter +
                      "' is not a valid topic filter"};
  p->pair_filter = o.subscribe_filter.find("{vin}") != std::string::npos;
  bool shared = mqtt::parse_shared_filter(filter).has_value();
  std::uint64_t entries =
      p->pair_filter ? o.subscribers : std::uint64_t{o.subscribers} * o.vehicles;
  p->track_sequences = !shared && entries <= max_tracked_sequences;
  p->target = resolve(o);
  if (o.source_ips && !(p->target.address().is_v4() && p->target.address().is_loopback()))
    throw bad_options{"--source-ips needs a 127.x.y.z --host, not " +
                      p->target.address().to_string() +
                      ": source addresses are spread over 127.0.0.0/8"};
  p->filler.resize(o.payload_size - stamp_size);
  for (std::size_t i = 0; i < p->filler.size(); ++i)
    p->filler[i] = static_cast<std::uint8_t>('a' + i % 26);
  if (o.command_rate > 0 && o.vehicles == 0)
    throw bad_options{"--command-rate needs vehicles to command: --vehicles is 0"};
  p->responders = o.responders || o.command_rate > 0;
  p->command_qos = static_cast<std::uint8_t>(o.command_qos);
  p->command_outcome = o.command_outcome;
  p->commanders = o.command_rate > 0 ? 1 : 0;
  p->total_clients = o.vehicles + o.subscribers + p->commanders;
  p->warmup_ns = static_cast<std::int64_t>(o.warmup * 1e9);
  p->connect_timeout_ns = static_cast<std::int64_t>(o.connect_timeout * 1e9);
  return p;
}

struct totals {
  std::uint64_t attempts = 0, connected = 0, connect_failed = 0, lost = 0, subscribed = 0;
  std::uint64_t sent = 0, sent_window = 0, acked = 0, received = 0, received_window = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0, pings = 0, errors = 0;
  std::uint64_t responders = 0, commands_sent = 0, commands_acked = 0, commands_received = 0;
  std::uint64_t responses_sent = 0, responses_received = 0;
};

totals sum(const std::vector<std::unique_ptr<worker>>& workers) {
  totals t;
  for (const auto& w : workers) {
    const auto& s = w->stats();
    t.attempts += s.attempts.get();
    t.connected += s.connected.get();
    t.connect_failed += s.connect_failed.get();
    t.lost += s.lost.get();
    t.subscribed += s.subscribed.get();
    t.sent += s.sent.get();
    t.sent_window += s.sent_window.get();
    t.acked += s.acked.get();
    t.received += s.received.get();
    t.received_window += s.received_window.get();
    t.bytes_sent += s.bytes_sent.get();
    t.bytes_received += s.bytes_received.get();
    t.pings += s.pings.get();
    t.errors += s.error_total();
    t.responders += s.responders.get();
    t.commands_sent += s.commands_sent.get();
    t.commands_acked += s.commands_acked.get();
    t.commands_received += s.commands_received.get();
    t.responses_sent += s.responses_sent.get();
    t.responses_received += s.responses_received.get();
  }
  return t;
}

histogram merged(const std::vector<std::unique_ptr<worker>>& workers,
                 live_histogram thread_stats::*which) {
  histogram h;
  for (const auto& w : workers)
    h.merge((w->stats().*which).snapshot());
  return h;
}

json latency_json(const histogram& h) {
  return {{"p50", h.percentile(50)},
          {"p90", h.percentile(90)},
          {"p99", h.percentile(99)},
          {"p999", h.percentile(99.9)},
          {"max", h.max()},
          {"min", h.min()},
          {"mean", std::round(h.mean() * 10) / 10},
          {"count", h.count()}};
}

std::string latency_text(std::uint64_t us) {
  char buf[32];
  if (us < 10'000)
    std::snprintf(buf, sizeof buf, "%lluus", static_cast<unsigned long long>(us));
  else
    std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(us) / 1000.0);
  return buf;
}

struct accounting {
  std::uint64_t expected = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicates = 0;
  bool duplicates_known = true;
  std::uint64_t unacked = 0;
};

// What each subscriber should have received: everything the vehicles its
// filter matches sent (subscribers were all subscribed before the first
// vehicle connected). Shared subscriptions count per group.
accounting account(const plan& p, const std::vector<vehicle_result>& vehicles,
                   const std::vector<subscriber_result>& subscribers) {
  accounting a;
  const auto& o = p.opt;
  std::vector<std::uint32_t> sent(o.vehicles, 0);
  for (const auto& v : vehicles) {
    sent[v.index] = v.sent;
    a.unacked += v.unacked;
  }
  auto topic_of = [&](std::uint32_t v) {
    return substitute_vin(o.topic_template, vehicle_id(o.client_id_prefix, v));
  };
  std::uint64_t common = 0;
  if (!p.pair_filter) {
    for (std::uint32_t v = 0; v < o.vehicles; ++v)
      if (mqtt::topic_matches(o.subscribe_filter, topic_of(v))) common += sent[v];
  }
  // Shared groups: filter -> (expected, received).
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> groups;
  for (const auto& s : subscribers) {
    if (!s.subscribed) continue;
    std::uint64_t expected = common;
    std::string filter = o.subscribe_filter;
    if (p.pair_filter) {
      expected = 0;
      if (o.vehicles > 0) {
        std::uint32_t v = s.index % o.vehicles;
        filter = substitute_vin(o.subscribe_filter, vehicle_id(o.client_id_prefix, v));
        std::string match_filter = filter;
        if (auto sh = mqtt::parse_shared_filter(filter)) match_filter = std::string{sh->filter};
        if (mqtt::topic_matches(match_filter, topic_of(v))) expected = sent[v];
      }
    }
    if (auto sh = mqtt::parse_shared_filter(filter)) {
      if (!p.pair_filter) {
        expected = 0;
        for (std::uint32_t v = 0; v < o.vehicles; ++v)
          if (mqtt::topic_matches(sh->filter, topic_of(v))) expected += sent[v];
      }
      auto& g = groups[filter];
      g.first = expected;
      g.second += s.received;
      continue;
    }
    a.expected += expected;
    std::uint64_t unique = s.tracked ? s.unique : s.received;
    if (expected > unique) a.lost += expected - unique;
    if (s.tracked)
      a.duplicates += s.duplicates;
    else
      a.duplicates_known = false;
  }
  for (const auto& [filter, g] : groups) {
    a.expected += g.first;
    if (g.first > g.second) a.lost += g.first - g.second;
    a.duplicates_known = false;
  }
  return a;
}

// commands: the command round trips of the last second, when a commander runs.
void print_progress(double elapsed, const totals& now, const totals& before, std::uint32_t clients,
                    const histogram& interval, const histogram* commands) {
  char command_part[96] = "";
  if (commands != nullptr)
    std::snprintf(command_part, sizeof command_part, "  commands %llu/s  rtt p99 %s",
                  static_cast<unsigned long long>(now.commands_sent - before.commands_sent),
                  commands->count() ? latency_text(commands->percentile(99)).c_str() : "-");
  char line[320];
  std::snprintf(line, sizeof line,
                "[%6.1fs] connected %llu/%u  sent %llu/s  received %llu/s  p50 %s  p99 %s%s  "
                "errors %llu\n",
                elapsed, static_cast<unsigned long long>(now.connected - now.lost), clients,
                static_cast<unsigned long long>(now.sent - before.sent),
                static_cast<unsigned long long>(now.received - before.received),
                interval.count() ? latency_text(interval.percentile(50)).c_str() : "-",
                interval.count() ? latency_text(interval.percentile(99)).c_str() : "-",
                command_part, static_cast<unsigned long long>(now.errors));
  std::cerr << line << std::flush;
}

}  // namespace

int run(const options& given) {
  std::unique_ptr<plan> p;
  try {
    p = make_plan(given);
  } catch (const bad_options& e) {
    std::cerr << "convoy sim: " << e.message << "\n";
    return 2;
  }
  const options& o = p->opt;
  rlim_t files = raise_file_limit();
  if (std::uint64_t{p->total_clients} + 32 > files) {
    std::cerr << "convoy sim: --vehicles + --subscribers (+ 1 commander) = " << p->total_clients
              << " connections exceed the open-file limit of " << files << " (ulimit -n)\n";
    return 2;
  }

  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  run_state shared;
  shared.unsettled_subscribers = o.subscribers + p->commanders;
  shared.unsettled_clients = p->total_clients;
  unsigned n_workers = std::max(1u, std::min<unsigned>(o.threads, p->total_clients));
  p->max_connecting_per_worker = std::max(1u, o.max_connecting / n_workers);
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned i = 0; i < n_workers; ++i)
    workers.push_back(std::make_unique<worker>(*p, shared, i));
  for (std::uint32_t j = 0; j < o.subscribers; ++j)
    workers[j % n_workers]->add_subscriber(j, j);
  for (std::uint32_t k = 0; k < p->commanders; ++k)
    workers[k % n_workers]->add_commander(k, o.subscribers + o.vehicles + k);
  for (std::uint32_t i = 0; i < o.vehicles; ++i)
    workers[i % n_workers]->add_vehicle(i, o.subscribers + i);

  p->start_ns = now_ns();
  p->end_ns = p->start_ns + static_cast<std::int64_t>(o.duration * 1e9);
  p->publish_end_ns = p->end_ns - static_cast<std::int64_t>(o.drain * 1e9);
  for (auto& w : workers)
    w->start();

  std::string stopped = "completed";
  std::int64_t next_progress = p->start_ns + second;
  totals previous;
  histogram previous_latency;
  histogram previous_commands;
  for (;;) {
    std::int64_t now = now_ns();
    if (now >= p->end_ns) break;
    if (g_signal != 0) {
      stopped = "interrupted";
      break;
    }
    if (shared.unsettled_clients.load() == 0) {
      totals t = sum(workers);
      if (t.connected == 0) {
        stopped = "no client could connect";
        break;
      }
      if (t.connected == t.lost) {
        stopped = "all connections lost";
        break;
      }
    }
    if (o.progress && now >= next_progress) {
      totals t = sum(workers);
      histogram latency = merged(workers, &thread_stats::latency);
      histogram commands = merged(workers, &thread_stats::command_latency);
      histogram recent_commands = commands.since(previous_commands);
      print_progress(static_cast<double>(now - p->start_ns) / 1e9, t, previous, p->total_clients,
                     latency.since(previous_latency),
                     p->commanders > 0 ? &recent_commands : nullptr);
      previous = t;
      previous_latency = std::move(latency);
      previous_commands = std::move(commands);
      next_progress += second;
    }
    std::int64_t wait = std::min(p->end_ns - now, std::int64_t{100'000'000});
    if (o.progress) wait = std::min(wait, next_progress - now);
    std::this_thread::sleep_for(std::chrono::nanoseconds{std::max<std::int64_t>(wait, 1'000'000)});
  }
  std::int64_t stop_ns = now_ns();
  totals t = sum(workers);  // before shutdown closes the connections
  for (auto& w : workers)
    w->stop();
  for (auto& w : workers)
    w->join();

  std::vector<vehicle_result> vehicles;
  std::vector<subscriber_result> subscribers;
  std::vector<commander_result> commanders;
  for (const auto& w : workers)
    w->collect(vehicles, subscribers, commanders);
  commander_result commands;
  for (const auto& c : commanders) {
    commands.sent += c.sent;
    commands.answered += c.answered;
    commands.duplicate_responses += c.duplicate_responses;
    commands.unacked += c.unacked;
  }
  accounting acc = account(*p, vehicles, subscribers);
  t = sum(workers);
  histogram latency = merged(workers, &thread_stats::latency);
  histogram ack_latency = merged(workers, &thread_stats::ack_latency);
  histogram command_latency = merged(workers, &thread_stats::command_latency);
  std::map<std::string, std::uint64_t> errors;
  for (const auto& w : workers)
    w->stats().collect_errors(errors);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  double cpu_user = secs(usage.ru_utime);
  double cpu_system = secs(usage.ru_stime);

  double elapsed = static_cast<double>(stop_ns - p->start_ns) / 1e9;
  std::int64_t ramp_end = shared.ramp_end_ns.load();
  bool ramp_done = shared.unsettled_clients.load() == 0;
  double ramp_seconds = ramp_done ? static_cast<double>(ramp_end - p->start_ns) / 1e9 : elapsed;
  std::int64_t window_start = shared.window_start_ns.load();
  std::int64_t window_end = std::min(p->publish_end_ns, stop_ns);
  double measured = ramp_done && window_end > window_start
                        ? static_cast<double>(window_end - window_start) / 1e9
                        : 0.0;
  auto rate = [&](std::uint64_t n) {
    return measured > 0 ? std::round(static_cast<double>(n) / measured * 10) / 10 : 0.0;
  };
  auto round3 = [](double x) { return std::round(x * 1000) / 1000; };

  json params = {{"host", o.host},
                 {"port", o.port},
                 {"protocol", o.protocol},
                 {"vehicles", o.vehicles},
                 {"publish_rate", o.publish_rate},
                 {"qos", o.qos},
                 {"subscribe_qos", o.subscribe_qos},
                 {"payload_size", o.payload_size},
                 {"topic_template", o.topic_template},
                 {"subscribers", o.subscribers},
                 {"subscribe_filter", o.subscribe_filter},
                 {"ramp_rate", o.ramp_rate},
                 {"duration", o.duration},
                 {"warmup", o.warmup},
                 {"drain", o.drain},
                 {"source_ips", o.source_ips},
                 {"keep_alive", o.keep_alive},
                 {"clean_start", o.clean_start},
                 {"session_expiry", o.session_expiry},
                 {"client_id_prefix", o.client_id_prefix},
                 {"max_inflight", o.max_inflight},
                 {"threads", n_workers},
                 {"tick_ms", o.tick_ms},
                 {"connect_timeout", o.connect_timeout},
                 {"max_connecting", o.max_connecting},
                 {"command_rate", o.command_rate},
                 {"responders", p->responders},
                 {"command_qos", o.command_qos}};
  json j;
  j["parameters"] = params;
  j["broker"] = p->target.address().to_string() + ":" + std::to_string(p->target.port());
  j["stopped"] = stopped;
  j["duration"] = round3(elapsed);
  j["clients"] = p->total_clients;
  j["connected"] = t.connected;
  j["connected_at_end"] = t.connected - t.lost;
  j["connect_failed"] = t.connect_failed;
  j["subscribed"] = t.subscribed;
  j["all_connected"] = t.connected == p->total_clients;
  j["ramp_seconds"] = ramp_done ? json(round3(ramp_seconds)) : json(nullptr);
  j["connect_rate_per_s"] =
      ramp_seconds > 0 ? std::round(static_cast<double>(t.connected) / ramp_seconds * 10) / 10
                       : 0.0;
  j["measured_seconds"] = round3(measured);
  j["sent"] = t.sent;
  j["acked"] = t.acked;
  j["unacked"] = acc.unacked;
  j["received"] = t.received;
  j["expected"] = acc.expected;
  j["lost"] = acc.lost;
  j["duplicates"] = acc.duplicates_known ? json(acc.duplicates) : json(nullptr);
  j["bytes_sent"] = t.bytes_sent;
  j["bytes_received"] = t.bytes_received;
  j["pings"] = t.pings;
  j["target_send_rate"] = o.vehicles * o.publish_rate;
  j["send_rate"] = rate(t.sent_window);
  j["throughput_msgs_per_s"] = rate(t.received_window);
  j["latency_us"] = latency_json(latency);
  j["ack_latency_us"] = latency_json(ack_latency);
  // Commands go out during the measurement window only, so every one of
  // them counts; unanswered ones are lost somewhere on the round trip.
  j["commands"] = {{"target_rate", o.command_rate},
                   {"rate", rate(commands.sent)},
                   {"responders", t.responders},
                   {"sent", commands.sent},
                   {"acked", t.commands_acked},
                   {"unacked", commands.unacked},
                   {"received_by_vehicles", t.commands_received},
                   {"responses_sent", t.responses_sent},
                   {"responses_received", t.responses_received},
                   {"answered", commands.answered},
                   {"unanswered", commands.sent - commands.answered},
                   {"duplicate_responses", commands.duplicate_responses},
                   {"round_trip_us", latency_json(command_latency)}};
  j["errors"] = errors;
  j["cpu_seconds"] = round3(cpu_user + cpu_system);
  j["cpu_user_seconds"] = round3(cpu_user);
  j["cpu_system_seconds"] = round3(cpu_system);
  j["max_rss_mb"] = std::round(static_cast<double>(usage.ru_maxrss) / 1024 * 10) / 10;
  if (!shared.first_error.empty()) j["first_error"] = shared.first_error;

  if (!o.json_file.empty() && o.json_file != "-") {
    std::ofstream f{o.json_file};
    f << j.dump(2) << "\n";
    if (!f) std::cerr << "convoy sim: cannot write --json file " << o.json_file << "\n";
  }
  if (o.json_file == "-") {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::ostringstream s;
    s << "convoy sim against " << j["broker"].get<std::string>() << " (MQTT " << o.protocol
      << ", QoS " << o.qos << "): " << stopped << " after " << round3(elapsed) << " s\n"
      << "  connections " << t.connected << "/" << p->total_clients << " in "
      << (ramp_done ? format_seconds(round3(ramp_seconds)) + " s"
                    : std::string{"(ramp unfinished)"})
      << " (" << j["connect_rate_per_s"].get<double>() << "/s), failed " << t.connect_failed
      << ", lost " << t.lost << "\n"
      << "  sent " << t.sent << " (" << j["send_rate"].get<double>() << "/s), acked " << t.acked
      << ", received " << t.received << " (" << j["throughput_msgs_per_s"].get<double>()
      << "/s), lost " << acc.lost << ", duplicates "
      << (acc.duplicates_known ? std::to_string(acc.duplicates) : std::string{"n/a"}) << "\n";
    if (p->commanders > 0) {
      s << "  commands sent " << commands.sent << " (" << j["commands"]["rate"].get<double>()
        << "/s), answered " << commands.answered << ", unanswered "
        << commands.sent - commands.answered << ", duplicate responses "
        << commands.duplicate_responses << "\n";
      if (command_latency.count() > 0)
        s << "  command round trip p50 " << latency_text(command_latency.percentile(50)) << "  p90 "
          << latency_text(command_latency.percentile(90)) << "  p99 "
          << latency_text(command_latency.percentile(99)) << "  p99.9 "
          << latency_text(command_latency.percentile(99.9)) << "  max "
          << latency_text(command_latency.max()) << "\n";
    } else if (p->responders) {
      s << "  commands received " << t.commands_received << ", answered " << t.responses_sent
        << " by " << t.responders << " responders\n";
    }
    if (latency.count() > 0)
      s << "  latency p50 " << latency_text(latency.percentile(50)) << "  p90 "
        << latency_text(latency.percentile(90)) << "  p99 " << latency_text(latency.percentile(99))
        << "  p99.9 " << latency_text(latency.percentile(99.9)) << "  max "
        << latency_text(latency.max()) << "\n";
    s << "  simulator cpu " << round3(cpu_user + cpu_system) << " s, max rss "
      << j["max_rss_mb"].get<double>() << " MB\n";
    if (!errors.empty()) {
      s << "  errors:";
      for (const auto& [kind, n] : errors)
        s << " " << kind << "=" << n;
      s << "\n";
    }
    std::cout << s.str() << std::flush;
  }
  if (t.connected == 0) {
    std::cerr << "convoy sim: no client could connect to " << j["broker"].get<std::string>();
    if (!shared.first_error.empty()) std::cerr << " (" << shared.first_error << ")";
    std::cerr << "\n";
    return 1;
  }
  return 0;
}

}  // namespace convoy::sim
