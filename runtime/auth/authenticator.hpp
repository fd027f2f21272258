#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "config/config.hpp"
#include "protocol/reason_code.hpp"
#include "runtime/auth/jwt_verifier.hpp"
#include "runtime/auth/password_file.hpp"

namespace convoy::runtime {

// Decides whether a CONNECT's username and password let it in ([auth] in
// the configuration). Password hashes are slow on purpose, so they are
// checked on a thread of the authenticator's own, never on an I/O thread.
class authenticator {
 public:
  // Loads the password file; throws password_file_error naming the file and
  // line when it cannot.
  // Loads the password file and JWT keys; throws password_file_error or
  // jwt_config_error naming the file.
  authenticator(const config::node_config::auth_section& settings,
                const config::node_config::jwt_section& jwt);
  ~authenticator();
  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  // What a login proved: success with the identity of a token (empty for
  // password and anonymous logins), or the refusal with why.
  struct outcome {
    mqtt::reason_code rc = mqtt::reason_code::success;
    std::string token_identity;         // JWT logins: the identity claim
    std::int64_t token_expires_at = 0;  // JWT logins: exp plus the leeway, Unix seconds
    std::string why;
  };
  using verdict = std::function<void(outcome)>;

  // Calls done on `reply_on` with success, not_authorized (no username and
  // anonymous clients are not allowed) or bad_user_name_or_password. A
  // password that looks like a JWT, or `token` (MQTT 5 Authentication Data
  // of method JWT), is checked as a token when [jwt] is enabled.
  void check(std::optional<std::string> username, std::optional<std::string> password,
             std::optional<std::string> token, const boost::asio::any_io_executor& reply_on,
             verdict done);
  // A fresh token of an AUTH re-authentication.
  void check_token(std::string token, const boost::asio::any_io_executor& reply_on, verdict done);
  bool accepts_tokens() const { return jwt_ != nullptr; }

  bool allows_anonymous() const { return allow_anonymous_; }
  std::size_t users() const { return passwords_ ? passwords_->size() : 0; }
  // Whether a username that got in has proven its password.
  bool checks_passwords() const { return passwords_.has_value(); }

 private:
  bool allow_anonymous_;
  std::optional<password_file> passwords_;
  std::unique_ptr<jwt_verifier> jwt_;
  std::uint32_t jwt_leeway_s_ = 0;
  boost::asio::thread_pool checks_{1};
};

}  // namespace convoy::runtime
