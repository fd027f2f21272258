#include "cluster/membership_keeper.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"

namespace convoy::cluster {

namespace {

// Every etcd call is bounded well below a renewal interval, so that a
// silent endpoint costs one renewal at most before the next one is tried.
std::chrono::milliseconds call_timeout(std::chrono::seconds ttl) {
  auto quarter = std::chrono::duration_cast<std::chrono::milliseconds>(ttl) / 4;
  return std::clamp(quarter, std::chrono::milliseconds(500), std::chrono::milliseconds(2000));
}

constexpr auto pause = std::chrono::seconds(1);
constexpr auto check_interval = std::chrono::milliseconds(100);
constexpr std::uint64_t reread_every = 300;  // checks: 30 s

}  // namespace

membership_keeper::membership_keeper(keeper_settings settings, observer watcher)
    : settings_(std::move(settings)),
      observer_(std::move(watcher)),
      work_(boost::asio::make_work_guard(io_)),
      etcd_(io_, settings_.etcd, call_timeout(settings_.lease_ttl)),
      state_(settings_.self.node, members_prefix(settings_.cluster)),
      claims_(settings_.cluster, settings_.slices),
      // One read and one watch cover the members and the slice claims.
      prefix_(cluster_prefix(settings_.cluster)),
      key_(members_prefix(settings_.cluster) + settings_.self.node),
      renewal_timer_(io_),
      check_timer_(io_) {}

membership_keeper::~membership_keeper() {
  stop();
}

void membership_keeper::start() {
  boost::asio::post(io_, [this] {
    join();
    read_members();
    schedule_renewal();
    schedule_check();
  });
  thread_ = std::thread([this] { io_.run(); });
}

bool membership_keeper::wait_joined(std::chrono::milliseconds limit) {
  auto f = joined_.get_future();
  return f.wait_for(limit) == std::future_status::ready && f.get();
}

void membership_keeper::stop() {
  if (!thread_.joinable()) return;
  auto revoked = std::make_shared<std::promise<void>>();
  boost::asio::post(io_, [this, revoked] {
    stopping_ = true;
    state_.leave();
    ++watch_generation_;
    if (watch_) watch_->cancel();
    renewal_timer_.cancel();
    check_timer_.cancel();
    if (state_.lease() == 0) return revoked->set_value();
    etcd_.post("/v3/lease/revoke", etcd::revoke_request(state_.lease()),
               [revoked](std::optional<std::string>, std::string) { revoked->set_value(); });
  });
  revoked->get_future().wait_for(std::chrono::milliseconds(1500));
  work_.reset();
  io_.stop();
  thread_.join();
}

void membership_keeper::join() {
  if (stopping_) return;
  const auto generation = ++join_generation_;
  const auto sent = clock::now();
  etcd_.post("/v3/lease/grant", etcd::grant_request(settings_.lease_ttl),
             [this, generation, sent](std::optional<std::string> failure, std::string body) {
               if (stopping_ || generation != join_generation_) return;
               try {
                 if (failure) throw etcd::reply_error(*failure);
                 auto grant = etcd::parse_grant(body);
                 state_.lease_granted(grant.id, std::chrono::seconds(grant.ttl), sent);
                 etcd_ok();
                 create_member_key();
               } catch (const std::exception& e) {
                 etcd_failed("lease grant", e.what());
                 retry_later(&membership_keeper::join, pause);
               }
             });
}

void membership_keeper::create_member_key() {
  if (stopping_) return;
  const auto generation = join_generation_;
  const auto lease = state_.lease();
  const auto sent = clock::now();
  member_record self = settings_.self;
  self.joined_at_ms = now_ms();
  etcd_.post(
      "/v3/kv/txn", etcd::create_request(key_, member_value(self), lease),
      [this, generation, lease, sent](std::optional<std::string> failure, std::string body) {
        if (stopping_ || generation != join_generation_) return;
        etcd::create_reply r;
        try {
          if (failure) throw etcd::reply_error(*failure);
          r = etcd::parse_create(body);
        } catch (const std::exception& e) {
          etcd_failed("member registration", e.what());
          // The lease may be what failed (expired meanwhile): start over.
          return retry_later(&membership_keeper::join, pause);
        }
        etcd_ok();
        std::int64_t incarnation = r.revision;
        if (!r.created) {
          if (!r.existing || r.existing->lease != lease) {
            // Another live lease holds this node's name: a previous
            // incarnation killed before it could leave, or a second node
            // with the same node.name.
            auto now = clock::now();
            if (!name_wait_logged_) {
              name_wait_since_ = now;
              name_wait_logged_ = true;
              spdlog::warn(
                  "cluster {}: the member name '{}' is held by incarnation {}; waiting for its "
                  "lease to expire (a node killed without leaving holds it for up to {} s)",
                  settings_.cluster, settings_.self.node,
                  r.existing ? r.existing->create_revision : 0, settings_.lease_ttl.count());
            }
            if (now - name_wait_since_ > settings_.lease_ttl * 2 + pause * 2) {
              auto why = "node.name '" + settings_.self.node +
                         "' is taken by a live member of "
                         "cluster '" +
                         settings_.cluster +
                         "': every node of a cluster needs a node.name of its own";
              if (observer_.on_fatal) observer_.on_fatal(why);
              if (!joined_set_) {
                joined_set_ = true;
                joined_.set_value(false);
              }
              return;
            }
            return retry_later(&membership_keeper::create_member_key,
                               std::chrono::milliseconds(500));
          }
          // Our own earlier attempt went through after all.
          incarnation = r.existing->create_revision;
        }
        name_wait_logged_ = false;
        state_.registered(incarnation, sent);
        spdlog::info("cluster {}: joined as {} (incarnation {}, lease TTL {} s, etcd {})",
                     settings_.cluster, settings_.self.node, incarnation,
                     settings_.lease_ttl.count(), etcd_.endpoint());
        publish();
        reconcile_slices();
        if (!joined_set_) {
          joined_set_ = true;
          joined_.set_value(true);
        }
      });
}

void membership_keeper::schedule_renewal() {
  renewal_timer_.expires_after(std::chrono::milliseconds(settings_.lease_ttl) / 4);
  renewal_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    renew();
    schedule_renewal();
  });
}

