// The session directory of a client slice: claims answered one after the
// other, the identity that owns a session, and the reports a slice taken
// over waits for before it answers.

#include <chrono>

#include <doctest/doctest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/messages.hpp"
#include "actors/routing/session_directory.hpp"

using namespace convoy;

namespace {

struct directory_config : caf::actor_system_config {
  directory_config() { register_message_types(*this); }
};

// An actor standing for a member's registry: it keeps the last
// session_superseded it got.
struct registry_stub_state {
  std::string superseded;
};

caf::behavior registry_stub(caf::stateful_actor<registry_stub_state>* self) {
  return {
      [self](const session_superseded& s) { self->state.superseded = s.client_id; },
      [self](const std::string&) { return self->state.superseded; },
  };
}

struct fixture {
  directory_config cfg;
  caf::actor_system system{cfg};
  caf::scoped_actor me{system};
  caf::actor directory = system.spawn(session_directory);
  caf::actor reg_a = system.spawn(registry_stub);
  caf::actor reg_b = system.spawn(registry_stub);

  ~fixture() {
    for (auto* a : {&directory, &reg_a, &reg_b})
      caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
  }

  // One client slice, served by this directory, with members a and b; the
  // reachable ones named in `reporting` report no sessions.
  void serve(std::vector<std::string> reachable = {"a"},
             std::vector<std::string> reporting = {"a"}) {
    me->send(directory, directory_view{"a", {7}, {"a", "b"}, std::move(reachable)});
    for (const auto& node : reporting)
      report(node, {});
  }

  session_claim_reply claim(const std::string& id, const std::string& node, principal_ptr owner,
                            std::chrono::milliseconds wait = std::chrono::seconds(2)) {
    session_claim_reply out;
    bool answered = false;
    me->request(directory, wait,
                session_claim{id, node, node == "a" ? reg_a : reg_b, std::move(owner)})
        .receive(
            [&](session_claim_reply& r) {
              out = std::move(r);
              answered = true;
            },
            [&](caf::error&) {});
    REQUIRE(answered);
    return out;
  }

  void report(const std::string& node, std::vector<directory_entry> entries) {
    me->send(directory, directory_report{0, node, node == "a" ? reg_a : reg_b, std::move(entries)});
  }

  std::string superseded_at(const caf::actor& reg) {
    std::string out;
    me->request(reg, std::chrono::seconds(1), std::string{"?"})
        .receive([&](std::string& s) { out = std::move(s); }, [&](caf::error&) {});
    return out;
  }
};

principal_ptr user(const std::string& name) {
  return make_principal(name, auth_method::password, {}, true);
}

}  // namespace

TEST_CASE("session directory: a slice it does not serve sends claims elsewhere") {
  fixture f;
  CHECK(f.claim("car", "a", {}).outcome == claim_outcome::not_home);
  f.me->send(f.directory, directory_view{"a", {0}, {"a"}, {"a"}});
  CHECK(f.claim("car", "a", {}).outcome == claim_outcome::not_home);
}

TEST_CASE("session directory: each claim names the member that held the session before") {
  fixture f;
  f.serve();
  auto first = f.claim("car", "a", user("alice"));
  CHECK(first.outcome == claim_outcome::granted);
  CHECK(!first.previous);
  auto moved = f.claim("car", "b", user("alice"));
  CHECK(moved.outcome == claim_outcome::granted);
  CHECK(moved.previous == f.reg_a);
  CHECK(moved.previous_node == "a");
  auto back = f.claim("car", "a", user("alice"));
  CHECK(back.previous == f.reg_b);
  // Gone from b while a holds it: a keeps it.
  f.me->send(f.directory, session_gone{"car", "b"});
  CHECK(f.claim("car", "a", user("alice")).previous == f.reg_a);
  f.me->send(f.directory, session_gone{"car", "a"});
  CHECK(!f.claim("car", "b", user("alice")).previous);
}

TEST_CASE("session directory: another identity's session is refused on every member") {
  fixture f;
  f.serve();
  CHECK(f.claim("car", "a", user("alice")).outcome == claim_outcome::granted);
  CHECK(f.claim("car", "b", user("bob")).outcome == claim_outcome::foreign);
  CHECK(f.claim("car", "b", principal_ptr{}).outcome == claim_outcome::foreign);
  // Still alice's, where she left it.
  CHECK(f.claim("car", "b", user("alice")).previous == f.reg_a);
  // Anonymous sessions are nobody's: any anonymous client takes them.
  CHECK(f.claim("anon", "a", principal_ptr{}).outcome == claim_outcome::granted);
  CHECK(f.claim("anon", "b", principal_ptr{}).previous == f.reg_a);
}

TEST_CASE("session directory: a slice taken over answers once the members reported") {
  fixture f;
  f.serve({"a", "b"}, {});
  // Waiting for the reports: the claim is answered once both came, and the
  // session b reported is known.
  f.me->send(f.directory, session_claim{"car", "a", f.reg_a, {}});
  f.report("a", {});
  f.report("b", {{"car", {}, false}});
  session_claim_reply reply;
  bool answered = false;
  f.me->receive(
      [&](session_claim_reply& r) {
        reply = std::move(r);
        answered = true;
      },
      caf::after(std::chrono::seconds(2)) >> [] {});
  REQUIRE(answered);
  CHECK(reply.outcome == claim_outcome::granted);
  CHECK(reply.previous == f.reg_b);
}

TEST_CASE("session directory: a member that never reports is not waited for past the window") {
  fixture f;
  f.serve({"a", "b"}, {"a"});
  auto start = std::chrono::steady_clock::now();
  auto reply = f.claim("car", "a", {}, std::chrono::seconds(6));
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(reply.outcome == claim_outcome::granted);
  CHECK(waited >= collect_window - std::chrono::milliseconds(100));
}

TEST_CASE("session directory: a second report of a held client id is the stale copy") {
  fixture f;
  f.serve();
  CHECK(f.claim("car", "a", {}).outcome == claim_outcome::granted);
  f.report("b", {{"car", {}, false}});
  // Answered after the directory told b, so b has heard by now.
  CHECK(f.claim("car", "a", {}).previous == f.reg_a);
  CHECK(f.superseded_at(f.reg_b) == "car");
}

TEST_CASE("session directory: sessions of a member that left are forgotten") {
  fixture f;
  f.serve();
  CHECK(f.claim("car", "b", {}).outcome == claim_outcome::granted);
  f.me->send(f.directory, directory_view{"a", {7}, {"a"}, {"a"}});
  CHECK(!f.claim("car", "a", {}).previous);
}
