#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace convoy::cluster {

// An HTTP/1.1 client of etcd's v3 JSON gateway, on an io_context the caller
// runs: unary calls (one connection each, bounded by a timeout) and watch
// streams. Several endpoints are tried in turn: a call that cannot reach
// one moves the client to the next for the calls after it.
class etcd_client {
 public:
  // The outcome of a call: a failure to reach etcd, or the reply's body
  // (whatever its status: the gateway's errors are JSON bodies, which
  // etcd_json's parsers throw).
  using reply = std::function<void(std::optional<std::string> failure, std::string body)>;

  // endpoints: "http://host:port", checked by the configuration.
  etcd_client(boost::asio::io_context& io, std::vector<std::string> endpoints,
              std::chrono::milliseconds timeout);

  // POST body to path ("/v3/lease/grant"). `done` runs on the io_context.
  void post(std::string path, std::string body, reply done);

  // A watch stream: every message etcd sends on it goes to on_message, and
  // on_end runs once when the stream ends (etcd closed it, the connection
  // failed, or cancel()).
  class stream {
   public:
    virtual ~stream() = default;
    virtual void cancel() = 0;
  };
  std::shared_ptr<stream> watch(std::string body, std::function<void(std::string_view)> on_message,
                                std::function<void(std::string why)> on_end);

  // "host:port" the next call goes to.
  std::string endpoint() const;

  struct target {
    std::string host;
    std::string port;
  };

 private:
  const target& current() const { return targets_[next_ % targets_.size()]; }
  void failed_on(std::size_t index);

  boost::asio::io_context& io_;
  std::vector<target> targets_;
  std::size_t next_ = 0;
  std::chrono::milliseconds timeout_;
};

}  // namespace convoy::cluster
