// libFuzzer target for the MQTT decoder: nothing crashes or trips a sanitizer,
// and every packet that decodes survives encode -> decode unchanged (see
// decoder_check.hpp). Built by tests/fuzz/CMakeLists.txt, run by scripts/fuzz.sh.

#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/decoder_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string failure = convoy::mqtt::fuzz::check_decoder({data, size});
  if (!failure.empty()) {
    std::fprintf(stderr, "decoder invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
