"""examples/companion-app/run.sh, the companion-app demo, run as a user
would: its door-lock command succeeds with the full timeline, telemetry
flows with consent, and after the revocation both telemetry and the next
command stop."""

import os
import re
import subprocess
import unittest

from broker import BINARY

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "companion-app", "run.sh")


class CompanionAppDemoTest(unittest.TestCase):
    def test_demo(self):
        p = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "CONVOY_BINARY": BINARY})
        out = p.stdout
        self.assertEqual(p.returncode, 0, out + p.stderr)
        lock = out[out.index("The app locks the doors"):out.index("location messages in 2 s\n")]
        self.assertRegex(lock, r"status:\s+succeeded")
        timeline = lock[lock.index("\nAT "):]
        self.assertEqual(re.findall(r"^\S+\s+(received|sent|accepted|succeeded)\b", timeline, re.M),
                         ["received", "sent", "accepted", "succeeded"])
        during = int(re.search(r"The app received (\d+) location messages in 2 s\n", out).group(1))
        after = int(re.search(r"received (\d+) location messages in 2 s after the revocation", out).group(1))
        self.assertGreater(during, 0)
        self.assertEqual(after, 0)
        unlock = out[out.index("The app tries to unlock the doors"):]
        self.assertRegex(unlock, r"status:\s+rejected")
        self.assertIn("no consent", unlock)
        withheld = int(re.search(r"withheld for want of consent so far: (\d+)", out).group(1))
        self.assertGreater(withheld, 0)


if __name__ == "__main__":
    unittest.main()
