#pragma once

#include <chrono>

namespace convoy {

// How long an actor waits for an answer from an actor that may live on
// another node (registry, consent and state shards, command shards: the
// owners of vehicle slices). CAF 0.17.6 never answers a request to an actor
// whose node died, so such a request always carries a bound and an error
// path; requests to actors that are always local (the storage gate, the
// node's own sessions) may wait for as long as the work takes.
inline constexpr std::chrono::seconds peer_answer_timeout{5};

}  // namespace convoy
