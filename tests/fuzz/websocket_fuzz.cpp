// libFuzzer target for the WebSocket frame and handshake readers (see
// websocket_check.hpp). Built by tests/fuzz/CMakeLists.txt, run by scripts/fuzz.sh.

#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/websocket_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string failure = convoy::websocket::fuzz::check_websocket({data, size});
  if (!failure.empty()) {
    std::fprintf(stderr, "websocket invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
