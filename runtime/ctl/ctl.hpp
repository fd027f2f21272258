#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace convoy::ctl {

// `convoy ctl`: operate a node through its management API. Readable tables
// and key-value lists by default, the API's JSON with --json. Exit codes
// (also in `convoy ctl --help`): 0 done, 1 the node refused (its status and
// message are printed), 2 the node could not be reached or the command line
// is wrong, 3 a command waited for (`commands send/get --wait`) did not
// succeed.
struct options {
  std::string url = "http://127.0.0.1:8080";  // or $CONVOY_URL
  std::string api_key;                        // or $CONVOY_API_KEY
  std::string token;                          // or $CONVOY_API_TOKEN
  bool json = false;
  double timeout_s = 10;
};

// Adds the ctl subcommands to `ctl`; returns the function that runs the one
// parsed.
std::function<int()> add_commands(CLI::App& ctl, options& opts);

// When parsing a command line under `ctl` failed (but not for --help): says
// what is wrong, naming a mistyped subcommand and the valid ones, and returns
// the exit code, 2.
int parse_failed(const CLI::App& ctl, const CLI::ParseError& e);

}  // namespace convoy::ctl
