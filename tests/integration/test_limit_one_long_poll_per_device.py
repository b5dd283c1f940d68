#!/usr/bin/env python3
"""A device credential holds at most one long-poll: while a poll with wait_s 30 is held, a
second one from the same credential answers the first at once (200, no jobs, long before its
30 s) and is held in its place, so the relay counts one waiting poll, not two. The second is the
live one: a job created then reaches it. Another device's held poll is not touched."""

import threading
import time

import harness
from harness import check, metric_value, wait_until

WAIT_S = 30


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    for s in ("SIM-0001", "SIM-0002"):
        relay.register(s)
    token = relay.enroll("SIM-0001")
    other = relay.enroll("SIM-0002")

    def waiting():
        return metric_value(relay.metrics(), "printrelay_long_polls_waiting") or 0

    answers = {}

    def long_poll(name, tok):
        try:
            a = relay.post("/v1/device/poll", {"state": "idle", "wait_s": WAIT_S}, token=tok,
                           timeout=WAIT_S + 30)
        except Exception as e:  # the connection ended without an answer: as wrong as an answer
            a = e
        answers[name] = (time.monotonic(), a)

    def start(name, tok):
        th = threading.Thread(target=long_poll, args=(name, tok), daemon=True)
        th.start()
        return th

    bystander = start("other", other)
    wait_until(lambda: waiting() == 1, 10, "SIM-0002's long-poll to be held")
    first = start("first", token)
    wait_until(lambda: waiting() == 2, 10, "SIM-0001's first long-poll to be held")
    check(not answers, f"a long-poll answered early: {answers}")

    second_at = time.monotonic()
    second = start("second", token)
    first.join(10)
    check("first" in answers, "the second poll of SIM-0001 did not answer the first within 10 s")
    at, a = answers["first"]
    check(isinstance(a, harness.HttpAnswer) and a.status == 200 and a.json["jobs"] == [],
          f"the replaced poll's answer: {a!r}")
    print(f"the first poll answered {at - second_at:.2f} s after the second was sent")
    wait_until(lambda: waiting() == 2, 10,
               "one held poll per device (SIM-0001's second, SIM-0002's)")
    check("second" not in answers and "other" not in answers,
          f"the second poll or the bystander answered: {answers}")

    job = relay.ok_json("POST", "/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                              "params": {"data_sets": ["counters"]}})
    second.join(10)
    check("second" in answers, "the job did not reach SIM-0001's held second poll")
    a = answers["second"][1]
    check(isinstance(a, harness.HttpAnswer) and a.status == 200
          and [j["id"] for j in a.json["jobs"]] == [job["id"]],
          f"the held second poll must deliver {job['id']}: {a!r}")
    check("other" not in answers, f"SIM-0002's poll answered with SIM-0001's job: {answers}")
    wait_until(lambda: waiting() == 1, 10, "SIM-0002's poll to be the only one held")
    check(bystander.is_alive(), "SIM-0002's poll ended")


if __name__ == "__main__":
    harness.run(test)
