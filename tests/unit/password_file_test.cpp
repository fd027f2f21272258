#include <doctest/doctest.h>

#include <string>

#include "runtime/auth/password_file.hpp"

using convoy::runtime::password_file;
using convoy::runtime::password_file_error;
using convoy::runtime::password_hash;

namespace {

// Written by Debian's mosquitto_passwd 2.0 (-c) and with -H sha512.
constexpr const char* mosquitto_file =
    "# fleet services\n"
    "vehicle1:$7$101$EJ87+m7PpAtk27fe$wD6bCCXoXbwzqOFJqeCnU8/tSbvikkKIyQqpEUxoDIfOICdPa2+cTl/"
    "7qFTjtDHxFxNXLSa/7tO1LSomz7M7dw==\n"
    "\n"
    "old:$6$vzBdM+KHgQAr51CG$gW2Y+9kcIrXUabDncePZxG0oxQGc2pYrq+OV28bgoXFbp9IgZ7jD22FTcGswx0O+"
    "U+i4jsZy91zAlgFHlFJJYw==\r\n";

std::string error_of(const std::string& text) {
  try {
    password_file::parse(text, "pw");
  } catch (const password_file_error& e) {
    return e.what();
  }
  FAIL("parsed: " << text);
  return {};
}

}  // namespace

TEST_CASE("password files written by mosquitto_passwd are read and checked") {
  auto file = password_file::parse(mosquitto_file, "pw");
  CHECK(file.size() == 2);
  REQUIRE(file.find("vehicle1") != nullptr);
  CHECK(file.find("vehicle1")->matches("s3cret"));
  CHECK_FALSE(file.find("vehicle1")->matches("s3cret "));
  CHECK_FALSE(file.find("vehicle1")->matches(""));
  REQUIRE(file.find("old") != nullptr);
  CHECK(file.find("old")->matches("oldpw"));
  CHECK_FALSE(file.find("old")->matches("s3cret"));
  CHECK(file.find("nobody") == nullptr);
  CHECK(file.find("vehicle1")->iterations == 101);
}

TEST_CASE("new password hashes round-trip through their text form") {
  auto made = password_hash::make("correct horse", 1000);
  auto text = made.to_string();
  CHECK(text.starts_with("$7$1000$"));
  auto parsed = password_hash::parse(text);
  CHECK(parsed.matches("correct horse"));
  CHECK_FALSE(parsed.matches("correct horses"));
  // A second hash of the same password has its own salt.
  CHECK(password_hash::make("correct horse", 1000).to_string() != text);
}

TEST_CASE("bad password file lines name the file, line and user but not the hash") {
  CHECK(error_of("a:$7$101$EJ87+m7PpAtk27fe$c2hvcnQ=\n") == "pw:1: user 'a': hash is not 64 bytes");
  CHECK(error_of("\nnohash\n") == "pw:2: expected 'username:hash'");
  CHECK(error_of(":$7$1$x$y\n") == "pw:1: expected 'username:hash'");
  CHECK(error_of("b:plaintext\n") == "pw:1: user 'b': not a password hash ($7$... or $6$...)");
  CHECK(error_of("c:$5$abc$def\n").starts_with("pw:1: user 'c': unknown hash method"));
  CHECK(error_of("d:$7$0$EJ87+m7PpAtk27fe$x\n").starts_with("pw:1: user 'd': iteration count"));
  CHECK(error_of("e:$7$101$***$x\n") == "pw:1: user 'e': salt is not base64");
  auto line = std::string{mosquitto_file}.substr(std::string{mosquitto_file}.find("vehicle1"));
  line = line.substr(0, line.find('\n') + 1);
  CHECK(error_of(line + line) == "pw:2: user 'vehicle1' appears twice");
  CHECK_THROWS_AS(password_file::load("/nonexistent/passwords"), password_file_error);
}