void membership_keeper::renew() {
  const auto lease = state_.lease();
  // One renewal at a time: an etcd slower than the renewal interval gets
  // no pile of connections.
  if (lease == 0 || renewing_) return;
  renewing_ = true;
  const auto sent = clock::now();
  etcd_.post("/v3/lease/keepalive", etcd::keepalive_request(lease),
             [this, lease, sent](std::optional<std::string> failure, std::string body) {
               renewing_ = false;
               if (stopping_ || lease != state_.lease()) return;
               std::int64_t ttl_left = 0;
               try {
                 if (failure) throw etcd::reply_error(*failure);
                 ttl_left = etcd::parse_keepalive(body);
               } catch (const std::exception& e) {
                 return etcd_failed("lease renewal", e.what());
               }
               etcd_ok();
               const auto before = state_.phase();
               if (ttl_left <= 0) {
                 spdlog::warn("cluster {}: etcd no longer has lease {} of {}: joining again",
                              settings_.cluster, lease, settings_.self.node);
                 if (before == membership_phase::joining) {
                   join();  // the lease of a name wait, or of a failed registration
                   return;
                 }
               }
               state_.renewed(ttl_left, sent);
               if (state_.phase() == before) return;
               if (state_.phase() == membership_phase::joining) {
                 publish();
                 join();
                 return;
               }
               spdlog::info("cluster {}: lease renewed again; {} acts as a member again",
                            settings_.cluster, settings_.self.node);
               publish();
               // The watch may have died with the link to etcd.
               restart_watch();
             });
}

void membership_keeper::schedule_check() {
  check_timer_.expires_after(check_interval);
  check_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    if (state_.tick(clock::now())) {
      metrics::add(counter::cluster_authority_lost);
      spdlog::error(
          "cluster {}: the lease of {} was not renewed in time ({}); it acts as no member until "
          "etcd answers again",
          settings_.cluster, settings_.self.node,
          etcd_error_.empty() ? std::string{"no answer"} : etcd_error_);
      publish();
    }
    // Claims that failed are tried again.
    if (++checks_ % 10 == 0) reconcile_slices();
    // A watch whose connection died without a word (a partition that drops
    // packets) would leave the table stale for good: read it anew now and
    // then.
    if (checks_ % reread_every == 0) restart_watch();
    schedule_check();
  });
}

void membership_keeper::read_members() {
  if (stopping_) return;
  const auto generation = watch_generation_;
  etcd_.post("/v3/kv/range", etcd::range_prefix_request(prefix_),
             [this, generation](std::optional<std::string> failure, std::string body) {
               if (stopping_ || generation != watch_generation_) return;
               try {
                 if (failure) throw etcd::reply_error(*failure);
                 auto r = etcd::parse_range(body);
                 const auto before = state_.phase();
                 state_.snapshot(r.kvs, r.revision);
                 claims_.snapshot(r.kvs);
                 etcd_ok();
                 publish();
                 join_again_if_ended(before, "is gone");
                 reconcile_slices();
                 watch_members();
               } catch (const std::exception& e) {
                 etcd_failed("member list", e.what());
                 retry_later(&membership_keeper::read_members, pause);
               }
             });
}

void membership_keeper::watch_members() {
  const auto generation = ++watch_generation_;
  watch_ = etcd_.watch(
      etcd::watch_prefix_request(prefix_, state_.revision() + 1),
      [this, generation](std::string_view line) {
        if (generation == watch_generation_) on_watch_message(line);
      },
      [this, generation](std::string why) {
        if (stopping_ || generation != watch_generation_) return;
        spdlog::debug("cluster {}: member watch ended ({}); reading the members again",
                      settings_.cluster, why);
        retry_later(&membership_keeper::read_members, pause);
      });
}

