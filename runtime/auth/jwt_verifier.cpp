#include "runtime/auth/jwt_verifier.hpp"

#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

namespace convoy::runtime {

namespace {

using json = nlohmann::json;

std::string read_file(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw jwt_config_error(key + " '" + path + "': cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::string> base64url_decode(std::string_view in) {
  static constexpr auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

bool verify_digest(EVP_PKEY* key, std::string_view signed_part, const std::string& signature) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1)
    return false;
  return EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
             reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
}

// ES256 signatures are R and S, 32 bytes each (RFC 7518 3.4); OpenSSL
// verifies the DER form.
std::optional<std::string> es256_to_der(const std::string& raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (n <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

bool audience_matches(const json& aud, const std::string& wanted) {
  if (aud.is_string()) return aud.get<std::string>() == wanted;
  if (aud.is_array())
    for (const auto& a : aud)
      if (a.is_string() && a.get<std::string>() == wanted) return true;
  return false;
}

}  // namespace

struct jwt_verifier::keys {
  std::string secret;   // HS256
  pkey_ptr public_key;  // RS256 or ES256
  bool rsa = false;
};

jwt_verifier::jwt_verifier(const config::node_config::jwt_section& settings)
    : settings_(settings), keys_(std::make_unique<keys>()) {
  if (!settings_.hs256_secret_file.empty()) {
    keys_->secret = read_file("jwt.hs256_secret_file", settings_.hs256_secret_file);
    while (!keys_->secret.empty() && (keys_->secret.back() == '\n' || keys_->secret.back() == '\r'))
      keys_->secret.pop_back();
    if (keys_->secret.size() < 32)
      throw jwt_config_error("jwt.hs256_secret_file '" + settings_.hs256_secret_file +
                             "': the secret must have at least 32 bytes (RFC 7518 3.2)");
  }
  if (!settings_.public_key_file.empty()) {
    std::string pem = read_file("jwt.public_key_file", settings_.public_key_file);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio{
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
    keys_->public_key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!keys_->public_key)
      throw jwt_config_error("jwt.public_key_file '" + settings_.public_key_file +
                             "': not a PEM public key");
    int type = EVP_PKEY_get_base_id(keys_->public_key.get());
    if (type == EVP_PKEY_RSA) {
      keys_->rsa = true;
    } else if (type != EVP_PKEY_EC) {
      throw jwt_config_error("jwt.public_key_file '" + settings_.public_key_file +
                             "': an RSA key (RS256) or P-256 key (ES256) is needed");
    }
  }
  if (keys_->secret.empty() && !keys_->public_key)
    throw jwt_config_error(
        "jwt.hs256_secret_file or jwt.public_key_file must be set when jwt.enabled is true");
}

jwt_verifier::~jwt_verifier() = default;

bool jwt_verifier::looks_like_jwt(std::string_view text) {
  auto first = text.find('.');
  if (first == std::string_view::npos || first == 0) return false;
  auto second = text.find('.', first + 1);
  return second != std::string_view::npos && second > first + 1 &&
         text.find('.', second + 1) == std::string_view::npos && text.substr(0, 2) == "ey";
}

jwt_verifier::result jwt_verifier::verify(std::string_view token, std::int64_t now) const {
  auto fail = [](std::string why) { return result{std::nullopt, std::move(why)}; };
  if (token.size() > 16 * 1024) return fail("token too long");
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return fail("not a JWT (header.payload.signature)");
  auto header_text = base64url_decode(token.substr(0, first));
  auto payload_text = base64url_decode(token.substr(first + 1, second - first - 1));
  auto signature = base64url_decode(token.substr(second + 1));
  if (!header_text || !payload_text || !signature) return fail("not base64url");
  json header = json::parse(*header_text, nullptr, false);
  json payload = json::parse(*payload_text, nullptr, false);
  if (!header.is_object() || !payload.is_object()) return fail("header or claims are not JSON");
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return fail("no alg");
  std::string_view signed_part = token.substr(0, second);
  const std::string algorithm = alg->get<std::string>();
  bool valid = false;
  if (algorithm == "HS256" && !keys_->secret.empty()) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    HMAC(EVP_sha256(), keys_->secret.data(), static_cast<int>(keys_->secret.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
         &mac_size);
    valid = signature->size() == mac_size && CRYPTO_memcmp(mac, signature->data(), mac_size) == 0;
  } else if (algorithm == "RS256" && keys_->public_key && keys_->rsa) {
    valid = verify_digest(keys_->public_key.get(), signed_part, *signature);
  } else if (algorithm == "ES256" && keys_->public_key && !keys_->rsa) {
    auto der = es256_to_der(*signature);
    valid = der && verify_digest(keys_->public_key.get(), signed_part, *der);
  } else {
    return fail("algorithm " + algorithm + " is not accepted");
  }
  if (!valid) return fail("bad signature");
  const std::int64_t leeway = settings_.leeway_s;
  auto exp = payload.find("exp");
  if (exp == payload.end() || !exp->is_number()) return fail("no exp claim");
  std::int64_t expires_at = exp->get<std::int64_t>();
  if (now >= expires_at + leeway) return fail("token expired");
  if (auto nbf = payload.find("nbf"); nbf != payload.end()) {
    if (!nbf->is_number()) return fail("nbf is not a number");
    if (now + leeway < nbf->get<std::int64_t>()) return fail("token not valid yet (nbf)");
  }
  if (!settings_.issuer.empty()) {
    auto iss = payload.find("iss");
    if (iss == payload.end() || !iss->is_string() || iss->get<std::string>() != settings_.issuer)
      return fail("wrong issuer");
  }
  if (!settings_.audience.empty()) {
    auto aud = payload.find("aud");
    if (aud == payload.end() || !audience_matches(*aud, settings_.audience))
      return fail("wrong audience");
  }
  auto id = payload.find(settings_.identity_claim);
  if (id == payload.end() || !id->is_string() || id->get<std::string>().empty())
    return fail("no " + settings_.identity_claim + " claim");
  claims c{id->get<std::string>(), expires_at, {}};
  // Roles, for the management API: "role": "operator" or "roles": [...].
  if (auto role = payload.find("role"); role != payload.end() && role->is_string())
    c.roles.push_back(role->get<std::string>());
  if (auto roles = payload.find("roles"); roles != payload.end() && roles->is_array())
    for (const auto& r : *roles)
      if (r.is_string()) c.roles.push_back(r.get<std::string>());
  return {std::move(c), {}};
}

}  // namespace convoy::runtime
