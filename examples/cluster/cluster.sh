#!/usr/bin/env bash
# A Convoy cluster on one machine: etcd and three nodes, a on 127.0.0.1, b on
# 127.0.0.2 and c on 127.0.0.3 (loopback addresses, so every node has the
# same ports), started with one command and stopped with another.
#
#   examples/cluster/cluster.sh start    # installs etcd and builds if needed; waits for 3 members
#   examples/cluster/cluster.sh status   # convoy ctl cluster against each node
#   examples/cluster/cluster.sh stop     # SIGTERM to the nodes (they leave), then etcd
#
# Environment (defaults): CLUSTER_DIR (/tmp/convoy-cluster: data and
# logs), CONVOY_BINARY (build/convoy), MQTT_PORT (1883), HTTP_PORT (8080),
# CLUSTER_PORT (7946), ETCD_PORT (2379), ETCD_PEER_PORT (ETCD_PORT + 1).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${CLUSTER_DIR:-/tmp/convoy-cluster}"
binary="${CONVOY_BINARY:-$root/build/convoy}"
mqtt_port="${MQTT_PORT:-1883}"
http_port="${HTTP_PORT:-8080}"
cluster_port="${CLUSTER_PORT:-7946}"
etcd_port="${ETCD_PORT:-2379}"
etcd_url="http://127.0.0.1:$etcd_port"
etcd_peer_port="${ETCD_PEER_PORT:-$((etcd_port + 1))}"
nodes=(a b c)

address() { # node -> its loopback address
  case "$1" in a) echo 127.0.0.1 ;; b) echo 127.0.0.2 ;; c) echo 127.0.0.3 ;; esac
}

alive() { [[ -f "$dir/$1.pid" ]] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

wait_until() { # seconds, description, command...
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: $what did not happen within the time allowed; logs in $dir" >&2
      return 1
    fi
    sleep 0.2
  done
}

members_of() { # node -> the number of members it sees acting as members
  "$binary" ctl --url "http://$(address "$1"):$http_port" --json cluster |
    grep -o -E '"link": *"[a-z]+"' | grep -c -E '"(self|up)"'
}

all_members() {
  local n
  for n in "${nodes[@]}"; do
    [[ "$(members_of "$n")" == 3 ]] || return 1
  done
}

start() {
  if [[ ! -x "$(command -v etcd || true)" ]]; then "$root/scripts/install-deps.sh" --cluster; fi
  if [[ ! -x "$binary" ]]; then "$root/scripts/install-deps.sh" && "$root/scripts/build.sh"; fi
  mkdir -p "$dir"
  if alive etcd; then
    echo "cluster.sh: already running (etcd pid $(cat "$dir/etcd.pid")); stop it first" >&2
    exit 1
  fi
  etcd --name convoy-example --data-dir "$dir/etcd" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "convoy-example=http://127.0.0.1:$etcd_peer_port" \
    --log-level warn >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  wait_until 15 "etcd answering on $etcd_url" curl -sf "$etcd_url/health"
  local n a
  for n in "${nodes[@]}"; do
    a="$(address "$n")"
    "$binary" node --set node.name="$n" --set node.data_dir="$dir/$n" \
      --set mqtt.bind="$a" --set mqtt.port="$mqtt_port" \
      --set http.bind="$a" --set http.port="$http_port" --set websocket.enabled=false \
      --set cluster.etcd="$etcd_url" --set cluster.name=example \
      --set cluster.bind="$a" --set cluster.port="$cluster_port" >"$dir/$n.log" 2>&1 &
    echo $! >"$dir/$n.pid"
  done
  wait_until 30 "three members seeing each other" all_members
  for n in "${nodes[@]}"; do
    echo "node $n: MQTT $(address "$n"):$mqtt_port, API http://$(address "$n"):$http_port (log $dir/$n.log)"
  done
  echo "etcd: $etcd_url; stop with: $0 stop"
}

stop() {
  # SIGTERM to every node at once (each leaves the cluster on its way out),
  # then to etcd once they are gone.
  local n m
  for n in "${nodes[@]}" etcd; do
    if [[ "$n" == etcd ]]; then
      for m in "${nodes[@]}"; do wait_gone "$m"; done
    fi
    alive "$n" && kill -TERM "$(cat "$dir/$n.pid")"
  done
  wait_gone etcd
  echo "stopped; data and logs stay in $dir"
}

wait_gone() { # name -> waits for its process to end (20 s, then SIGKILL)
  [[ -f "$dir/$1.pid" ]] || return 0
  local pid deadline=$((SECONDS + 20))
  pid="$(cat "$dir/$1.pid")"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: $1 (pid $pid) did not stop within 20 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$dir/$1.pid"
}

status() {
  local n
  for n in "${nodes[@]}"; do
    echo "== node $n"
    if alive "$n"; then
      "$binary" ctl --url "http://$(address "$n"):$http_port" cluster || true
    else
      echo "not running"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
