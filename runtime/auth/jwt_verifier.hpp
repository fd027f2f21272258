#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace convoy::runtime {

// A [jwt] key file that cannot be used; the message names the key and file.
class jwt_config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks JSON Web Tokens (RFC 7519) of cloud services: HS256 with a shared
// secret, RS256 or ES256 with a public key, and the exp, nbf, iss and aud
// claims. Only algorithms with a configured key are accepted, so a token
// cannot pick HS256 and use the public key as its secret, and "none" never
// passes. Thread-safe after construction.
class jwt_verifier {
 public:
  // Loads the keys; throws jwt_config_error.
  explicit jwt_verifier(const config::node_config::jwt_section& settings);
  ~jwt_verifier();
  jwt_verifier(const jwt_verifier&) = delete;
  jwt_verifier& operator=(const jwt_verifier&) = delete;

  struct claims {
    std::string identity;            // the identity claim (jwt.identity_claim, "sub")
    std::int64_t expires_at = 0;     // exp, Unix seconds
    std::vector<std::string> roles;  // the "role" claim and the "roles" array
  };
  struct result {
    std::optional<claims> ok;
    std::string error;  // why not: "expired", "bad signature", "wrong audience", ...
  };

  // `now` in Unix seconds.
  result verify(std::string_view token, std::int64_t now) const;

  // Whether a password looks like a JWT (three base64url parts), so that
  // it is checked as one rather than against the password file.
  static bool looks_like_jwt(std::string_view text);

 private:
  struct keys;
  config::node_config::jwt_section settings_;
  std::unique_ptr<keys> keys_;
};

}  // namespace convoy::runtime
