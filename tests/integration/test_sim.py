"""`convoy sim`, the fleet simulator, against a real node and against mosquitto.

Each run is a few seconds: the simulator bounds itself with --duration and
writes its summary with --json, which the tests read.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from broker import BrokerTestCase, convoy, convoy_in_background, free_port

SUMMARY_FIELDS = (
    "parameters", "duration", "clients", "connected", "connected_at_end", "connect_failed",
    "all_connected", "connect_rate_per_s", "ramp_seconds", "measured_seconds", "sent", "acked",
    "received", "expected", "lost", "duplicates", "bytes_sent", "bytes_received",
    "throughput_msgs_per_s", "send_rate", "target_send_rate", "latency_us", "ack_latency_us",
    "errors", "cpu_seconds", "stopped",
)
LATENCY_FIELDS = ("p50", "p90", "p99", "p999", "max")
# Start-up, shutdown and a loaded CI machine on top of --duration.
SLACK = 2.0


def run_sim(port, *args, timeout=30):
    """Runs `convoy sim` to completion: (exit code, summary or None, stderr, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "summary.json")
        start = time.monotonic()
        proc = convoy("sim", "--port", port, "--json", out, *args, timeout=timeout)
        elapsed = time.monotonic() - start
        summary = None
        if os.path.exists(out):
            with open(out) as f:
                summary = json.load(f)
        return proc.returncode, summary, proc.stderr, elapsed


class SimChecks:
    """Assertions shared by the runs against both brokers."""

    def assert_complete(self, summary, clients):
        for field in SUMMARY_FIELDS:
            self.assertIn(field, summary)
        self.assertEqual(summary["stopped"], "completed")
        self.assertEqual(summary["clients"], clients)
        self.assertEqual(summary["connected"], clients, summary)
        self.assertEqual(summary["connected_at_end"], clients, summary)
        self.assertTrue(summary["all_connected"])
        self.assertEqual(summary["connect_failed"], 0)
        self.assertGreater(summary["connect_rate_per_s"], 0)
        self.assertIsNotNone(summary["ramp_seconds"])
        self.assertEqual(summary["errors"], {}, summary)
        self.assertGreater(summary["cpu_seconds"], 0)

    def assert_delivered_all(self, summary):
        """QoS >= 1 on a healthy broker: everything sent arrives exactly once."""
        self.assertGreater(summary["sent"], 0)
        self.assertEqual(summary["acked"], summary["sent"], summary)
        self.assertEqual(summary["lost"], 0, summary)
        self.assertEqual(summary["duplicates"], 0, summary)
        self.assertEqual(summary["received"], summary["expected"], summary)

    def assert_latencies(self, summary):
        lat = summary["latency_us"]
        for field in LATENCY_FIELDS:
            self.assertIn(field, lat)
        self.assertGreater(lat["count"], 0)
        self.assertGreater(lat["p50"], 0)
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["p999"])
        self.assertLessEqual(lat["p999"], lat["max"])
        # Loopback through a broker: well under a second.
        self.assertLess(lat["p50"], 1_000_000)

    def assert_commands_answered(self, summary, vehicles, rate, qos):
        """Every command reached its vehicle and came back, exactly once."""
        c = summary["commands"]
        self.assertEqual(c["target_rate"], rate)
        self.assertEqual(c["responders"], vehicles, summary)
        self.assertGreater(c["sent"], 0)
        self.assertAlmostEqual(c["rate"], rate, delta=rate * 0.1, msg=summary)
        self.assertEqual(c["received_by_vehicles"], c["sent"], summary)
        self.assertEqual(c["responses_sent"], c["sent"], summary)
        self.assertEqual(c["responses_received"], c["sent"], summary)
        self.assertEqual(c["answered"], c["sent"], summary)
        self.assertEqual(c["unanswered"], 0, summary)
        self.assertEqual(c["duplicate_responses"], 0, summary)
        self.assertEqual(c["acked"], c["sent"] if qos > 0 else 0, summary)
        self.assertEqual(c["unacked"], 0, summary)
        rtt = c["round_trip_us"]
        self.assertEqual(rtt["count"], c["sent"])
        self.assertGreater(rtt["p50"], 0)
        self.assertLessEqual(rtt["p50"], rtt["p99"])
        self.assertLessEqual(rtt["p99"], rtt["max"])
        self.assertLess(rtt["p50"], 1_000_000)

    def assert_rate(self, summary, target):
        self.assertEqual(summary["target_send_rate"], target)
        self.assertGreater(summary["measured_seconds"], 0.5)
        self.assertAlmostEqual(summary["send_rate"], target, delta=target * 0.1, msg=summary)
        # Every sent message is counted once per subscriber (one here).
        self.assertAlmostEqual(summary["throughput_msgs_per_s"], target, delta=target * 0.1,
                               msg=summary)


