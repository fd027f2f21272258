#pragma once

#include <stdexcept>
#include <string>

#include "actors/core/access_policy.hpp"

namespace convoy::runtime {

// A policy file that cannot be used: the message names the file, the line
// and the entry.
class access_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads auth.acl_file, a TOML file of roles and who has them:
//
//   [assign]                  # role by how a client logged in
//   certificate = "vehicle"
//   password = "service"
//   jwt = "service"           # JSON Web Token logins
//   anonymous = "guest"       # optional; without it anonymous clients may do nothing
//
//   [users]                   # role by identity, before [assign]
//   ops-console = "operator"
//
//   [roles.vehicle]
//   client_ids = ["{identity}", "{identity}-*"]   # optional; without it any client id
//   publish = ["vehicles/{vin}/telemetry/#"]
//   subscribe = ["vehicles/{vin}/commands/#", "broadcast/{region}/#"]
//
// Throws access_file_error.
access_policy load_access_file(const std::string& path);

// The rules of a node without auth.acl_file: every login may publish and
// subscribe to every topic but $CONTROL/..., so the registry and operator
// requests need a role of an ACL file that names them.
access_policy builtin_access_policy();

// The same from text, for tests; `name` stands for the file in messages.
access_policy parse_access_file(std::string_view text, const std::string& name);

}  // namespace convoy::runtime