void membership_keeper::on_watch_message(std::string_view line) {
  etcd::watch_message m;
  try {
    m = etcd::parse_watch(line);
  } catch (const std::exception& e) {
    etcd_failed("member watch", e.what());
    if (watch_) watch_->cancel();
    return;
  }
  if (m.canceled) {
    // Compacted past where the table is: read it anew.
    if (watch_) watch_->cancel();
    return;
  }
  bool changed = false;
  const auto before = state_.phase();
  for (const auto& e : m.events) {
    if (state_.fresh(e)) changed = claims_.apply(e) || changed;
    changed = state_.apply(e) || changed;
  }
  if (!changed) return;
  publish();
  reconcile_slices();
  join_again_if_ended(before, "was deleted");
}

void membership_keeper::join_again_if_ended(membership_phase before, const char* what) {
  if (before == membership_phase::joining || state_.phase() != membership_phase::joining) return;
  spdlog::warn("cluster {}: the member key of {} {}: joining again", settings_.cluster,
               settings_.self.node, what);
  join();
}

void membership_keeper::restart_watch() {
  ++watch_generation_;  // the old watch's end is not a failure
  if (watch_) watch_->cancel();
  read_members();
}

std::vector<std::string> membership_keeper::member_names() const {
  std::vector<std::string> names;
  for (const auto& [node, m] : state_.members())
    names.push_back(node);
  return names;
}

void membership_keeper::reconcile_slices() {
  if (stopping_ || !state_.has_authority(clock::now())) return;
  for (const auto& a : claims_.plan(settings_.self.node, state_.incarnation(), member_names())) {
    if (!claims_in_flight_.insert(a.id).second) continue;
    const bool claim = a.what == slice_claims::action::verb::claim;
    auto key = claim_key(settings_.cluster, a.id);
    auto body =
        claim ? etcd::create_request(key, claim_value(settings_.self.node, state_.incarnation()),
                                     state_.lease())
              : etcd::delete_created_request(key, a.epoch);
    etcd_.post("/v3/kv/txn", std::move(body),
               [this, id = a.id, claim](std::optional<std::string> failure, std::string reply) {
                 claims_in_flight_.erase(id);
                 if (stopping_) return;
                 try {
                   if (failure) throw etcd::reply_error(*failure);
                   // Lost races (another claim got there first, or the
                   // claim was gone already) show in the watch.
                   etcd::parse_succeeded(reply);
                   etcd_ok();
                 } catch (const std::exception& e) {
                   etcd_failed(claim ? "slice claim" : "slice release", e.what());
                 }
               });
  }
}

void membership_keeper::retry_later(void (membership_keeper::*step)(),
                                    std::chrono::milliseconds after) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, after);
  timer->async_wait([this, timer, step](boost::system::error_code ec) {
    if (!ec && !stopping_) (this->*step)();
  });
}

void membership_keeper::etcd_failed(const std::string& what, const std::string& why) {
  metrics::add(counter::cluster_etcd_failures);
  auto text = what + ": " + why;
  // Every call fails the same way while etcd is away: a line per reason,
  // repeated every half minute.
  auto now = clock::now();
  if (why != logged_failure_ || now - logged_failure_at_ > std::chrono::seconds(30)) {
    spdlog::warn("cluster {}: etcd {}", settings_.cluster, text);
    logged_failure_ = why;
    logged_failure_at_ = now;
  }
  if (text == etcd_error_) return;
  etcd_error_ = std::move(text);
  publish();
}

void membership_keeper::etcd_ok() {
  if (etcd_error_.empty()) return;
  spdlog::info("cluster {}: etcd answers again at {}", settings_.cluster, etcd_.endpoint());
  etcd_error_.clear();
  logged_failure_.clear();
  publish();
}

void membership_keeper::publish() {
  if (!observer_.on_view) return;
  cluster_view v;
  v.cluster = settings_.cluster;
  v.self = settings_.self.node;
  v.phase = to_string(state_.phase());
  v.incarnation = state_.incarnation();
  v.authority = state_.has_authority(clock::now());
  v.revision = state_.revision();
  for (const auto& [node, m] : state_.members())
    v.members.push_back(m);
  v.etcd_endpoint = etcd_.endpoint();
  v.etcd_error = etcd_error_;
  for (auto& r : claims_.table(member_names())) {
    slice_row row;
    row.kind = placement::to_string(r.id.kind);
    row.slice = r.id.slice;
    row.owner = std::move(r.owner);
    row.successor = std::move(r.successor);
    if (r.claim) {
      row.holder = r.claim->node;
      row.holder_incarnation = r.claim->incarnation;
      row.epoch = r.claim->epoch;
    }
    v.slices.push_back(std::move(row));
  }
  observer_.on_view(std::move(v));
}

}  // namespace convoy::cluster
