#pragma once

#include <functional>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "config/config.hpp"
#include "protocol/reason_code.hpp"
#include "runtime/password_file.hpp"

namespace convoy::runtime {

// Decides whether a CONNECT's username and password let it in ([auth] in
// the configuration). Password hashes are slow on purpose, so they are
// checked on a thread of the authenticator's own, never on an I/O thread.
class authenticator {
 public:
  // Loads the password file; throws password_file_error naming the file and
  // line when it cannot.
  explicit authenticator(const config::node_config::auth_section& settings);
  ~authenticator();
  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  using verdict = std::function<void(mqtt::reason_code)>;

  // Calls done on `reply_on` with success, not_authorized (no username and
  // anonymous clients are not allowed) or bad_user_name_or_password.
  void check(std::optional<std::string> username, std::optional<std::string> password,
             const boost::asio::any_io_executor& reply_on, verdict done);

  bool allows_anonymous() const { return allow_anonymous_; }
  std::size_t users() const { return passwords_ ? passwords_->size() : 0; }
  // Whether a username that got in has proven its password.
  bool checks_passwords() const { return passwords_.has_value(); }

 private:
  bool allow_anonymous_;
  std::optional<password_file> passwords_;
  boost::asio::thread_pool checks_{1};
};

}  // namespace convoy::runtime
