#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace convoy::runtime {

// A salted, slow hash of one password, as mosquitto_passwd writes it, so
// that operators can keep using the password files they have:
//   $7$<iterations>$<salt, base64>$<PBKDF2-HMAC-SHA512, base64>  (mosquitto 2.0)
//   $6$<salt, base64>$<SHA-512 of password and salt, base64>     (mosquitto 1.x)
struct password_hash {
  enum class method : std::uint8_t { pbkdf2_sha512, sha512 };
  method how = method::pbkdf2_sha512;
  std::uint32_t iterations = 0;
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> hash;

  // Parses "$7$..." or "$6$..."; throws std::invalid_argument saying what
  // is wrong.
  static password_hash parse(std::string_view text);
  // A new $7$ hash of password with a random salt.
  static password_hash make(std::string_view password, std::uint32_t iterations = 101);
  std::string to_string() const;

  // Whether password hashes to this, compared in constant time.
  bool matches(std::string_view password) const;
};

// A password file could not be read: the message names the file and line.
class password_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The users of a password file: one "username:hash" per line; empty lines
// and lines starting with '#' are skipped.
class password_file {
 public:
  static password_file load(const std::filesystem::path& path);
  static password_file parse(std::string_view text, const std::string& origin);

  const password_hash* find(std::string_view username) const;
  std::size_t size() const { return users_.size(); }

 private:
  std::unordered_map<std::string, password_hash> users_;
};

}  // namespace convoy::runtime
