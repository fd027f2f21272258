#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "actors/webhook.hpp"

namespace convoy::runtime {

class webhook_url_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The edge of the webhook actors: HTTP/1.1 POSTs with Beast, each on a
// connection of its own, bounded by a timeout, on one I/O thread shared by
// every webhook of the node.
class webhook_io {
 public:
  webhook_io();
  ~webhook_io();
  boost::asio::io_context& context() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

class webhook_client : public webhook_transport {
 public:
  // url: http://host[:port][/path]; throws webhook_url_error for others
  // (https is not supported yet: put a TLS proxy in between).
  webhook_client(std::shared_ptr<webhook_io> io, const std::string& url,
                 std::chrono::milliseconds timeout);

  void post(std::string body, std::function<void(bool ok, std::string why)> done) override;
  // Later POSTs go to `url` (the webhook's definition changed); throws
  // webhook_url_error as the constructor does, leaving the old target.
  void retarget(const std::string& url, std::chrono::milliseconds timeout);
  // Throws webhook_url_error when url is not one the client can use.
  static void check_url(const std::string& url) { parse(url, std::chrono::milliseconds(1)); }

 private:
  struct endpoint {
    std::string host;
    std::string port;
    std::string target;
    std::chrono::milliseconds timeout;
  };
  static std::shared_ptr<const endpoint> parse(const std::string& url,
                                               std::chrono::milliseconds timeout);

  std::shared_ptr<webhook_io> io_;
  // Swapped whole by retarget on another thread than post's.
  std::atomic<std::shared_ptr<const endpoint>> endpoint_;
};

}  // namespace convoy::runtime
