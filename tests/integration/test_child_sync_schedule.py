#!/usr/bin/env python3
"""A child relay without long-poll to its parent syncs at its regular interval and at its times of
day (seed 001 claims 33-34), and only then picks up jobs posted at the root.

- child-i syncs every 2 s: a job posted at the root reaches its device, and the root sees the
  child's sync time move on by itself while nothing happens.
- child-t has a one-hour interval and one time of day, the next minute: a job posted at the root
  is not handed down before that minute, and is handed down once it has come.
Raw device clients long-poll the children, so no upload triggers an early sync."""

import datetime
import os
import threading
import time

import harness
from harness import check, wait_until


def child_relay(env, root, cid, *extra):
    token_file = os.path.join(env.tmp, f"{cid}.token")
    env.relayctl_ok(root, "relays", "add", cid, "--token-file", token_file, "--all-customers")
    child = env.relay(cid)
    child.share_pki_of(root)
    child.start("--device-rate", "0", "--relay-id", cid, "--upstream", root.url,
                "--upstream-token-file", token_file, "--upstream-ca", root.ca_file,
                "--no-upstream-long-poll", *extra)
    return child


def last_sync(root, cid):
    for r in root.ok_json("GET", "/v1/relays")["relays"]:
        if r["id"] == cid:
            return r.get("last_sync")
    return None


def long_poll_until_job(child, token, job_id, result, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        a = child.post("/v1/device/poll", {"state": "idle", "wait_s": 20}, token=token, timeout=60)
        if a.status == 200 and any(j["id"] == job_id for j in a.json["jobs"]):
            result["at"] = time.time()
            return


def test(env):
    root = env.relay("root")
    root.start("--device-rate", "0", "--relay-id", "root-1")
    root.register("DEV-I")
    root.register("DEV-T")

    # ---- the interval ----
    ci = child_relay(env, root, "child-i", "--sync-interval-s", "2")
    wait_until(lambda: "DEV-I" in {r["serial"] for r in
                                   ci.ok_json("GET", "/v1/registrations")["registrations"]},
               20, "child-i to receive the registrations at a regular sync")
    token_i = ci.enroll("DEV-I")
    first = wait_until(lambda: last_sync(root, "child-i"), 10, "child-i's first sync")
    wait_until(lambda: last_sync(root, "child-i") != first, 10,
               "child-i to sync again by itself (interval)")
    job_i = root.ok_json("POST", "/v1/jobs", {"serial": "DEV-I", "kind": "collect",
                                              "params": {"data_sets": ["counters"]}})
    got = {}
    long_poll_until_job(ci, token_i, job_i["id"], got, 30)
    check("at" in got, "the job never reached the device under child-i")

    # ---- the time of day ----
    now = datetime.datetime.now(datetime.timezone.utc)
    if now.second > 50:  # leave the child time to start before the minute turns
        time.sleep(61 - now.second)
        now = datetime.datetime.now(datetime.timezone.utc)
    at = (now + datetime.timedelta(minutes=1)).replace(second=0, microsecond=0)
    ct = child_relay(env, root, "child-t", "--sync-interval-s", "3600",
                     "--sync-at", at.strftime("%H:%M"))
    wait_until(lambda: "DEV-T" in {r["serial"] for r in
                                   ct.ok_json("GET", "/v1/registrations")["registrations"]},
               20, "child-t's start-up sync")
    token_t = ct.enroll("DEV-T")  # the enrolment goes up at once; after that, nothing is owed
    wait_until(lambda: ct.ok_json("GET", "/v1/devices")["devices"], 5, "DEV-T enrolled")
    time.sleep(1)  # let the enrolment's sync finish before the job exists
    job_t = root.ok_json("POST", "/v1/jobs", {"serial": "DEV-T", "kind": "collect",
                                              "params": {"data_sets": ["counters"]}})
    posted = time.time()
    check(posted < at.timestamp(), "the minute turned before the job was posted; rerun")
    got = {}
    th = threading.Thread(target=long_poll_until_job, args=(ct, token_t, job_t["id"], got, 100),
                          daemon=True)
    th.start()
    th.join(110)
    check("at" in got, f"the job never reached DEV-T (sync time {at:%H:%M} UTC)")
    check(got["at"] >= at.timestamp() - 1,
          f"the job arrived at {got['at']:.1f}, before child-t's time of day {at.timestamp():.0f}")
    handed = [t for t in root.job(job_t["id"])["transitions"] if "child-t" in t["cause"]]
    check(handed, "the root did not record handing the job to child-t")
    print(f"job posted {at.timestamp() - posted:.1f} s before {at:%H:%M} UTC, "
          f"reached the device {got['at'] - at.timestamp():.1f} s after it")


if __name__ == "__main__":
    harness.run(test)
