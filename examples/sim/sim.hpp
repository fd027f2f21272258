#pragma once

#include "examples/sim/options.hpp"

namespace convoy::sim {

// Runs `convoy sim`: 0 when the run completed, 1 when not a single client
// could connect, 2 for options that make no sense together.
int run(const options& o);

}  // namespace convoy::sim
