#!/usr/bin/env python3
"""A device holding a long-poll gets a job created after it started waiting in well under a
second (the wait returns early, not at wait_s); a long-poll with nothing to deliver is held for
about wait_s and then answers with no jobs."""

import threading
import time

import harness
from harness import check, metric_value, wait_until

WAIT_S = 10


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    relay.register("SIM-0001")
    token = relay.enroll("SIM-0001")

    # Nothing to deliver yet: a plain poll answers at once with no jobs and offers long-polling.
    a = relay.post("/v1/device/poll", {"state": "idle", "boot_id": "b-1"}, token=token)
    check(a.status == 200 and a.json["jobs"] == [] and a.json.get("long_poll") is True,
          f"first poll: {a!r}")

    result = {}

    def long_poll():
        t0 = time.monotonic()
        ans = relay.post("/v1/device/poll", {"state": "idle", "boot_id": "b-1", "wait_s": WAIT_S},
                         token=token, timeout=WAIT_S + 30)
        result["answer"] = ans
        result["returned_at"] = time.monotonic()
        result["started_at"] = t0

    th = threading.Thread(target=long_poll, daemon=True)
    th.start()
    # The poll is held: the relay counts it as waiting (no sleep-and-hope).
    wait_until(lambda: (metric_value(relay.metrics(), "printrelay_long_polls_waiting") or 0) >= 1,
               5, "the long-poll to be held by the relay")
    check("answer" not in result, f"the long-poll answered before any job existed: {result}")

    created = relay.ok_json("POST", "/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                                  "params": {"data_sets": ["counters"]}})
    created_at = time.monotonic()
    th.join(WAIT_S + 30)
    check("answer" in result, "the long-poll never answered")
    ans = result["answer"]
    check(ans.status == 200, f"long-poll: {ans!r}")
    ids = [j["id"] for j in ans.json["jobs"]]
    check(ids == [created["id"]], f"the long-poll must deliver the new job {created['id']}, got {ids}")
    latency = result["returned_at"] - created_at
    check(latency < 1.0, f"the job reached the waiting device {latency:.3f} s after it was created "
                         f"(must be under 1 s)")
    check(result["returned_at"] - result["started_at"] < WAIT_S - 1,
          "the long-poll did not return early")
    print(f"job delivered {latency * 1000:.0f} ms after creation")

    # A poll while a job is open answers at once with it (no waiting on a deliverable job).
    t0 = time.monotonic()
    a = relay.post("/v1/device/poll", {"state": "idle", "wait_s": WAIT_S}, token=token,
                   timeout=WAIT_S + 30)
    check(a.status == 200 and [j["id"] for j in a.json["jobs"]] == [created["id"]],
          f"poll with an open job: {a!r}")
    check(time.monotonic() - t0 < WAIT_S - 1, "a poll with a deliverable job was held")

    # The device finishes the job; now there is nothing to deliver and a long-poll waits.
    for i, kind in enumerate(("acquired", "started", "succeeded")):
        ev = {"event_id": f"e-{i}", "type": kind, "at": "2026-11-23T09:15:00.000Z"}
        if kind == "succeeded":
            ev["detail"] = {"report_ids": []}
        r = relay.post(f"/v1/device/jobs/{created['id']}/events", ev, token=token)
        check(r.status == 200, f"job event {kind}: {r!r}")
    check(relay.job(created["id"])["job"]["state"] == "succeeded", "the job did not succeed")

    idle_wait = 3
    t0 = time.monotonic()
    a = relay.post("/v1/device/poll", {"state": "idle", "wait_s": idle_wait}, token=token,
                   timeout=idle_wait + 30)
    held = time.monotonic() - t0
    check(a.status == 200 and a.json["jobs"] == [], f"idle long-poll: {a!r}")
    check(idle_wait - 0.25 <= held <= idle_wait + 3,
          f"an idle long-poll with wait_s={idle_wait} was held {held:.2f} s")
    check(isinstance(a.json.get("next_poll_s"), (int, float)) and a.json["next_poll_s"] > 0,
          f"the poll answer has no next_poll_s: {a!r}")


if __name__ == "__main__":
    harness.run(test)
