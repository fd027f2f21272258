// libFuzzer target for the routing rules' payload reader and predicates
// (see payload_check.hpp). Built by tests/fuzz/CMakeLists.txt, run by
// scripts/fuzz.sh.

#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/payload_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string failure = convoy::fuzz::check_payload({data, size});
  if (!failure.empty()) {
    std::fprintf(stderr, "payload invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