class SimAgainstConvoy(BrokerTestCase, SimChecks):

    def test_qos1_fleet_delivers_everything_at_the_requested_rate(self):
        duration = 3
        code, s, err, elapsed = run_sim(
            self.broker.port, "--vehicles", 50, "--publish-rate", 10, "--qos", 1,
            "--subscribers", 1, "--duration", duration, "--drain", 0.8, "--source-ips")
        self.assertEqual(code, 0, err)
        self.assert_complete(s, 51)
        self.assert_delivered_all(s)
        self.assert_latencies(s)
        self.assert_rate(s, 500)
        # 50 x 10/s over the 2.2 s before the drain, less the ramp.
        self.assertAlmostEqual(s["sent"], 500 * (duration - 0.8), delta=500 * 0.3)
        self.assertGreater(s["ack_latency_us"]["p50"], 0)
        self.assertTrue(s["parameters"]["source_ips"])
        self.assertLess(elapsed, duration + SLACK)

    def test_pairs_in_mqtt_311_at_qos2(self):
        code, s, err, elapsed = run_sim(
            self.broker.port, "--protocol", "3.1.1", "--vehicles", 20, "--publish-rate", 5,
            "--qos", 2, "--subscribers", 20, "--subscribe-filter", "vehicles/{vin}/telemetry",
            "--payload-size", 200, "--duration", 2.5, "--client-id-prefix", "PAIR")
        self.assertEqual(code, 0, err)
        self.assert_complete(s, 40)
        self.assert_delivered_all(s)
        self.assert_latencies(s)
        self.assertEqual(s["parameters"]["protocol"], "3.1.1")
        # Each message reaches exactly its vehicle's subscriber.
        self.assertEqual(s["received"], s["sent"])
        self.assertLess(elapsed, 2.5 + SLACK)

    def test_idle_connections_are_held_with_pings(self):
        duration = 4.5
        code, s, err, elapsed = run_sim(
            self.broker.port, "--vehicles", 200, "--subscribers", 0, "--publish-rate", 0,
            "--keep-alive", 2, "--duration", duration, "--ramp-rate", 1000, "--source-ips")
        self.assertEqual(code, 0, err)
        # The node closes a connection silent for 1.5 keep-alives (3 s), well
        # before the end: all are still there, so the pings kept them.
        self.assert_complete(s, 200)
        self.assertEqual(s["sent"], 0)
        self.assertGreaterEqual(s["pings"], 200 * 2)
        # 200 connections at 1000/s take about 0.2 s.
        self.assertGreater(s["ramp_seconds"], 0.15)
        self.assertLess(s["ramp_seconds"], 1.5)
        self.assertLess(elapsed, duration + SLACK)

    def test_commands_round_trip_in_mqtt5_with_correlation_data(self):
        duration = 3
        code, s, err, elapsed = run_sim(
            self.broker.port, "--vehicles", 20, "--publish-rate", 5, "--qos", 1,
            "--subscribers", 1, "--command-rate", 100, "--duration", duration, "--drain", 0.8)
        self.assertEqual(code, 0, err)
        # 20 vehicles, 1 telemetry subscriber and the commander.
        self.assert_complete(s, 22)
        self.assert_delivered_all(s)
        self.assert_commands_answered(s, vehicles=20, rate=100, qos=1)
        # Commands run from the end of the ramp to the drain.
        self.assertAlmostEqual(s["commands"]["sent"], 100 * (duration - 0.8), delta=100 * 0.3)
        # Responses are not telemetry: the subscriber's accounting is untouched.
        self.assertEqual(s["received"], s["sent"])
        self.assertLess(elapsed, duration + SLACK)

    def test_commands_round_trip_in_mqtt311_at_qos2_without_telemetry(self):
        code, s, err, elapsed = run_sim(
            self.broker.port, "--protocol", "3.1.1", "--vehicles", 30, "--publish-rate", 0,
            "--subscribers", 0, "--command-rate", 150, "--command-qos", 2, "--duration", 2.5)
        self.assertEqual(code, 0, err)
        self.assert_complete(s, 31)
        self.assertEqual(s["sent"], 0)
        self.assert_commands_answered(s, vehicles=30, rate=150, qos=2)
        self.assertLess(elapsed, 2.5 + SLACK)

    def test_responders_answer_a_back_end_outside_the_simulator(self):
        """--responders alone: vehicles answer commands from any MQTT client, on the
        MQTT 5 Response Topic with the Correlation Data, or on {topic}/response in 3.1.1."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        vin = "RSP00000000000002"  # vehicle 2 with --client-id-prefix RSP
        for version in ("5", "3.1.1"):
            with self.subTest(protocol=version):
                sim = convoy_in_background(
                    "sim", "--port", self.broker.port, "--protocol", version,
                    "--vehicles", "3", "--subscribers", "0", "--publish-rate", "0", "--responders",
                    "--client-id-prefix", "RSP", "--duration", "6", "--json", "-",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    v5 = version == "5"
                    got = []
                    client = mqtt.Client(client_id="backend-" + version.replace(".", ""),
                                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
                    client.on_message = lambda c, u, m: got.append(m)
                    client.connect("127.0.0.1", self.broker.port)
                    client.loop_start()
                    reply_to = "app/responses" if v5 else f"vehicles/{vin}/commands/lock/response"
                    client.subscribe(reply_to, qos=1)
                    time.sleep(0.3)
                    props = None
                    if v5:
                        props = Properties(PacketTypes.PUBLISH)
                        props.ResponseTopic = reply_to
                        props.CorrelationData = b"req-42"
                    # Vehicles connect within a second; resend until one answers.
                    deadline = time.monotonic() + 4
                    while not got and time.monotonic() < deadline:
                        client.publish(f"vehicles/{vin}/commands/lock", b'{"lock":true}', qos=1,
                                       properties=props)
                        time.sleep(0.3)
                    client.loop_stop()
                    client.disconnect()
                    self.assertTrue(got, "no response from the simulated vehicle")
                    self.assertEqual(got[0].topic, reply_to)
                    self.assertIn(b'"status":"done"', got[0].payload)
                    if v5:
                        self.assertEqual(got[0].properties.CorrelationData, b"req-42")
                    out, err = sim.communicate(timeout=15)
                finally:
                    if sim.poll() is None:
                        sim.kill()
                        sim.communicate()
                self.assertEqual(sim.returncode, 0, err)
                summary = json.loads(out)
                c = summary["commands"]
                self.assertEqual(c["responders"], 3)
                self.assertGreaterEqual(c["received_by_vehicles"], 1)
                self.assertEqual(c["responses_sent"], c["received_by_vehicles"])
                self.assertEqual(c["sent"], 0)  # no commander of its own
                self.assertEqual(summary["errors"], {}, summary)

    def test_bad_arguments_name_the_option(self):
        port = self.broker.port
        cases = [
            (["--qos", "3"], "--qos"),
            (["--protocol", "4"], "--protocol"),
            (["--payload-size", "8"], "--payload-size"),
            (["--publish-rate", "-1"], "--publish-rate"),
            (["--vehicles", "ten"], "--vehicles"),
            (["--subscribe-filter", "vehicles/#/x"], "--subscribe-filter"),
            (["--topic-template", "vehicles/+/x"], "--topic-template"),
            (["--warmup", "5", "--duration", "2"], "--warmup"),
            (["--host", "192.0.2.1", "--source-ips"], "--source-ips"),
            (["--command-qos", "3"], "--command-qos"),
            (["--command-rate", "5", "--vehicles", "0", "--subscribers", "1"], "--command-rate"),
            (["--no-such-option"], "--no-such-option"),
        ]
        for args, option in cases:
            with self.subTest(args=args):
                start = time.monotonic()
                code, summary, err, _ = run_sim(port, *args, timeout=10)
                self.assertNotEqual(code, 0)
                self.assertIn(option, err)
                self.assertIsNone(summary)
                self.assertLess(time.monotonic() - start, 5)

    def test_unreachable_broker_fails_fast(self):
        port = free_port()  # nothing listens there
        code, s, err, elapsed = run_sim(port, "--vehicles", 10, "--duration", 20)
        self.assertNotEqual(code, 0)
        self.assertIn("no client could connect", err)
        self.assertIn("refused", err)
        self.assertEqual(s["connected"], 0)
        self.assertEqual(s["errors"].get("connect_refused"), 11, s)
        self.assertEqual(s["stopped"], "no client could connect")
        # It gives up once every attempt failed rather than waiting out --duration.
        self.assertLess(elapsed, 5)


def mosquitto_binary():
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.path.exists(p)), None)


@unittest.skipUnless(mosquitto_binary(), "Debian's mosquitto broker is not installed")
class SimAgainstMosquitto(unittest.TestCase, SimChecks):
    """The simulator speaks plain MQTT: another broker works as well."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.port = free_port()
        conf = os.path.join(cls.tmp.name, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {cls.port} 127.0.0.1\nallow_anonymous true\n")
        cls.log = open(os.path.join(cls.tmp.name, "mosquitto.log"), "w+")
        cls.proc = subprocess.Popen([mosquitto_binary(), "-c", conf], stdout=cls.log,
                                    stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", cls.port), timeout=0.2):
                    break
            except OSError:
                if cls.proc.poll() is not None or time.monotonic() > deadline:
                    cls.log.seek(0)
                    raise RuntimeError("mosquitto did not start:\n" + cls.log.read())
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=10)
        cls.log.close()
        cls.tmp.cleanup()

    def test_commands_against_mosquitto(self):
        code, s, err, elapsed = run_sim(
            self.port, "--vehicles", 20, "--publish-rate", 0, "--subscribers", 0,
            "--command-rate", 100, "--duration", 2.5)
        self.assertEqual(code, 0, err)
        self.assert_complete(s, 21)
        self.assert_commands_answered(s, vehicles=20, rate=100, qos=1)
        self.assertLess(elapsed, 2.5 + SLACK)

    def test_qos1_fleet_against_mosquitto(self):
        code, s, err, elapsed = run_sim(
            self.port, "--vehicles", 50, "--publish-rate", 10, "--qos", 1, "--subscribers", 1,
            "--duration", 2.5, "--drain", 0.8)
        self.assertEqual(code, 0, err)
        self.assert_complete(s, 51)
        self.assert_delivered_all(s)
        self.assert_latencies(s)
        self.assert_rate(s, 500)
        self.assertLess(elapsed, 2.5 + SLACK)


if __name__ == "__main__":
    unittest.main()
