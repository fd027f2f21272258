#!/usr/bin/env bash
# Installs the Debian bookworm packages Convoy builds, runs and tests with.
# Idempotent: skips apt entirely when everything is already there.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libcaf-dev libboost-dev libboost-system-dev libssl-dev liblmdb-dev libmsgpack-cxx-dev
  libjemalloc-dev libspdlog-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev doctest-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt python3-jwt python3-cryptography openssl
)
if [[ "${1:-}" == "--with-fuzz" ]]; then
  packages+=(clang libclang-rt-14-dev)
fi

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
