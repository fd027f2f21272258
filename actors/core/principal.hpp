#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

namespace convoy {

// How a client proved who it is.
enum class auth_method : std::uint8_t {
  anonymous = 0,    // no login (anonymous clients allowed); with a policy, its anonymous role
  password = 1,     // username and password (or a username, when passwords are not checked)
  certificate = 2,  // a verified TLS client certificate
  jwt = 3,          // a JSON Web Token of a cloud service
};

inline const char* to_string(auth_method m) {
  switch (m) {
    case auth_method::anonymous:
      return "anonymous";
    case auth_method::password:
      return "password";
    case auth_method::certificate:
      return "certificate";
    case auth_method::jwt:
      return "jwt";
  }
  return "unknown";
}

// Who is behind a connection, once authenticated. Immutable and shared: a
// session holds a pointer, not a copy, since every vehicle has one.
struct client_principal {
  // The certificate's identity (tls.identity) or the username.
  std::string identity;
  auth_method method = auth_method::password;
  // Its role in auth.acl_file, which says what it may do; empty without one.
  std::string role;
  // The identity was proven (a certificate, or a password checked against
  // auth.password_file). Only proven identities own their sessions: an
  // unchecked username is a claim anyone can make.
  bool verified = false;
  // Certificate logins: the certificate's SHA-256 fingerprint, which the
  // device registry knows devices by, and the vehicle's region from there.
  std::string fingerprint;
  std::string region;
  // JWT logins: when the token expires (Unix seconds, with the leeway);
  // the connection closes then unless AUTH brought a fresh token.
  std::int64_t expires_at = 0;
};

// Null for anonymous clients. Travels between actors by value.
struct principal_ptr {
  std::shared_ptr<const client_principal> ptr;

  const client_principal* operator->() const { return ptr.get(); }
  const client_principal& operator*() const { return *ptr; }
  explicit operator bool() const { return static_cast<bool>(ptr); }
};

inline principal_ptr make_principal(client_principal p) {
  return {std::make_shared<const client_principal>(std::move(p))};
}

inline principal_ptr make_principal(std::string identity, auth_method method, std::string role = {},
                                    bool verified = true) {
  client_principal p;
  p.identity = std::move(identity);
  p.method = method;
  p.role = std::move(role);
  p.verified = verified;
  return make_principal(std::move(p));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, principal_ptr& x) {
  bool present = static_cast<bool>(x);
  std::string identity = present ? x->identity : std::string{};
  auto method = present ? x->method : auth_method::password;
  std::string role = present ? x->role : std::string{};
  bool verified = present && x->verified;
  std::string fingerprint = present ? x->fingerprint : std::string{};
  std::string region = present ? x->region : std::string{};
  std::int64_t expires_at = present ? x->expires_at : 0;
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("principal"), present, identity, method, role, verified,
             fingerprint, region, expires_at);
  } else {
    return f(caf::meta::type_name("principal"), present, identity, method, role, verified,
             fingerprint, region, expires_at, caf::meta::load_callback([&]() -> caf::error {
               x = present ? make_principal(client_principal{
                                 std::move(identity), method, std::move(role), verified,
                                 std::move(fingerprint), std::move(region), expires_at})
                           : principal_ptr{};
               return caf::none;
             }));
  }
}

// Whether two logins are the same owner of a session. Unproven identities
// (anonymous clients, unchecked usernames) are all the same nobody: they own
// nothing the others could not take.
inline bool same_identity(const principal_ptr& a, const principal_ptr& b) {
  auto proven = [](const principal_ptr& p) { return p && p->verified; };
  if (!proven(a) || !proven(b)) return proven(a) == proven(b);
  return a->method == b->method && a->identity == b->identity;
}

}  // namespace convoy
