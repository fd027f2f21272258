#include "runtime/authenticator.hpp"

#include <boost/asio/post.hpp>

namespace convoy::runtime {

using mqtt::reason_code;

authenticator::authenticator(const config::node_config::auth_section& settings)
    : allow_anonymous_(settings.allow_anonymous) {
  if (!settings.password_file.empty()) passwords_ = password_file::load(settings.password_file);
}

authenticator::~authenticator() {
  checks_.join();
}

void authenticator::check(std::optional<std::string> username, std::optional<std::string> password,
                          const boost::asio::any_io_executor& reply_on, verdict done) {
  auto reply = [reply_on, done = std::move(done)](reason_code rc) {
    boost::asio::post(reply_on, [done, rc] { done(rc); });
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
