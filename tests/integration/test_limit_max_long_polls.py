#!/usr/bin/env python3
"""--max-long-polls bounds the polls held open at once, over all devices: with --max-long-polls 1
and one device's long-poll held, another device's long-poll is answered at once (200, no jobs,
its next_poll_s), and the relay still holds only one. Once the held one ends, the next long-poll
is held again."""

import threading
import time

import harness
from harness import check, metric_value, wait_until

WAIT_S = 30


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0", "--max-long-polls", "1")
    for s in ("SIM-0001", "SIM-0002"):
        relay.register(s)
    first = relay.enroll("SIM-0001")
    second = relay.enroll("SIM-0002")

    def waiting():
        return metric_value(relay.metrics(), "printrelay_long_polls_waiting") or 0

    def long_poll(token, into):
        try:
            into.append(relay.post("/v1/device/poll", {"state": "idle", "wait_s": WAIT_S},
                                   token=token, timeout=WAIT_S + 30))
        except Exception as e:  # the connection ended without an answer
            into.append(e)

    held = []
    th = threading.Thread(target=long_poll, args=(first, held), daemon=True)
    th.start()
    wait_until(lambda: waiting() == 1, 10, "SIM-0001's long-poll to be held")

    t0 = time.monotonic()
    a = relay.post("/v1/device/poll", {"state": "idle", "wait_s": WAIT_S}, token=second,
                   timeout=WAIT_S + 30)
    took = time.monotonic() - t0
    check(a.status == 200 and a.json["jobs"] == [] and a.json["next_poll_s"] > 0,
          f"SIM-0002's long-poll over the limit: {a!r}")
    check(took < WAIT_S / 2, f"SIM-0002's long-poll over the limit was held {took:.1f} s")
    check(waiting() == 1 and not held, f"the relay holds {waiting()} polls; SIM-0001's: {held}")

    # A job ends SIM-0001's poll; then SIM-0002's long-poll is held in the free place.
    relay.ok_json("POST", "/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                        "params": {"data_sets": ["counters"]}})
    th.join(10)
    check(held and isinstance(held[0], harness.HttpAnswer) and held[0].status == 200
          and len(held[0].json["jobs"]) == 1, f"SIM-0001's held poll and its job: {held}")
    wait_until(lambda: waiting() == 0, 10, "the relay to hold no poll")
    later = []
    th = threading.Thread(target=long_poll, args=(second, later), daemon=True)
    th.start()
    wait_until(lambda: waiting() == 1, 10, "SIM-0002's long-poll to be held in the free place")
    check(not later, f"SIM-0002's long-poll answered although a place was free: {later}")


if __name__ == "__main__":
    harness.run(test)
