#include "runtime/auth/password_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace convoy::runtime {

namespace {

// A plausible bound: mosquitto_passwd's default is 101; more than this
// would let one CONNECT hold the authentication thread for seconds.
constexpr std::uint32_t max_iterations = 10'000'000;

std::vector<std::uint8_t> from_base64(std::string_view text, const char* what) {
  if (text.empty() || text.size() % 4 != 0)
    throw std::invalid_argument(std::string{what} + " is not base64");
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) throw std::invalid_argument(std::string{what} + " is not base64");
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

std::string to_base64(const std::vector<std::uint8_t>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t at = text.find(sep, start);
    if (at == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, at - start));
    start = at + 1;
  }
}

std::vector<std::uint8_t> digest(const password_hash& h, std::string_view password) {
  std::vector<std::uint8_t> out(h.hash.size());
  if (h.how == password_hash::method::pbkdf2_sha512) {
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), h.salt.data(),
                          static_cast<int>(h.salt.size()), static_cast<int>(h.iterations),
                          EVP_sha512(), static_cast<int>(out.size()), out.data()) != 1)
      out.clear();
    return out;
  }
  out.resize(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
            EVP_DigestUpdate(ctx, h.salt.data(), h.salt.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, out.data(), &length) == 1;
  EVP_MD_CTX_free(ctx);
  out.resize(ok ? length : 0);
  return out;
}

}  // namespace

password_hash password_hash::parse(std::string_view text) {
  auto parts = split(text, '$');
  // "$7$101$salt$hash" splits into "", "7", "101", "salt", "hash".
  if (parts.size() < 4 || !parts[0].empty())
    throw std::invalid_argument("not a password hash ($7$... or $6$...)");
  password_hash h;
  if (parts[1] == "7" && parts.size() == 5) {
    h.how = method::pbkdf2_sha512;
    auto [end, ec] =
        std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), h.iterations);
    if (ec != std::errc{} || end != parts[2].data() + parts[2].size() || h.iterations == 0 ||
        h.iterations > max_iterations)
      throw std::invalid_argument("iteration count must be 1.." + std::to_string(max_iterations));
    h.salt = from_base64(parts[3], "salt");
    h.hash = from_base64(parts[4], "hash");
  } else if (parts[1] == "6" && parts.size() == 4) {
    h.how = method::sha512;
    h.salt = from_base64(parts[2], "salt");
    h.hash = from_base64(parts[3], "hash");
  } else {
    throw std::invalid_argument(
        "unknown hash method (expected $7$ or $6$ as mosquitto_passwd "
        "writes them)");
  }
  if (h.hash.size() != 64) throw std::invalid_argument("hash is not 64 bytes");
  if (h.salt.empty()) throw std::invalid_argument("salt is empty");
  return h;
}

password_hash password_hash::make(std::string_view password, std::uint32_t iterations) {
  password_hash h;
  h.iterations = iterations;
  h.salt.resize(12);
  if (RAND_bytes(h.salt.data(), static_cast<int>(h.salt.size())) != 1)
    throw std::runtime_error("no random bytes for a salt");
  h.hash.resize(64);
  h.hash = digest(h, password);
  return h;
}

std::string password_hash::to_string() const {
  if (how == method::sha512) return "$6$" + to_base64(salt) + "$" + to_base64(hash);
  return "$7$" + std::to_string(iterations) + "$" + to_base64(salt) + "$" + to_base64(hash);
}

bool password_hash::matches(std::string_view password) const {
  auto computed = digest(*this, password);
  return computed.size() == hash.size() &&
         CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
}

password_file password_file::parse(std::string_view text, const std::string& origin) {
  password_file file;
  std::size_t number = 0;
  for (auto line : split(text, '\n')) {
    ++number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto where = [&] { return origin + ":" + std::to_string(number) + ": "; };
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      throw password_file_error(where() + "expected 'username:hash'");
    std::string username{line.substr(0, colon)};
    try {
      auto hash = password_hash::parse(line.substr(colon + 1));
      if (!file.users_.emplace(username, std::move(hash)).second)
        throw password_file_error(where() + "user '" + username + "' appears twice");
    } catch (const std::invalid_argument& e) {
      // The hash itself is not repeated: it is a secret too.
      throw password_file_error(where() + "user '" + username + "': " + e.what());
    }
  }
  return file;
}

password_file password_file::load(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) throw password_file_error(path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path.string());
}

const password_hash* password_file::find(std::string_view username) const {
  auto it = users_.find(std::string{username});
  return it == users_.end() ? nullptr : &it->second;
}

}  // namespace convoy::runtime
