#include "runtime/auth/certificate_identity.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

namespace convoy::runtime {

namespace {

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

// A string type of the certificate as UTF-8; embedded NULs, a classic trick
// to make "vin\0.evil.example" pass as "vin", make the name unusable.
std::optional<std::string> utf8_of(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) return std::nullopt;
  std::string text(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  if (text.find('\0') != std::string::npos) return std::nullopt;
  return text;
}

}  // namespace

certificate_identity read_certificate_identity(X509* cert) {
  certificate_identity id;
  if (!cert) return id;
  if (X509_NAME* subject = X509_get_subject_name(cert)) {
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      if (auto cn = utf8_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at))))
        id.common_name = std::move(*cn);
    }
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type == GEN_DNS) {
        if (auto s = utf8_of(name->d.dNSName)) id.dns_names.push_back(std::move(*s));
      } else if (name->type == GEN_URI) {
        if (auto s = utf8_of(name->d.uniformResourceIdentifier)) id.uris.push_back(std::move(*s));
      }
    }
    GENERAL_NAMES_free(names);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &digest_size) == 1)
    id.fingerprint_sha256 = hex(digest, digest_size);
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(cert)) {
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr)) {
      if (char* text = BN_bn2hex(bn)) {
        id.serial = text;
        OPENSSL_free(text);
      }
      BN_free(bn);
    }
  }
  return id;
}

std::optional<std::string> pick_identity(const certificate_identity& id, std::string_view field) {
  if (field == "cn") {
    if (id.common_name.empty()) return std::nullopt;
    return id.common_name;
  }
  const auto& list = field == "san_dns" ? id.dns_names : id.uris;
  if (field != "san_dns" && field != "san_uri") return std::nullopt;
  if (list.empty() || list.front().empty()) return std::nullopt;
  return list.front();
}

}  // namespace convoy::runtime
