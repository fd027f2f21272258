// libFuzzer target for whole sessions: a CONNECT, then arbitrary packets,
// against the real session, registry and topic shard actors (see
// session_check.hpp). Built by tests/fuzz/CMakeLists.txt, run by
// scripts/fuzz.sh.

#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/session_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One actor system for the whole run: sessions of earlier inputs stay
  // around, as they would on a node. Never destroyed: at exit CAF's own
  // globals may already be gone.
  static auto* harness = new convoy::fuzz::session_harness;
  std::string failure = harness->run({data, size});
  if (!failure.empty()) {
    std::fprintf(stderr, "session invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
