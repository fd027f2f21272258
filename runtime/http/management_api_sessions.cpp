// The management API's client and session routes: pages of sessions,
// one session with its subscriptions, kicking a client, discarding a
// session. The session registry and the sessions answer.

#include "runtime/http/management_api.hpp"

#include <spdlog/spdlog.h>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"

namespace convoy::runtime {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

json to_json(const session_summary& s) {
  json j{{"clientId", s.client_id},
         {"connected", s.connected},
         {"identity", s.identity},
         {"authMethod", s.auth_method},
         {"protocolVersion", s.protocol_version == 5 ? "5.0" : "3.1.1"},
         {"keepAlive", s.keep_alive},
         {"sessionExpiryInterval", s.session_expiry},
         {"subscriptionCount", s.subscription_count},
         {"inflight", s.inflight},
         {"queued", s.queued},
         {"queuedBytes", s.queued_bytes}};
  if (!s.role.empty()) j["role"] = s.role;
  if (s.connected) {
    j["peer"] = s.peer;
    j["transport"] = s.transport;
  }
  return j;
}

json to_json(const subscription_record& r) {
  json j{{"filter", r.filter},
         {"qos", static_cast<int>(r.options.max_qos)},
         {"noLocal", r.options.no_local},
         {"retainAsPublished", r.options.retain_as_published},
         {"retainHandling", static_cast<int>(r.options.retain_handling)}};
  if (r.subscription_id != 0) j["subscriptionId"] = r.subscription_id;
  return j;
}

// A session with its subscriptions, as GET of one client or session shows it.
json with_subscriptions(const session_summary& s) {
  json j = to_json(s);
  json subs = json::array();
  for (const auto& r : s.subscriptions)
    subs.push_back(to_json(r));
  j["subscriptions"] = std::move(subs);
  return j;
}

}  // namespace

void management_api::page_sessions(std::shared_ptr<call> c, bool connected_only) {
  auto limit = c->limit();
  if (!limit) return;
  struct paging {
    std::string after;
    json data = json::array();
    std::uint32_t pages = 0;
  };
  auto p = std::make_shared<paging>();
  p->after = c->query_value("after");
  std::string prefix = c->query_value("prefix");
  std::string identity = c->query_value("identity");
  auto self = this;
  // One page from the registry, summaries from its sessions, and on until
  // the answer is full. Pages of sessions that all filter out still end:
  // after 50 pages the answer goes with what it has and its cursor.
  auto step = std::make_shared<std::function<void()>>();
  *step = [self, c, p, limit = *limit, prefix, identity, connected_only, step] {
    session_page_request req{p->after, prefix, limit};
    ask<session_page>(
        self->system_, self->session_registry_, req, self->timeout_,
        [self, c, p, limit, prefix, identity, connected_only,
         step](std::optional<session_page> page) {
          if (!page) return c->fail(504, "the session registry did not answer in time");
          auto ids = page->client_ids;
          bool more = page->more;
          std::uint64_t total = page->total;
          ask_all<session_summary>(
              self->system_, page->sessions, session_summary_request{false}, self->timeout_,
              [self, c, p, limit, ids, more, total, connected_only, identity,
               step](std::vector<std::optional<session_summary>> summaries) {
                for (std::size_t i = 0; i < summaries.size(); ++i) {
                  p->after = ids[i];
                  if (!summaries[i]) continue;  // ended meanwhile
                  if (connected_only && !summaries[i]->connected) continue;
                  if (!identity.empty() && summaries[i]->identity != identity) continue;
                  p->data.push_back(to_json(*summaries[i]));
                  if (p->data.size() == limit) break;
                }
                bool full = p->data.size() >= limit;
                bool exhausted = !more && (ids.empty() || p->after == ids.back());
                if (!full && !exhausted && ++p->pages < 50) return (*step)();
                json answer{{"data", std::move(p->data)},
                            {"next", exhausted && !full ? json(nullptr) : json(p->after)},
                            {"totalSessions", total}};
                if (full && !more && p->after == (ids.empty() ? "" : ids.back()))
                  answer["next"] = nullptr;
                c->reply(200, answer);
                *step = nullptr;  // breaks the cycle through the closure
              });
        });
  };
  (*step)();
}

void management_api::list_clients(std::shared_ptr<call> c) {
  page_sessions(std::move(c), true);
}

void management_api::list_sessions(std::shared_ptr<call> c) {
  page_sessions(std::move(c), false);
}

template <class F>
void management_api::with_session(std::shared_ptr<call> c, F f) {
  std::string id = c->param("clientId");
  ask<session_page>(system_, session_registry_, session_lookup{id}, timeout_,
                    [c, id, f = std::move(f)](std::optional<session_page> page) mutable {
                      if (!page) return c->fail(504, "the session registry did not answer in time");
                      if (page->sessions.empty())
                        return c->fail(404, "no session for client id '" + id + "'");
                      f(page->sessions.front());
                    });
}

void management_api::get_client(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    ask<session_summary>(system_, session, session_summary_request{true}, timeout_,
                         [c](std::optional<session_summary> s) {
                           if (!s || !s->connected)
                             return c->fail(
                                 404, "client '" + c->param("clientId") + "' is not connected");
                           c->reply(200, with_subscriptions(*s));
                         });
  });
}

void management_api::get_session(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    ask<session_summary>(system_, session, session_summary_request{true}, timeout_,
                         [c](std::optional<session_summary> s) {
                           if (!s) return c->fail(404, "the session ended");
                           c->reply(200, with_subscriptions(*s));
                         });
  });
}

// A session keeps its subscriptions sorted by filter, so pages go by filter.
void management_api::get_subscriptions(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  with_session(c, [this, c, limit = *limit](caf::actor session) {
    ask<session_summary>(system_, session, session_summary_request{true}, timeout_,
                         [c, limit](std::optional<session_summary> s) {
                           if (!s) return c->fail(404, "the session ended");
                           std::string after = c->query_value("after");
                           json subs = json::array();
                           json next = nullptr;
                           for (const auto& r : s->subscriptions) {
                             if (!after.empty() && r.filter <= after) continue;
                             if (subs.size() == limit) {
                               next = subs.back()["filter"];
                               break;
                             }
                             subs.push_back(to_json(r));
                           }
                           c->reply(200, {{"data", std::move(subs)}, {"next", std::move(next)}});
                         });
  });
}

void management_api::kick_client(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    ask<bool>(system_, session, kick_request{"disconnected by an operator"}, timeout_,
              [c](std::optional<bool> was_connected) {
                if (!was_connected || !*was_connected)
                  return c->fail(404, "client '" + c->param("clientId") + "' is not connected");
                c->no_content();
              });
  });
}

void management_api::discard_session(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    spdlog::info("API: discarding the session of '{}'", c->param("clientId"));
    ask<bool>(system_, session, convoy::discard_session{}, timeout_, [c](std::optional<bool> done) {
      if (!done) return c->fail(404, "the session ended");
      c->no_content();
    });
  });
}

}  // namespace convoy::runtime
