#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace convoy::ctl {

// The node could not be reached, or did not answer within the timeout.
class connection_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct api_response {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

// A blocking HTTP/1.1 client of one node's management API: one request per
// call, each bounded by the timeout.
class api_client {
 public:
  // base_url: http://host:port (an https URL is refused: the node serves
  // plain HTTP, put it behind a TLS proxy for remote use).
  api_client(const std::string& base_url, std::string api_key, std::string token,
             std::chrono::milliseconds timeout);

  api_response call(const std::string& method, const std::string& target,
                    const std::string& json_body = {}) const;

 private:
  std::string host_;
  std::string port_;
  std::string api_key_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace convoy::ctl
