#!/usr/bin/env python3
"""Two root relay nodes share one PostgreSQL database. A device enrolled through node A is known
to node B (its credential lives in the store), an admin credential made on A works on B, and a
job created through node B wakes the device that long-polls node A (LISTEN/NOTIFY): the long-poll
returns early with the job. The regular poll interval is ten minutes, so nothing but the
cross-node wake-up can deliver the job before the wait ends."""

import threading
import time

import harness
from harness import check, metric_value, wait_until

SERIAL = "SIM-X001"
WAIT_S = 25


def test(env):
    conninfo = env.postgres()
    a = env.relay("relayd-a", postgres=conninfo)
    b = env.relay("relayd-b", postgres=conninfo, admin_name="admin-b")
    b.share_pki_of(a)
    for node in (a, b):
        node.start("--device-rate", "0", "--poll-interval-s", "600", "--relay-id", node.name)
        check("cross-node job wake-ups" in node.proc.log_text(),
              f"{node.name} did not start watching for other nodes' jobs:\n{node.proc.log_text()}")

    b.register(SERIAL)
    token = a.enroll(SERIAL)
    # B recognises a device that enrolled through A.
    r = b.post("/v1/device/poll", {"state": "idle", "boot_id": "b-1"}, token=token)
    check(r.status == 200 and r.json["jobs"] == [], f"poll on node B with A's device token: {r!r}")
    # And an admin credential that exists only in the shared store (made by A's init).
    r = b.get("/v1/devices", token=a.admin_token)
    check(r.status == 200 and [d["serial"] for d in r.json["devices"]] == [SERIAL],
          f"node B with node A's admin credential: {r!r}")

    result = {}

    def long_poll():
        result["started_at"] = time.monotonic()
        result["answer"] = a.post("/v1/device/poll",
                                  {"state": "idle", "boot_id": "b-1", "wait_s": WAIT_S},
                                  token=token, timeout=WAIT_S + 30)
        result["returned_at"] = time.monotonic()

    th = threading.Thread(target=long_poll, daemon=True)
    th.start()
    wait_until(lambda: (metric_value(a.metrics(), "printrelay_long_polls_waiting") or 0) >= 1,
               10, "node A to hold the device's long-poll")

    posted_at = time.monotonic()
    created = b.ok_json("POST", "/v1/jobs", {"serial": SERIAL, "kind": "collect",
                                             "params": {"data_sets": ["counters"]}})
    check(created["managing_relay"] == "relayd-b", f"job row: {created}")
    th.join(WAIT_S + 30)
    check("answer" in result, "the long-poll on node A never answered")
    ans = result["answer"]
    check(ans.status == 200, f"long-poll on node A: {ans!r}")
    ids = [j["id"] for j in ans.json["jobs"]]
    check(ids == [created["id"]], f"node A's long-poll must deliver the job made on B, got {ids}")
    check(result["returned_at"] - result["started_at"] < WAIT_S - 5,
          "node A's long-poll was not woken: it ran to the end of its wait")
    print(f"job posted on node B reached the device on node A "
          f"{(result['returned_at'] - posted_at) * 1000:.0f} ms after the POST was sent")

    # The device's events on A move the job that B shows.
    for i, kind in enumerate(("acquired", "started", "succeeded")):
        ev = {"event_id": f"e-{i}", "type": kind, "at": "2026-11-23T09:15:00.000Z"}
        if kind == "succeeded":
            ev["detail"] = {"report_ids": []}
        r = a.post(f"/v1/device/jobs/{created['id']}/events", ev, token=token)
        check(r.status == 200, f"job event {kind} on node A: {r!r}")
    check(b.job(created["id"])["job"]["state"] == "succeeded",
          "node B does not see the job succeeded through node A")

    # A cancellation made on A reaches a long-poll held by B.
    second = a.ok_json("POST", "/v1/jobs", {"serial": SERIAL, "kind": "collect",
                                            "params": {"data_sets": ["supplies"]},
                                            "not_before": "2099-01-01T00:00:00Z"})
    result.clear()

    def long_poll_b():
        result["started_at"] = time.monotonic()
        result["answer"] = b.post("/v1/device/poll",
                                  {"state": "idle", "boot_id": "b-1", "wait_s": WAIT_S},
                                  token=token, timeout=WAIT_S + 30)
        result["returned_at"] = time.monotonic()

    th = threading.Thread(target=long_poll_b, daemon=True)
    th.start()
    wait_until(lambda: (metric_value(b.metrics(), "printrelay_long_polls_waiting") or 0) >= 1,
               10, "node B to hold the device's long-poll")
    a.ok_json("POST", f"/v1/jobs/{second['id']}/cancel", {})
    th.join(WAIT_S + 30)
    check("answer" in result and result["answer"].status == 200, f"long-poll on B: {result}")
    check(result["answer"].json["jobs"] == [], f"a cancelled job was delivered: {result['answer']!r}")
    check(result["returned_at"] - result["started_at"] < WAIT_S - 5,
          "node B's long-poll was not woken by the cancellation on node A")


if __name__ == "__main__":
    harness.run(test)
