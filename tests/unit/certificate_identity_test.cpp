// Identities read from client certificates built in memory with OpenSSL:
// subject CN, DNS and URI subject alternative names, fingerprint, serial,
// and names that must not be taken (missing fields, embedded NULs).

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "runtime/auth/certificate_identity.hpp"

using convoy::runtime::pick_identity;
using convoy::runtime::read_certificate_identity;

namespace {

struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

EVP_PKEY* test_key() {
  static EVP_PKEY* key = EVP_EC_gen("P-256");
  return key;
}

// A self-signed certificate with the given CN (raw bytes, may hold a NUL)
// and subjectAltName entries ("DNS:..", "URI:..").
x509_ptr make_certificate(const std::string& cn, const std::vector<std::string>& sans = {},
                          long serial = 4660) {
  x509_ptr cert{X509_new()};
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), test_key());
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!cn.empty()) {
    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.data()),
                               static_cast<int>(cn.size()), -1, 0);
  } else {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Convoy"), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), name);
  if (!sans.empty()) {
    std::string value;
    for (const auto& s : sans)
      value += (value.empty() ? "" : ",") + s;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, value.c_str());
    REQUIRE(ext);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert.get(), test_key(), EVP_sha256());
  return cert;
}

}  // namespace

TEST_CASE("certificate identity: CN, SANs, fingerprint and serial") {
  auto cert = make_certificate(
      "WVWZZZ1JZXW000001",
      {"DNS:tcu-1.fleet.example", "URI:urn:vin:WVWZZZ1JZXW000001", "DNS:tcu-1b.fleet.example"});
  auto id = read_certificate_identity(cert.get());
  CHECK(id.common_name == "WVWZZZ1JZXW000001");
  CHECK(id.dns_names == std::vector<std::string>{"tcu-1.fleet.example", "tcu-1b.fleet.example"});
  CHECK(id.uris == std::vector<std::string>{"urn:vin:WVWZZZ1JZXW000001"});
  CHECK(id.serial == "1234");
  CHECK(id.fingerprint_sha256.size() == 64);
  // The fingerprint is of this certificate only.
  auto other = make_certificate("WVWZZZ1JZXW000001", {}, 4661);
  CHECK(read_certificate_identity(other.get()).fingerprint_sha256 != id.fingerprint_sha256);

  CHECK(pick_identity(id, "cn") == "WVWZZZ1JZXW000001");
  CHECK(pick_identity(id, "san_dns") == "tcu-1.fleet.example");
  CHECK(pick_identity(id, "san_uri") == "urn:vin:WVWZZZ1JZXW000001");
  CHECK_FALSE(pick_identity(id, "serial"));
}

TEST_CASE("certificate identity: missing fields name nobody") {
  auto cert = make_certificate("");
  auto id = read_certificate_identity(cert.get());
  CHECK(id.common_name.empty());
  CHECK_FALSE(pick_identity(id, "cn"));
  CHECK_FALSE(pick_identity(id, "san_dns"));
  CHECK_FALSE(pick_identity(id, "san_uri"));
  CHECK(read_certificate_identity(nullptr).common_name.empty());
}

TEST_CASE("certificate identity: a CN with an embedded NUL is not truncated into another name") {
  auto cert = make_certificate(std::string("VIN1\0.evil.example", 18));
  auto id = read_certificate_identity(cert.get());
  CHECK(id.common_name.empty());
  CHECK_FALSE(pick_identity(id, "cn"));
}

TEST_CASE("certificate identity: UTF-8 names come through as UTF-8") {
  auto cert = make_certificate("Fahrzeug M\xC3\xBCnchen");
  CHECK(read_certificate_identity(cert.get()).common_name == "Fahrzeug M\xC3\xBCnchen");
}
