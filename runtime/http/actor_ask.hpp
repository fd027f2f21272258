#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

namespace convoy::runtime {

// Asks actors from outside the actor world without blocking a thread: a
// short-lived actor sends the requests and hands the answers to `done`, on
// one of CAF's threads, once all are in (an answer missing after `timeout`,
// or an error, is nullopt). The edges use it where a scoped_actor would
// block an I/O thread.
template <class Reply, class Message, class Done>
void ask_all(caf::actor_system& system, std::vector<caf::actor> targets, Message message,
             std::chrono::milliseconds timeout, Done done) {
  system.spawn(
      [](caf::event_based_actor* self, std::vector<caf::actor> targets, Message message,
         std::chrono::milliseconds timeout, Done done) {
        struct gathering {
          std::vector<std::optional<Reply>> answers;
          std::size_t left;
          Done done;
        };
        auto g = std::make_shared<gathering>(gathering{
            std::vector<std::optional<Reply>>(targets.size()), targets.size(), std::move(done)});
        if (targets.empty()) {
          g->done(std::move(g->answers));
          return self->quit();
        }
        for (std::size_t i = 0; i < targets.size(); ++i) {
          auto finish = [self, g] {
            if (--g->left == 0) {
              g->done(std::move(g->answers));
              self->quit();
            }
          };
          if (!targets[i]) {
            finish();
            continue;
          }
          self->request(targets[i], timeout, message)
              .then(
                  [g, i, finish](Reply& r) {
                    g->answers[i] = std::move(r);
                    finish();
                  },
                  [finish](caf::error&) { finish(); });
        }
      },
      std::move(targets), std::move(message), timeout, std::move(done));
}

// One actor, one answer.
template <class Reply, class Message, class Done>
void ask(caf::actor_system& system, caf::actor target, Message message,
         std::chrono::milliseconds timeout, Done done) {
  ask_all<Reply>(system, std::vector<caf::actor>{std::move(target)}, std::move(message), timeout,
                 [done = std::move(done)](std::vector<std::optional<Reply>> answers) mutable {
                   done(std::move(answers.front()));
                 });
}

}  // namespace convoy::runtime
