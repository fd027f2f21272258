// Topic and client id rules with placeholders (actors/core/access_policy) and
// the policy file that defines them (runtime/auth/access_file).

#include <doctest/doctest.h>

#include "actors/core/access_policy.hpp"
#include "runtime/auth/access_file.hpp"

using namespace convoy;
using convoy::runtime::access_file_error;
using convoy::runtime::parse_access_file;

namespace {

const access_template::subject vehicle{"WVW1-app", "WVW1", "WVW1", "eu-west"};

bool pub(std::string_view pattern, std::string_view topic,
         const access_template::subject& who = vehicle) {
  access_template t{pattern};
  REQUIRE_MESSAGE(t.ok(), t.error());
  return t.matches_topic(topic, who);
}

bool sub(std::string_view pattern, std::string_view filter,
         const access_template::subject& who = vehicle) {
  access_template t{pattern};
  REQUIRE_MESSAGE(t.ok(), t.error());
  return t.covers_filter(filter, who);
}

}  // namespace

TEST_CASE("access template: placeholders fill whole levels and parts of levels") {
  CHECK(pub("vehicles/{vin}/telemetry/#", "vehicles/WVW1/telemetry/speed"));
  CHECK(pub("vehicles/{vin}/telemetry/#", "vehicles/WVW1/telemetry"));
  CHECK_FALSE(pub("vehicles/{vin}/telemetry/#", "vehicles/WVW2/telemetry/speed"));
  CHECK_FALSE(pub("vehicles/{vin}/telemetry/#", "vehicles/WVW1/commands/lock"));
  CHECK(pub("clients/{client_id}/inbox", "clients/WVW1-app/inbox"));
  CHECK(pub("svc-{username}/out", "svc-WVW1/out"));
  CHECK_FALSE(pub("svc-{username}/out", "svc-WVW2/out"));
  CHECK(pub("broadcast/{region}/+", "broadcast/eu-west/weather"));
  CHECK_FALSE(pub("broadcast/{region}/+", "broadcast/us-east/weather"));
  CHECK(pub("vehicles/+/status", "vehicles/anything/status"));
  CHECK_FALSE(pub("vehicles/+/status", "vehicles/a/b/status"));
}

TEST_CASE("access template: values that are empty or hold wildcards match nothing") {
  access_template::subject evil{"c", "+", "+", ""};
  CHECK_FALSE(pub("vehicles/{vin}/telemetry", "vehicles/+/telemetry", evil));
  CHECK_FALSE(pub("vehicles/{vin}/telemetry", "vehicles/x/telemetry", evil));
  access_template::subject slash{"c", "a/b", "a/b", ""};
  CHECK_FALSE(pub("vehicles/{vin}/telemetry", "vehicles/a/b/telemetry", slash));
  access_template::subject anonymous{"c", "", "", ""};
  CHECK_FALSE(pub("users/{identity}/x", "users//x", anonymous));
  CHECK_FALSE(pub("broadcast/{region}/#", "broadcast//x", anonymous));
  CHECK_FALSE(sub("vehicles/{vin}/#", "vehicles/+/#", evil));
}

TEST_CASE("access template: subscriptions must stay inside the pattern") {
  CHECK(sub("vehicles/{vin}/commands/#", "vehicles/WVW1/commands/#"));
  CHECK(sub("vehicles/{vin}/commands/#", "vehicles/WVW1/commands/+"));
  CHECK(sub("vehicles/{vin}/commands/#", "vehicles/WVW1/commands/lock"));
  CHECK(sub("vehicles/{vin}/commands/#", "vehicles/WVW1/commands"));
  CHECK_FALSE(sub("vehicles/{vin}/commands/#", "vehicles/WVW1/#"));
  CHECK_FALSE(sub("vehicles/{vin}/commands/#", "vehicles/+/commands/#"));
  CHECK_FALSE(sub("vehicles/{vin}/commands/#", "#"));
  CHECK(sub("vehicles/+/telemetry", "vehicles/+/telemetry"));
  CHECK(sub("vehicles/+/telemetry", "vehicles/WVW9/telemetry"));
  CHECK_FALSE(sub("vehicles/+/telemetry", "vehicles/#"));
  CHECK_FALSE(sub("vehicles/+/telemetry", "vehicles/+/telemetry/x"));
  CHECK(sub("#", "anything/+/#"));
}

