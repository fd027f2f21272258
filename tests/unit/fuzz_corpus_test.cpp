// Replays the decoder fuzz corpus (seeds and any crash inputs added after a
// fix) through the fuzz target's checks, so regular builds exercise it too.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/decoder_check.hpp"
#include "tests/fuzz/payload_check.hpp"
#include "tests/fuzz/session_check.hpp"

#ifndef CONVOY_SOURCE_DIR
#error "CONVOY_SOURCE_DIR must name the source tree (see tests/CMakeLists.txt)"
#endif

using namespace convoy::mqtt;

namespace {

byte_buffer read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return byte_buffer(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("decoder fuzz corpus passes the fuzz target's checks") {
  const std::filesystem::path dir =
      std::filesystem::path(CONVOY_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / "decoder";
  REQUIRE(std::filesystem::is_directory(dir));
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 20);

  for (const auto& path : files) {
    const std::string name = path.filename().string();
    CAPTURE(name);
    byte_buffer input = read_file(path);
    CHECK(fuzz::check_decoder(input) == "");

    // Seeds written by make_seeds decode completely in the version they name.
    std::optional<protocol_version> version;
    if (name.starts_with("v5_")) version = protocol_version::v5;
    if (name.starts_with("v311_")) version = protocol_version::v311;
    if (!version || input.empty()) continue;
    decode_options options;
    options.version = *version;
    byte_view rest = byte_view{input}.subspan(1);
    while (!rest.empty()) {
      decode_result r = decode(rest, options);
      REQUIRE_MESSAGE(r.complete(), std::string{to_string(r.error)} << ": " << r.detail);
      rest = rest.subspan(r.consumed);
    }
  }
}

TEST_CASE("session fuzz corpus passes the fuzz target's checks") {
  const std::filesystem::path dir =
      std::filesystem::path(CONVOY_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / "session";
  REQUIRE(std::filesystem::is_directory(dir));
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 10);
  convoy::fuzz::session_harness harness;
  for (const auto& path : files) {
    CAPTURE(path.filename().string());
    byte_buffer input = read_file(path);
    CHECK(harness.run(input) == "");
    // Every seed gets at least its CONNACK and one more answer.
    CHECK(harness.last_frames() >= 2);
  }
}

TEST_CASE("payload fuzz corpus passes the fuzz target's checks") {
  const std::filesystem::path dir =
      std::filesystem::path(CONVOY_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / "payload";
  REQUIRE(std::filesystem::is_directory(dir));
  std::size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    CAPTURE(entry.path().filename().string());
    byte_buffer input = read_file(entry.path());
    CHECK(convoy::fuzz::check_payload(input) == "");
    ++seen;
  }
  CHECK(seen >= 8);
}
