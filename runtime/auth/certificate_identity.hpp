#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

namespace convoy::runtime {

// What a client certificate says about who holds it.
struct certificate_identity {
  std::string common_name;             // subject CN, empty if none
  std::vector<std::string> dns_names;  // subject alternative names of type DNS
  std::vector<std::string> uris;       // subject alternative names of type URI
  std::string fingerprint_sha256;      // hex, lower case, of the DER encoding
  std::string serial;                  // hex
};

certificate_identity read_certificate_identity(X509* cert);

// The device identity under tls.identity ("cn", "san_dns" or "san_uri"),
// or nothing when the certificate lacks that field.
std::optional<std::string> pick_identity(const certificate_identity& id, std::string_view field);

}  // namespace convoy::runtime
