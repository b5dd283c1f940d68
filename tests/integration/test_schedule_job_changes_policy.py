#!/usr/bin/env python3
"""A schedule job changes a device's poll policy: the job succeeds, the relay and the device both
hold the new interval, and the device's periodic access actually follows it (the gaps between
its polls, seen at the relay, change from the 2 s it started with to the scheduled 5 s).
An interval out of range is refused by relayctl's relay and creates no job."""

import time

import harness
from harness import check, metric_value, wait_until

SERIAL = "SIM-0001"
NEW_INTERVAL = 5


def poll_times(relay, count, timeout):
    """Watches the relay's poll counter and returns the monotonic times of the next `count`
    polls (resolution ~50 ms)."""
    route = {"route": "/v1/device/poll", "status": "200"}
    last = metric_value(relay.metrics(), "printrelay_http_requests_total", route) or 0
    times = []
    deadline = time.monotonic() + timeout
    while len(times) < count:
        check(time.monotonic() < deadline, f"only {len(times)} of {count} polls within {timeout} s")
        time.sleep(0.05)
        now = metric_value(relay.metrics(), "printrelay_http_requests_total", route) or 0
        if now > last:
            times.extend([time.monotonic()] * int(now - last))
            last = now
    return times[:count]


def gaps(times):
    return [round(b - a, 2) for a, b in zip(times, times[1:])]


def test(env):
    relay = env.relay()
    relay.start("--poll-interval-s", "900")
    # No long-poll: the device reaches the relay only at its periodic accesses (2 s override).
    sim = harness.start_fleet(env, relay, 1, long_poll_wait_s=0, poll_interval_s=2)

    before = gaps(poll_times(relay, 3, 20))
    check(all(g < 3.5 for g in before), f"poll gaps before the schedule job: {before} (expected ~2 s)")

    rc, out, err = env.relayctl(relay, "jobs", "create", "schedule", "--serial", SERIAL, "--interval-s", "1")
    # relayctl checks the range itself (a usage error, exit 2); the relay's own check of the
    # same range is in test_bad_input.
    check(rc in (1, 2) and err.startswith("error:"), f"interval 1 s must be refused: exit {rc} {out!r} {err!r}")
    check(relay.jobs("all=1") == [], "a refused schedule job was stored")

    job = env.relayctl_ok(relay, "jobs", "create", "schedule", "--serial", SERIAL,
                          "--interval-s", str(NEW_INTERVAL)).splitlines()[0].strip()
    rc, out, err = env.relayctl(relay, "jobs", "wait", job, "--timeout-s", "30", timeout=60)
    check(rc == 0, f"schedule job: exit {rc}: {out}{err}")

    dev = relay.ok_json("GET", f"/v1/devices/{SERIAL}")
    check(dev["poll_policy"]["interval_s"] == NEW_INTERVAL, f"relay's policy for {SERIAL}: {dev['poll_policy']}")
    wait_until(lambda: ((sim.status(SERIAL) or {}).get("agent") or {}).get("poll_policy", {}).get("interval_s")
               == NEW_INTERVAL, 10, "status.json to show the new poll interval")
    shown = env.relayctl_ok(relay, "device", SERIAL)
    check(any("interval" in l and str(NEW_INTERVAL) in l for l in shown.splitlines()),
          f"`relayctl device {SERIAL}` does not show the {NEW_INTERVAL} s interval:\n{shown}")

    # The device follows it: after the first poll under the new policy, the gaps are ~5 s
    # (the relay's ±10 % jitter, plus the counter's 50 ms resolution).
    after = gaps(poll_times(relay, 4, 40))[1:]
    check(all(NEW_INTERVAL * 0.85 <= g <= NEW_INTERVAL * 1.4 for g in after),
          f"poll gaps after the schedule job: {after} (expected ~{NEW_INTERVAL} s; before: {before})")
    print(f"poll gaps before {before}, after {after}")


if __name__ == "__main__":
    harness.run(test)
