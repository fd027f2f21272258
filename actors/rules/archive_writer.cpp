#include "actors/rules/archive_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/rules/telemetry_payload.hpp"

namespace convoy {

namespace {

using flush_now_atom = caf::atom_constant<caf::atom("archflush")>;

std::string segment_name(const archive_spec& spec, std::uint32_t sequence) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  // Names sort by time; the pid and sequence keep two segments of one
  // second, or of two runs, apart.
  return spec.directory + "/segment-" + stamp + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(sequence) + (spec.gzip ? ".jsonl.gz" : ".jsonl");
}

void close_segment(archive_writer_state& st) {
  if (st.fd < 0) return;
  ::close(st.fd);
  st.fd = -1;
}

bool open_segment(archive_writer_state& st) {
  close_segment(st);
  std::error_code ec;
  std::filesystem::create_directories(st.spec.directory, ec);
  st.segment = segment_name(st.spec, st.sequence++);
  st.fd = ::open(st.segment.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (st.fd < 0) {
    spdlog::error("archive '{}': cannot open {}: {}", st.spec.name, st.segment,
                  std::strerror(errno));
    return false;
  }
  st.segment_bytes = 0;
  st.segment_opened_ms = now_ms();
  return true;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Writes the batch into the current segment (a new one when it is full or
// old), then answers everyone who waited for it.
void flush(archive_writer_actor* self) {
  auto& st = self->state;
  st.flush_armed = false;
  if (st.batch.empty()) return;
  const bool rotate =
      st.fd < 0 || st.segment_bytes >= st.spec.max_segment_bytes ||
      now_ms() - st.segment_opened_ms >= std::int64_t{st.spec.max_segment_seconds} * 1000;
  bool ok = !rotate || open_segment(st);
  if (ok) {
    std::string bytes = st.spec.gzip ? gzip_compress(st.batch) : std::move(st.batch);
    ok = !bytes.empty() && write_all(st.fd, bytes);
    if (ok && st.spec.sync) ok = ::fdatasync(st.fd) == 0;
    if (ok) {
      st.segment_bytes += bytes.size();
    } else {
      spdlog::error("archive '{}': writing {} failed: {}", st.spec.name, st.segment,
                    std::strerror(errno));
      close_segment(st);  // the next batch starts a fresh segment
    }
  }
  if (!ok) metrics::add(counter::dropped_archive_write);
  st.batch.clear();
  for (auto& p : st.waiting)
    p.deliver(ok);
  st.waiting.clear();
}

}  // namespace

std::string archive_line(const app_message& m) {
  nlohmann::json line = {{"at", m.published_us != 0 ? m.published_us / 1000 : now_ms()},
                         {"topic", m.topic},
                         {"qos", static_cast<int>(m.qos)}};
  std::string_view payload = m.payload ? std::string_view{*m.payload} : std::string_view{};
  // Bulk telemetry is archived without being parsed: text stays text,
  // anything else is base64.
  put_raw_payload(line, payload);
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

caf::behavior archive_writer(archive_writer_actor* self, archive_spec spec, inflow_ptr inflow) {
  self->state.spec = std::move(spec);
  self->state.inflow = std::move(inflow);
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    flush(self);  // what the last batch holds
    close_segment(self->state);
    self->quit(msg.reason);
  });
  return {
      [self](archive_append& a) -> caf::result<bool> {
        auto& st = self->state;
        st.inflow->give_back();
        if (st.batch.size() >= st.spec.max_pending_bytes) {
          metrics::add(counter::dropped_archive_full);
          return false;
        }
        st.batch += archive_line(*a.msg);
        st.batch += '\n';
        caf::result<bool> answer = true;
        // Only a request waits for the write: a QoS 0 message was promised
        // nothing.
        if (self->current_mailbox_element()->mid.is_request()) {
          st.waiting.push_back(self->make_response_promise());
          answer = st.waiting.back();
        }
        if (st.batch.size() >= (1u << 20)) {
          flush(self);
        } else if (!st.flush_armed) {
          st.flush_armed = true;
          self->delayed_send(self, std::chrono::milliseconds(st.spec.flush_ms),
                             flush_now_atom::value);
        }
        return answer;
      },
      [self](flush_now_atom) { flush(self); },
      [self](archive_reconfigure& r) {
        flush(self);  // what is batched goes out as the old definition said
        close_segment(self->state);
        self->state.spec = std::move(r.spec);
      },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
  };
}

}  // namespace convoy
