#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "actors/rules/webhook.hpp"

namespace boost::asio::ssl {
class context;
}

namespace convoy::runtime {

// A webhook the client cannot post to: its URL, or the CA file of an
// https URL.
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
  // Where POSTs go: from spec.url, http://host[:port][/path] or https://...;
  // https verifies the server's certificate and name against spec.ca_file
  // (empty: the system's trusted CAs).
  struct endpoint {
    std::string host;
    std::string port;
    std::string target;
    std::chrono::milliseconds timeout{5000};
    std::shared_ptr<boost::asio::ssl::context> tls;  // null for http
  };
  using endpoint_ptr = std::shared_ptr<const endpoint>;

  // Where spec says to post, its CA file read; throws webhook_url_error for
  // what the client cannot use.
  static endpoint_ptr prepare(const webhook_spec& spec);
  // Throws webhook_url_error when the client could not post as spec says.
  static void check(const webhook_spec& spec) { prepare(spec); }

  webhook_client(std::shared_ptr<webhook_io> io, endpoint_ptr to);

  void post(std::string body, std::function<void(bool ok, std::string why)> done) override;
  // Later POSTs go to `to` (the webhook's definition changed).
  void retarget(endpoint_ptr to);

 private:
  std::shared_ptr<webhook_io> io_;
  // Swapped whole by retarget on another thread than post's.
  std::atomic<std::shared_ptr<const endpoint>> endpoint_;
};

}  // namespace convoy::runtime
