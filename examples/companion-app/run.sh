#!/usr/bin/env bash
# The companion-app demo: a node, one simulated vehicle, and the app's back
# end. It registers the vehicle, grants the app consent, sends a door-lock
# command and prints its timeline, shows the app receiving the vehicle's
# location, then revokes the consent and shows both stopping.
#
#   examples/companion-app/run.sh            (after scripts/build.sh)
#
# Needs mosquitto-clients (mosquitto_sub, mosquitto_passwd). Ports are picked
# free; everything it starts is stopped at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
convoy="${CONVOY_BINARY:-$root/build/convoy}"
[[ -x "$convoy" ]] || { echo "build first: scripts/build.sh ($convoy is missing)" >&2; exit 2; }
command -v mosquitto_sub >/dev/null || { echo "needs mosquitto-clients (apt-get install mosquitto-clients)" >&2; exit 2; }

VIN=DEMOCAR0000000000   # `convoy sim --client-id-prefix DEMOCAR`, vehicle 0
APP=companion-app       # the app back end's login, and the consent subject

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port); http_port=$(free_port)
mosquitto_passwd -c -b "$work/passwords" "$APP" app-secret >/dev/null
mosquitto_passwd -b "$work/passwords" ops ops-secret >/dev/null

step() { printf '\n== %s\n' "$*"; }
ctl() { "$convoy" ctl --url "http://127.0.0.1:$http_port" "$@"; }

step "Starting a node (MQTT $mqtt_port, API $http_port)"
"$convoy" node --set node.data_dir="$work/data" --set mqtt.bind=127.0.0.1 \
  --set mqtt.port="$mqtt_port" --set http.port="$http_port" --set websocket.enabled=false \
  --set auth.password_file="$work/passwords" --set auth.acl_file="$here/acl.toml" \
  --set log.level=warn >"$work/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ctl node >/dev/null 2>&1 && break; sleep 0.1; done

step "Registering $VIN and granting $APP consent for remote-control and location"
ctl vehicles create "$VIN" --model "ID.4" --region eu-west >/dev/null
ctl consents grant "$VIN" "$APP" remote-control >/dev/null
ctl consents grant "$VIN" "$APP" location >/dev/null
ctl consents list "$VIN"

step "Starting the simulated vehicle: location twice a second, answering commands"
"$convoy" sim --port "$mqtt_port" --vehicles 1 --subscribers 0 --client-id-prefix DEMOCAR \
  --publish-rate 2 --topic-template 'vehicles/{vin}/telemetry/location' --qos 1 \
  --responders --duration 60 >"$work/sim.log" 2>&1 &
pids+=($!)
mosquitto_sub -p "$mqtt_port" -u "$APP" -P app-secret -i app-backend -q 1 \
  -t 'vehicles/+/telemetry/#' -F '%t' >"$work/telemetry.txt" 2>"$work/sub.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/telemetry.txt" ]] && break; sleep 0.1; done

step "The app locks the doors"
ctl commands send "$VIN" lock-doors --subject "$APP" --params '{"doors": "all"}' --ttl 30 --wait

before=$(wc -l <"$work/telemetry.txt")
sleep 2
during=$(( $(wc -l <"$work/telemetry.txt") - before ))
step "The app received $during location messages in 2 s"

step "The owner revokes the app's consents"
ctl consents revoke "$VIN" "$APP" remote-control
ctl consents revoke "$VIN" "$APP" location
sleep 0.5
before=$(wc -l <"$work/telemetry.txt")
sleep 2
after=$(( $(wc -l <"$work/telemetry.txt") - before ))
step "The app received $after location messages in 2 s after the revocation"

step "The app tries to unlock the doors"
# Rejected for want of consent: ctl exits 3, the command did not succeed.
rc=0
ctl commands send "$VIN" unlock-doors --subject "$APP" --wait || rc=$?
[[ $rc -eq 3 ]] || { echo "expected ctl to exit 3 (not succeeded), got $rc" >&2; exit 1; }

withheld=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk -F' ' '/^convoy_drops_total\{reason="no_consent"\}/ {print $2}')
step "Telemetry withheld for want of consent so far: ${withheld:-0} messages"
