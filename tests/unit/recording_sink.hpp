#pragma once

// A session_sink that decodes what a session writes, so actor tests can
// check the MQTT packets a client would receive without any socket.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "actors/core/session_sink.hpp"
#include "protocol/decoder.hpp"

namespace convoy::test {

class recording_sink final : public session_sink {
 public:
  explicit recording_sink(mqtt::protocol_version version = mqtt::protocol_version::v5)
      : version_(version) {}

  write_result write(std::vector<outbound_frame> frames) override {
    std::lock_guard lock{mutex_};
    if (closed_) return {0, true};
    for (const auto& f : frames) {
      mqtt::byte_buffer bytes = f.shared_head ? *f.shared_head : f.head;
      if (f.body) bytes.insert(bytes.end(), f.body->begin(), f.body->end());
      auto r = mqtt::decode(bytes, {version_, mqtt::max_packet_size_limit});
      if (r.complete()) packets_.push_back(std::move(r.value));
    }
    cv_.notify_all();
    return {};
  }

  void bind(caf::actor session, std::uint16_t) override {
    std::lock_guard lock{mutex_};
    session_ = std::move(session);
    cv_.notify_all();
  }

  void close() override {
    std::lock_guard lock{mutex_};
    closed_ = true;
    cv_.notify_all();
  }

  void consumed(std::uint32_t) override {}
  // Recorded as the CONNACK the connection would send.
  void refuse(mqtt::reason_code reason, std::string, std::string server_reference = {}) override {
    std::lock_guard lock{mutex_};
    mqtt::connack_packet refusal{false, reason, {}};
    if (!server_reference.empty())
      refusal.props.add(mqtt::property_id::server_reference, server_reference);
    packets_.push_back(std::move(refusal));
    closed_ = true;
    cv_.notify_all();
  }

  caf::actor session() {
    std::unique_lock lock{mutex_};
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return session_ != nullptr; });
    return session_;
  }

  bool closed() {
    std::lock_guard lock{mutex_};
    return closed_;
  }

  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock{mutex_};
    return cv_.wait_for(lock, timeout, [&] { return closed_; });
  }

  // Waits for the next packet of type T and removes it (and everything
  // before it) from the record. Nullopt on timeout.
  template <class T>
  std::optional<T> next(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock{mutex_};
    std::optional<T> found;
    cv_.wait_for(lock, timeout, [&] {
      for (std::size_t i = 0; i < packets_.size(); ++i) {
        if (auto* p = std::get_if<T>(&packets_[i])) {
          found = std::move(*p);
          packets_.erase(packets_.begin(), packets_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::vector<mqtt::packet> all() {
    std::lock_guard lock{mutex_};
    return packets_;
  }

 private:
  mqtt::protocol_version version_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<mqtt::packet> packets_;
  caf::actor session_;
  bool closed_ = false;
};

}  // namespace convoy::test
