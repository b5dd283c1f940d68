#!/usr/bin/env python3
"""The notify policy decides which addresses a notification may reach (security issue 11), with
the real relayd, mfp-sim, relayctl and a webhook receiver (tests/tools/webhook_receiver.py) on
loopback, an internal range:

- a bad --notify-deny value stops relayd at start: exit code 2, the flag and the value named,
  and it never listens;
- without --notify-allow, a webhook to the loopback receiver is refused at the connect: the
  record (GET /v1/notifications and `relayctl notifications`) is failed after one attempt (a
  permanent failure, never retried), naming the target, the address, the internal range and the
  flag that would allow it, and the receiver gets nothing;
- with --notify-allow 127.0.0.1/32 (given comma-separated with another range) the next
  notification is delivered;
- --notify-deny wins over --notify-allow: with --notify-allow 127.0.0.0/8 --notify-deny
  127.0.0.1/32 the next one is refused again, naming the deny range.

Each notification is a panel message from the simulated device, which the rule sends to the
webhook.
"""

import glob
import os
import subprocess

import harness
from harness import check, wait_until

SERIAL = "SIM-0001"


def hooks_received(hook_dir):
    return sorted(glob.glob(os.path.join(hook_dir, "*.json")))


def notifications(relay):
    return relay.ok_json("GET", f"/v1/notifications?serial={SERIAL}")["notifications"]


def notify_once(relay, sim, text, seen):
    """A panel message from the device; returns the record of its webhook once delivered or
    failed (a record whose id is not in `seen`, which it is added to)."""
    sim.control(SERIAL, {"action": "message", "text": text})

    def done():
        fresh = [n for n in notifications(relay)
                 if n["id"] not in seen and n["channel"] == "webhook"]
        return fresh[0] if fresh and fresh[0]["state"] in ("sent", "failed") else None
    record = wait_until(done, 30, f"the webhook record of the message {text!r}")
    seen.add(record["id"])
    return record


def test(env):
    relay = env.relay()

    # A bad range stops the start with a message that names the flag and the value.
    r = subprocess.run([harness.binary("relayd"), "run", "--data-dir", relay.data_dir,
                        "--listen", f"127.0.0.1:{relay.port}", "--notify-allow", "127.0.0.1/32",
                        "--notify-deny", "10.0.0.0/8,10.0.0.0/33"],
                       capture_output=True, text=True, timeout=60, env=harness.clean_environ())
    check(r.returncode == 2, f"relayd with a bad --notify-deny exited {r.returncode}: "
                             f"{r.stdout}{r.stderr}")
    check("bad --notify-deny" in r.stderr and "10.0.0.0/33" in r.stderr and
          "prefix length" in r.stderr, f"the start-up error names flag and value: {r.stderr!r}")
    check("listening" not in r.stdout + r.stderr, f"it did not serve: {r.stdout}{r.stderr}")

    hook_dir = os.path.join(env.tmp, "hooks")
    _, hook_port = harness.start_tool(env, "webhook_receiver", ["--out", hook_dir])
    hook_url = f"http://127.0.0.1:{hook_port}/hooks/printrelay"

    # 1. The default policy: loopback is internal, refused for good.
    relay.start("--notify-retry-s", "0.5")
    current = relay.ok_json("GET", "/v1/tables/notification_rules")
    relay.ok_json("PUT", "/v1/tables/notification_rules",
                  {"body": [{"name": "desk", "types": ["message"], "webhooks": [hook_url]}],
                   "revision": current["revision"]})
    sim = harness.start_fleet(env, relay, 1)
    seen = set()
    refused = notify_once(relay, sim, "toner please", seen)
    check(refused["state"] == "failed" and refused["attempts"] == 1 and
          refused["next_attempt_at"] is None,
          f"a refused target is a permanent failure, not retried: {refused}")
    expected = ("notification target 127.0.0.1 connects to 127.0.0.1, which the notify policy "
                "refuses: internal range 127.0.0.0/8 (loopback); allow it with --notify-allow "
                "127.0.0.0/8")
    check(refused["last_error"] == expected, f"the record says why: {refused['last_error']!r}")
    check(hooks_received(hook_dir) == [], "the receiver got a request from a refused target")
    listed = env.relayctl_json(relay, "notifications", "--serial", SERIAL)["notifications"]
    check(any(n["id"] == refused["id"] and n["state"] == "failed" and n["last_error"] == expected
              for n in listed), f"relayctl notifications --json shows the refusal: {listed}")
    table = env.relayctl_ok(relay, "notifications", "--serial", SERIAL)
    check(any("failed" in line and "notify policy refuses" in line
              for line in table.splitlines()), f"relayctl notifications shows it:\n{table}")

    # 2. Allowed (one host, given comma-separated with another range): delivered.
    relay.stop()
    relay.start("--notify-retry-s", "0.5", "--notify-allow", "192.168.77.0/24,127.0.0.1/32")
    sent = notify_once(relay, sim, "drum please", seen)
    check(sent["state"] == "sent" and sent["last_error"] == "",
          f"an allowed target is delivered: {sent}")
    received = hooks_received(hook_dir)
    check(len(received) == 1, f"the receiver got exactly the allowed one: {received}")

    # 3. The deny list wins over the allow list.
    relay.stop()
    relay.start("--notify-retry-s", "0.5", "--notify-allow", "127.0.0.0/8",
                "--notify-deny", "127.0.0.1/32")
    denied = notify_once(relay, sim, "paper please", seen)
    check(denied["state"] == "failed" and denied["attempts"] == 1,
          f"a denied target is a permanent failure: {denied}")
    check(denied["last_error"] == "notification target 127.0.0.1 connects to 127.0.0.1, which "
                                  "the notify policy refuses: deny range 127.0.0.1/32 "
                                  "(--notify-deny)", f"the record says why: {denied}")
    check(hooks_received(hook_dir) == received, "the receiver got a request from a denied target")


if __name__ == "__main__":
    harness.run(test)
