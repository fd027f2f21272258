#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cluster/etcd_json.hpp"
#include "cluster/member_record.hpp"

using namespace convoy::cluster;
using json = nlohmann::json;

// The replies below are what etcd 3.4's gateway sent to curl.

TEST_CASE("etcd: a prefix's range end increments its last byte below 0xff") {
  CHECK(etcd::prefix_end("/convoy/eu1/members/") == "/convoy/eu1/members0");
  CHECK(etcd::prefix_end("a\xff") == "b");
  CHECK(etcd::prefix_end("\xff\xff") == std::string(1, '\0'));
  CHECK(etcd::prefix_end("") == std::string(1, '\0'));
}

TEST_CASE("etcd: requests carry base64 keys and int64 as strings") {
  auto create = json::parse(etcd::create_request("/k", "v", 7587899327400656133));
  CHECK(create["compare"][0]["key"] == "L2s=");
  CHECK(create["compare"][0]["target"] == "CREATE");
  CHECK(create["compare"][0]["create_revision"] == "0");
  CHECK(create["success"][0]["request_put"]["value"] == "dg==");
  CHECK(create["success"][0]["request_put"]["lease"] == "7587899327400656133");
  CHECK(create["failure"][0]["request_range"]["key"] == "L2s=");
  auto watch = json::parse(etcd::watch_prefix_request("ab", 42));
  CHECK(watch["create_request"]["key"] == "YWI=");
  CHECK(watch["create_request"]["range_end"] == "YWM=");
  CHECK(watch["create_request"]["start_revision"] == "42");
  CHECK(json::parse(etcd::grant_request(std::chrono::seconds(5)))["TTL"] == "5");
  CHECK(json::parse(etcd::keepalive_request(12))["ID"] == "12");
}

TEST_CASE("etcd: lease replies") {
  auto g = etcd::parse_grant(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"1","raft_term":"2"},)"
      R"("ID":"7587899327362172677","TTL":"5"})");
  CHECK(g.id == 7587899327362172677);
  CHECK(g.ttl == 5);
  CHECK(etcd::parse_keepalive(
            R"({"result":{"header":{"revision":"3"},"ID":"7587899327362172677","TTL":"5"}})") == 5);
  // An expired lease: the renewal comes back without a TTL.
  CHECK(etcd::parse_keepalive(R"({"result":{"header":{"revision":"3"},"ID":"75878"}})") == 0);
  CHECK_THROWS_WITH_AS(etcd::parse_grant(R"({"error":"etcdserver: too many requests","code":14})"),
                       "etcdserver: too many requests (code 14)", etcd::reply_error);
  CHECK_THROWS_AS(etcd::parse_grant(R"({"header":{}})"), etcd::reply_error);
  CHECK_THROWS_AS(etcd::parse_grant("<html>502</html>"), etcd::reply_error);
  CHECK_THROWS_AS(etcd::parse_keepalive(R"({"result":{"TTL":"five"}})"), etcd::reply_error);
}

TEST_CASE("etcd: a create either wins or names the key's holder") {
  auto won = etcd::parse_create(
      R"({"header":{"revision":"2"},"succeeded":true,"responses":[{"response_put":)"
      R"({"header":{"revision":"2"}}}]})");
  CHECK(won.created);
  CHECK(won.revision == 2);
  CHECK_FALSE(won.existing);
  auto lost = etcd::parse_create(
      R"({"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},)"
      R"("kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1",)"
      R"("value":"YmFy","lease":"7587899327400656133"}],"count":"1"}}]})");
  CHECK_FALSE(lost.created);
  REQUIRE(lost.existing);
  CHECK(lost.existing->key == "foo");
  CHECK(lost.existing->value == "bar");
  CHECK(lost.existing->create_revision == 2);
  CHECK(lost.existing->lease == 7587899327400656133);
  CHECK_THROWS_AS(
      etcd::parse_create(R"({"responses":[{"response_range":{"kvs":[{"key":"%%"}]}}]})"),
      etcd::reply_error);
}

TEST_CASE("etcd: watch messages: created, puts, deletes, a compacted start") {
  auto created = etcd::parse_watch(R"({"result":{"header":{"revision":"2"},"created":true}})");
  CHECK(created.created);
  CHECK(created.events.empty());
  auto events = etcd::parse_watch(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"Zm9v","create_revision":"2",)"
      R"("mod_revision":"2","version":"1","value":"YmFy","lease":"7"}},{"type":"DELETE","kv":)"
      R"({"key":"Zm9v","mod_revision":"3"},"prev_kv":{"key":"Zm9v","create_revision":"2"}}]}})");
  REQUIRE(events.events.size() == 2);
  CHECK_FALSE(events.events[0].deleted);
  CHECK(events.events[0].kv.value == "bar");
  CHECK(events.events[1].deleted);
  CHECK(events.events[1].kv.mod_revision == 3);
  auto compacted = etcd::parse_watch(
      R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"4"}})");
  CHECK(compacted.canceled);
  CHECK(compacted.compact_revision == 4);
}

TEST_CASE("member records: written by a node, read back from their key") {
  member_record self{"node-a", 0, "127.0.0.2", 4370, 1883, 8080, 1764000000000, "0.9.0"};
  etcd::key_value kv{members_prefix("eu1") + "node-a", member_value(self), 17, 17, 99};
  auto back = member_from(kv, members_prefix("eu1"));
  REQUIRE(back);
  self.incarnation = 17;
  CHECK(*back == self);
  CHECK(members_prefix("eu1") == "/convoy/eu1/members/");
  // Keys and values a node did not write are no members.
  CHECK_FALSE(member_from({"/convoy/eu1/members/", kv.value, 1, 1, 0}, members_prefix("eu1")));
  CHECK_FALSE(member_from({"/convoy/eu1/members/a/b", kv.value, 1, 1, 0}, members_prefix("eu1")));
  CHECK_FALSE(member_from({"/convoy/eu1/other", kv.value, 1, 1, 0}, members_prefix("eu1")));
  CHECK_FALSE(member_from({kv.key, "not json", 1, 1, 0}, members_prefix("eu1")));
  CHECK_FALSE(member_from(
      {kv.key, R"({"host":"h","cluster_port":70000,"mqtt_port":1,"http_port":0})", 1, 1, 0},
      members_prefix("eu1")));
  CHECK_FALSE(
      member_from({kv.key, R"({"host":"","cluster_port":1,"mqtt_port":1,"http_port":0})", 1, 1, 0},
                  members_prefix("eu1")));
}
