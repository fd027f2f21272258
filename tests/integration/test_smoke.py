"""The node starts, accepts mosquitto_pub/mosquitto_sub in both protocol
versions, and shuts down cleanly on SIGTERM."""

import subprocess
import time
import unittest

from broker import BrokerTestCase


class SmokeTest(BrokerTestCase):
    def pub_sub(self, version):
        port = str(self.broker.port)
        topic = f"smoke/{version}"
        sub = subprocess.Popen(
            ["mosquitto_sub", "-p", port, "-V", version, "-t", topic, "-C", "1", "-W", "10", "-q", "1"],
            stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # let the subscription reach the node
        subprocess.run(["mosquitto_pub", "-p", port, "-V", version, "-t", topic, "-m", "hello", "-q", "1"],
                       check=True, timeout=10)
        out, _ = sub.communicate(timeout=15)
        self.assertEqual(sub.returncode, 0)
        self.assertEqual(out.strip(), "hello")

    def test_mqtt5(self):
        self.pub_sub("mqttv5")

    def test_mqtt311(self):
        self.pub_sub("mqttv311")


if __name__ == "__main__":
    unittest.main()
