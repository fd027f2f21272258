#!/usr/bin/env bash
# Installs the Debian bookworm packages Convoy builds and runs with; with
# --tests also what the test suite drives (real MQTT clients, Chromium, the
# npm packages of tests/integration/js). --cluster adds etcd for
# examples/cluster, --with-fuzz clang for the fuzz targets. Idempotent:
# skips apt and npm when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake ninja-build ccache pkg-config
  libcaf-dev libboost-dev libboost-system-dev libssl-dev liblmdb-dev libmsgpack-cxx-dev zlib1g-dev
  libjemalloc-dev libspdlog-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev doctest-dev
  openssl
)
tests=0
for arg in "$@"; do
  case "$arg" in
    --tests)
      tests=1
      packages+=(mosquitto mosquitto-clients python3 python3-paho-mqtt python3-jwt
                 python3-cryptography python3-prometheus-client nodejs chromium curl
                 etcd-server)
      ;;
    --cluster) packages+=(etcd-server curl) ;;  # examples/cluster
    --with-fuzz) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((tests)); then
  # Debian's nodejs comes without npm; other builds of nodejs bring their own.
  if ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
  fi
  js=tests/integration/js
  if [[ ! -d "$js/node_modules" || "$js/package-lock.json" -nt "$js/node_modules" ]]; then
    echo "installing the npm packages of $js"
    npm ci --prefix "$js" --no-audit --no-fund --loglevel=error
    touch "$js/node_modules"
  fi
fi
