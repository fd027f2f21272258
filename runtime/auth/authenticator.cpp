#include "runtime/auth/authenticator.hpp"

#include <chrono>

#include <boost/asio/post.hpp>

namespace convoy::runtime {

using mqtt::reason_code;

authenticator::authenticator(const config::node_config::auth_section& settings,
                             const config::node_config::jwt_section& jwt)
    : allow_anonymous_(settings.allow_anonymous), jwt_leeway_s_(jwt.leeway_s) {
  if (!settings.password_file.empty()) passwords_ = password_file::load(settings.password_file);
  if (jwt.enabled) jwt_ = std::make_unique<jwt_verifier>(jwt);
}

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void authenticator::check_token(std::string token, const boost::asio::any_io_executor& reply_on,
                                verdict done) {
  auto reply = [reply_on, done = std::move(done)](outcome o) {
    boost::asio::post(reply_on, [done, o = std::move(o)] { done(o); });
  };
  if (!jwt_)
    return reply({reason_code::bad_authentication_method, {}, 0, "tokens are not accepted"});
  // RSA and ECDSA verification take tens of microseconds: off the I/O thread.
  boost::asio::post(checks_, [this, token = std::move(token), reply = std::move(reply)] {
    auto r = jwt_->verify(token, unix_now());
    if (!r.ok) return reply({reason_code::not_authorized, {}, 0, "token: " + r.error});
    reply({reason_code::success,
           std::move(r.ok->identity),
           r.ok->expires_at + static_cast<std::int64_t>(jwt_leeway_s_),
           {}});
  });
}

authenticator::~authenticator() {
  checks_.join();
}

void authenticator::check(std::optional<std::string> username, std::optional<std::string> password,
                          std::optional<std::string> token,
                          const boost::asio::any_io_executor& reply_on, verdict done) {
  if (token) return check_token(std::move(*token), reply_on, std::move(done));
  if (jwt_ && password && jwt_verifier::looks_like_jwt(*password)) {
    // A token in the password field: a bad one is a bad password.
    return check_token(std::move(*password), reply_on, [done = std::move(done)](outcome o) {
      if (o.rc != reason_code::success) o.rc = reason_code::bad_user_name_or_password;
      done(std::move(o));
    });
  }
  auto reply = [reply_on, done = std::move(done)](reason_code rc) {
    boost::asio::post(reply_on, [done, rc] { done(outcome{rc, {}, 0, {}}); });
  };
  if (!username)
    return reply(allow_anonymous_ ? reason_code::success : reason_code::not_authorized);
  if (!passwords_) return reply(reason_code::success);
  boost::asio::post(checks_, [this, username = std::move(*username), password = std::move(password),
                              reply = std::move(reply)] {
    const password_hash* expected = passwords_->find(username);
    // An unknown user costs a hash too, so that timing does not tell which
    // usernames exist.
    static const password_hash decoy = password_hash::make("decoy");
    bool ok = password && (expected ? expected : &decoy)->matches(*password) && expected;
    reply(ok ? reason_code::success : reason_code::bad_user_name_or_password);
  });
}

}  // namespace convoy::runtime
