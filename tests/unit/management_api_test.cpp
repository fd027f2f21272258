// The management API's routes and their OpenAPI description agree both
// ways, and API key files load, check and refuse as documented.

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/auth/api_keys.hpp"
#include "runtime/http/management_api.hpp"

using namespace convoy::runtime;

TEST_CASE("management API: every route is in the OpenAPI document and nothing else is") {
  auto doc = nlohmann::json::parse(management_api::openapi_document());
  CHECK(doc["openapi"].get<std::string>().starts_with("3."));
  std::set<std::string> documented;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, op] : item.items()) {
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      documented.insert(upper + " " + path);
      CHECK_MESSAGE(op.contains("responses"), path);
    }
  std::set<std::string> served;
  for (const auto& r : management_api::route_names())
    served.insert(r);
  for (const auto& r : served)
    CHECK_MESSAGE(documented.count(r) == 1, "route not documented: " << r);
  for (const auto& d : documented)
    CHECK_MESSAGE(served.count(d) == 1, "documented but not served: " << d);
}

namespace {

// Named by process and count: test cases run as processes side by side.
struct temp_file {
  static inline int made = 0;
  std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("convoy-keys-" + std::to_string(::getpid()) + "-" + std::to_string(++made));
  explicit temp_file(const std::string& text) { std::ofstream(path) << text; }
  ~temp_file() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("api keys: generated keys check against their line, others do not") {
  auto a = api_keys::generate("ops");
  auto b = api_keys::generate("ci");
  CHECK(a.key.size() == 43);
  CHECK(a.key != b.key);
  CHECK(a.line.starts_with("ops "));
  temp_file f("# operators\n\n" + a.line + "\n  " + b.line + "  \n");
  api_keys keys(f.path.string());
  CHECK(keys.check(a.key) == std::optional<std::string>{"ops"});
  CHECK(keys.check(b.key) == std::optional<std::string>{"ci"});
  CHECK_FALSE(keys.check("nope"));
  CHECK_FALSE(keys.check(""));
  CHECK_FALSE(keys.check(a.line.substr(4)));  // the hash is not the key
}

TEST_CASE("api keys: a bad file names file and line") {
  auto throws_with = [](const std::string& text, const std::string& expected) {
    temp_file f(text);
    try {
      api_keys keys(f.path.string());
      FAIL("no error for: " << text);
    } catch (const api_keys_error& e) {
      std::string what = e.what();
      CHECK_MESSAGE(what.find(expected) != std::string::npos, what);
      CHECK_MESSAGE(what.find(f.path.string()) != std::string::npos, what);
    }
  };
  throws_with("ops\n", ":1: expected \"name sha256-hex\"");
  throws_with("# c\nops abc\n", ":2: the hash of key 'ops' is not 64 hex digits");
  throws_with("ops " + std::string(64, 'g') + "\n", "not 64 hex digits");
  CHECK_THROWS_AS(api_keys("/nonexistent/keys"), api_keys_error);
}
