#!/usr/bin/env python3
"""Writes the session fuzz seed corpus (tests/fuzz/corpus/session): a flags
byte (see session_check.hpp) followed by the packets a client sends after
its CONNECT. Run from anywhere; plain python3, no packages.

    tests/fuzz/make_session_seeds.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from raw_mqtt import (V5, V311, prop_str, prop_u16, prop_u32, props_block, publish_bytes,  # noqa: E402
                      subscribe_bytes, unsubscribe_bytes)
from broker import packet  # noqa: E402

V5_FLAG, CLEAN, PERSISTENT, WILL, SMALL = 1, 2, 4, 8, 16


def ack(kind, pid, version):
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    return packet(first, pid.to_bytes(2, "big") + (b"\x00\x00" if version == V5 else b""))


def disconnect(version, reason=0):
    return packet(0xE0, bytes([reason, 0]) if version == V5 else b"")


def scenarios(version):
    v = version
    base = V5_FLAG if v == V5 else 0
    yield "qos_flow", base | CLEAN, (
        subscribe_bytes(1, [("fuzz/#", 2)], version=v)
        + publish_bytes("fuzz/a", b"zero", version=v)
        + publish_bytes("fuzz/b", b"one", qos=1, pid=2, version=v)
        + publish_bytes("fuzz/c", b"two", qos=2, pid=3, version=v)
        + ack("pubrel", 3, v) + ack("puback", 1, v) + ack("pubrec", 2, v) + ack("pubcomp", 2, v)
        + unsubscribe_bytes(4, ["fuzz/#"], version=v))
    yield "persistent_queue", base | PERSISTENT | WILL, (
        subscribe_bytes(1, [("fuzz/q/+", 1)], version=v)
        + b"".join(publish_bytes(f"fuzz/q/{i}", b"m", qos=1, pid=10 + i, version=v) for i in range(20)))
    yield "retained", base | CLEAN, (
        publish_bytes("fuzz/r", b"kept", qos=1, pid=1, retain=True, version=v)
        + subscribe_bytes(2, [("fuzz/r", 1)], version=v)
        + publish_bytes("fuzz/r", b"", retain=True, version=v))
    yield "limits", base | CLEAN, (
        subscribe_bytes(1, [(f"fuzz/s/{i}", 0) for i in range(20)], version=v)
        + subscribe_bytes(2, [("a/b/c/d/e/f/g/h/i/j", 0)], version=v)
        + publish_bytes("a/b/c/d/e/f/g/h/i/j", b"deep", qos=1, pid=3, version=v))
    yield "shared", base | CLEAN, (
        subscribe_bytes(1, [("$share/g/fuzz/s", 1)], version=v)
        + publish_bytes("fuzz/s", b"x", qos=1, pid=2, version=v))
    commands = {"commands": [
        {"command": "createVehicle", "vin": "FUZZ1", "region": "eu"},
        {"command": "addDevice", "vin": "FUZZ1", "deviceId": "t", "fingerprint": "ab" * 32},
        {"command": "replaceDevice", "vin": "FUZZ1", "oldDeviceId": "t", "deviceId": "u",
         "fingerprint": "cd" * 32},
        {"command": "getVehicle", "vin": "FUZZ1"}, {"command": "deleteVehicle", "vin": "FUZZ1"}]}
    yield "registry_control", base | CLEAN, (
        subscribe_bytes(1, [("$CONTROL/convoy/registry/v1/response", 1)], version=v)
        + publish_bytes("$CONTROL/convoy/registry/v1", json.dumps(commands).encode(), qos=1, pid=2,
                        version=v)
        + publish_bytes("$CONTROL/convoy/clients/v1",
                        b'{"commands":[{"command":"getRefusals","clientId":"fuzz-0"}]}', version=v)
        + publish_bytes("$CONTROL/convoy/registry/v1", b"{not json", version=v))
    if v == V5:
        yield "topic_alias", base | CLEAN, (
            subscribe_bytes(1, [("fuzz/alias", 0)], version=v)
            + publish_bytes("fuzz/alias", b"set", version=v, props=prop_u16(0x23, 1))
            + publish_bytes("", b"use", version=v, props=prop_u16(0x23, 1))
            + publish_bytes("", b"unset alias", version=v, props=prop_u16(0x23, 2)))
        yield "expiry_small_client", base | PERSISTENT | SMALL, (
            publish_bytes("fuzz/big", b"x" * 1000, qos=1, pid=1, retain=True, version=v)
            + subscribe_bytes(2, [("fuzz/big", 1), ("fuzz/e", 1)], version=v)
            + publish_bytes("fuzz/e", b"short", qos=1, pid=3, version=v, props=prop_u32(0x02, 1)))
        yield "auth", base | CLEAN, (
            packet(0xF0, bytes([0x19]) + props_block(prop_str(0x15, "JWT") + prop_str(0x16, "eyJ.x.y")))
            + disconnect(v, 0x04))


# A DISCONNECT ends the connection at once: answers still being routed (a
# SUBACK, a PUBACK) are not sent, which MQTT allows. Only the last seed ends
# with one; the others leave the connection open until the input ends.


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "session")
    os.makedirs(out, exist_ok=True)
    count = 0
    for version, tag in ((V5, "v5"), (V311, "v311")):
        for name, flags, body in scenarios(version):
            with open(os.path.join(out, f"{tag}_{name}"), "wb") as f:
                f.write(bytes([flags]) + body)
            count += 1
    print(f"{count} seeds in {out}")


if __name__ == "__main__":
    main()