TEST_CASE("access template: wildcards at the first level do not reach $ topics") {
  CHECK_FALSE(pub("#", "$SYS/uptime"));
  CHECK_FALSE(pub("+/uptime", "$SYS/uptime"));
  CHECK(pub("$SYS/#", "$SYS/uptime"));
  CHECK_FALSE(sub("#", "$SYS/#"));
  CHECK(sub("$SYS/#", "$SYS/#"));
}

TEST_CASE("access template: client id patterns") {
  access_template exact{"{vin}"}, suffixed{"{vin}-*"}, service{"svc-*"};
  CHECK(exact.matches_client_id("WVW1", vehicle));
  CHECK_FALSE(exact.matches_client_id("WVW1-app", vehicle));
  CHECK(suffixed.matches_client_id("WVW1-app", vehicle));
  CHECK(suffixed.matches_client_id("WVW1-", vehicle));
  CHECK_FALSE(suffixed.matches_client_id("WVW2-app", vehicle));
  CHECK_FALSE(suffixed.matches_client_id("WVW1", vehicle));
  CHECK(service.matches_client_id("svc-dispatch-1", vehicle));
  CHECK_FALSE(service.matches_client_id("xsvc-1", vehicle));
}

TEST_CASE("access template: bad templates say why") {
  CHECK(access_template{"vehicles/{vim}/x"}.error().find("unknown placeholder {vim}") == 0);
  CHECK_FALSE(access_template{"a/#/b"}.ok());
  CHECK_FALSE(access_template{"a/b+/c"}.ok());
  CHECK_FALSE(access_template{"a/{vin"}.ok());
  CHECK_FALSE(access_template{""}.ok());
}

TEST_CASE("access file: roles, assignment and user overrides") {
  auto p = parse_access_file(R"(
[assign]
certificate = "vehicle"
password = "service"

[users]
ops = "operator"

[roles.vehicle]
client_ids = ["{identity}", "{identity}-*"]
publish = ["vehicles/{vin}/telemetry/#"]
subscribe = ["vehicles/{vin}/commands/#"]

[roles.service]
publish = ["vehicles/+/commands/#"]
subscribe = ["vehicles/+/telemetry/#"]

[roles.operator]
publish = ["#"]
subscribe = ["#"]
)",
                             "acl.toml");
  CHECK(p.role_for(make_principal("WVW1", auth_method::certificate)) == "vehicle");
  CHECK(p.role_for(make_principal("dispatch", auth_method::password)) == "service");
  CHECK(p.role_for(make_principal("ops", auth_method::password)) == "operator");
  CHECK(p.role_for(principal_ptr{}).empty());
  CHECK(p.role_for(make_principal("", auth_method::anonymous)).empty());

  const access_role* v = p.find("vehicle");
  REQUIRE(v);
  // The subject points into the principal, which must outlive it.
  auto car = make_principal("WVW1", auth_method::certificate);
  auto who = access_policy::subject_of(car.ptr.get(), "WVW1");
  CHECK(access_policy::may_use_client_id(*v, who));
  CHECK(access_policy::may_publish(*v, "vehicles/WVW1/telemetry/speed", who));
  CHECK_FALSE(access_policy::may_publish(*v, "vehicles/WVW2/telemetry/speed", who));
  CHECK(access_policy::may_subscribe(*v, "vehicles/WVW1/commands/+", who));
  CHECK_FALSE(access_policy::may_subscribe(*v, "vehicles/WVW2/commands/+", who));
  who.client_id = "WVW2";
  CHECK_FALSE(access_policy::may_use_client_id(*v, who));

  const access_role* s = p.find("service");
  REQUIRE(s);
  auto dispatch = make_principal("dispatch", auth_method::password);
  auto svc = access_policy::subject_of(dispatch.ptr.get(), "anything");
  CHECK(access_policy::may_use_client_id(*s, svc));  // no client_ids: any
  CHECK(access_policy::may_subscribe(*s, "$share/workers/vehicles/+/telemetry/#", svc));
  CHECK_FALSE(access_policy::may_subscribe(*s, "$share/workers/#", svc));
}

