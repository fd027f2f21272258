// What the device registry accepts as VINs and certificate fingerprints.

#include <doctest/doctest.h>

#include "actors/vehicle/registry_shard.hpp"

using convoy::normalize_fingerprint;
using convoy::valid_vin;

TEST_CASE("registry: fingerprints as openssl prints them or as plain hex") {
  const std::string hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  CHECK(normalize_fingerprint(hex64) == hex64);
  std::string colons;
  for (std::size_t i = 0; i < hex64.size(); i += 2)
    colons += (i ? ":" : "") + hex64.substr(i, 2);
  for (auto& c : colons)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(normalize_fingerprint(colons) == hex64);
  CHECK(normalize_fingerprint("").empty());
  CHECK(normalize_fingerprint(hex64.substr(1)).empty());        // SHA-1 length or cut short
  CHECK(normalize_fingerprint(hex64 + "00").empty());           // too long
  CHECK(normalize_fingerprint("g" + hex64.substr(1)).empty());  // not hex
}

TEST_CASE("registry: VINs that cannot act as topic wildcards") {
  CHECK(valid_vin("WVWZZZ1JZXW000001"));
  CHECK(valid_vin("fleet-7_car.3"));
  CHECK_FALSE(valid_vin(""));
  CHECK_FALSE(valid_vin("a/b"));
  CHECK_FALSE(valid_vin("+"));
  CHECK_FALSE(valid_vin("#"));
  CHECK_FALSE(valid_vin("with space"));
  CHECK_FALSE(valid_vin(std::string(65, 'A')));
}
