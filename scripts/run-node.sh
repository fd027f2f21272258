#!/usr/bin/env bash
# README command 1: install, build, and start a node on embedded defaults
# (MQTT on 1883, data dir ./data). Extra arguments go to `convoy node`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/convoy node "$@"