TEST_CASE("access file: errors name the file, line and entry") {
  auto error_of = [](std::string_view text) -> std::string {
    try {
      parse_access_file(text, "acl.toml");
    } catch (const access_file_error& e) {
      return e.what();
    }
    return {};
  };
  CHECK(error_of("[roles.v]\npublish = [\"a/{vim}\"]\n") ==
        "acl.toml:2: 'roles.v.publish[0]' (\"a/{vim}\"): unknown placeholder {vim} (known: "
        "{client_id}, {identity}, {username}, {vin}, {region})");
  CHECK(error_of("[roles.v]\npublsh = []\n").find("acl.toml:2: unknown key 'roles.v.publsh'") == 0);
  CHECK(error_of("[assign]\ncertificate = \"vehicle\"\n") ==
        "acl.toml:2: 'assign.certificate' names role 'vehicle', which is not defined");
  CHECK(error_of("[roles.v]\npublish = \"a/b\"\n").find("must be an array of strings") !=
        std::string::npos);
  CHECK(error_of("[roles.v]\nclient_ids = [\"a/b\"]\n").find("holds a '/'") != std::string::npos);
  CHECK(error_of("[rolez]\n").find("unknown key 'rolez'") != std::string::npos);
  CHECK(error_of("[roles.v\n").find("acl.toml:1:") == 0);
  CHECK_THROWS_AS(convoy::runtime::load_access_file("/nonexistent/acl.toml"), access_file_error);
}

TEST_CASE("access file: the example file loads") {
  auto p = convoy::runtime::load_access_file(CONVOY_SOURCE_DIR "/config/acl.example.toml");
  CHECK(p.certificate_role == "vehicle");
  CHECK(p.find("operator"));
  CHECK(p.role_for(make_principal("ops-console", auth_method::password)) == "operator");
}

TEST_CASE("without an ACL file every topic is open but the $CONTROL topics") {
  const access_policy p = runtime::builtin_access_policy();
  const access_role* role = p.find(p.anonymous_role);
  REQUIRE(role != nullptr);
  access_template::subject who{"any", "", "", ""};
  CHECK(access_policy::may_publish(*role, "vehicles/V1/telemetry", who));
  CHECK(access_policy::may_publish(*role, "$convoy-test/x", who));
  CHECK(access_policy::may_publish(*role, "$CONTROLLER/x", who));
  CHECK_FALSE(access_policy::may_publish(*role, "$CONTROL/convoy/registry/v1", who));
  CHECK_FALSE(access_policy::may_publish(*role, "$CONTROL", who));
  CHECK(access_policy::may_subscribe(*role, "#", who));
  CHECK(access_policy::may_subscribe(*role, "+/convoy/registry/v1", who));  // no $-topics
  CHECK(access_policy::may_subscribe(*role, "$share/g/vehicles/#", who));
  CHECK_FALSE(access_policy::may_subscribe(*role, "$CONTROL/#", who));
  CHECK_FALSE(access_policy::may_subscribe(*role, "$share/g/$CONTROL/convoy/registry/v1", who));
  // Every login method gets the same role.
  CHECK(p.certificate_role == p.anonymous_role);
  CHECK(p.password_role == p.anonymous_role);
  CHECK(p.jwt_role == p.anonymous_role);
}
