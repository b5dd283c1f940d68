#!/usr/bin/env python3
"""relayd runs on the PostgreSQL store as it does on SQLite: devices enrol, report, and run a
collect and a configure job; nothing lives in the data directory's SQLite file; after relayd is
killed with -9 and restarted on the same database, the jobs, reports and alerts are all there."""

import os

import harness
from harness import check, wait_until


def test(env):
    conninfo = env.postgres()
    relay = env.relay(postgres=conninfo)
    relay.start("--device-rate", "0")
    health = relay.ok_json("GET", "/healthz", token=None)
    check(health.get("store") == "postgres", f"/healthz says {health}")
    check(not os.path.exists(os.path.join(relay.data_dir, "relayd.db")),
          "a SQLite file was created although the relay runs on PostgreSQL")

    sim = harness.start_fleet(env, relay, 2)
    s1, s2 = sim.serials()
    job = env.relayctl_json(relay, "jobs", "create", "collect", "--serial", s1, "--data-sets",
                            "counters,supplies")
    rc, out, err = env.relayctl(relay, "jobs", "wait", job["id"], "--timeout-s", "30")
    check(rc == 0, f"collect job did not succeed: {out}{err}")
    bad = env.relayctl_json(relay, "jobs", "create", "configure", "--serial", s2, "--set",
                            "sleep_min=999")
    rc, out, err = env.relayctl(relay, "jobs", "wait", bad["id"], "--timeout-s", "30")
    check(rc == 1 and "sleep_min" in out + err, f"configure NG: rc={rc} {out}{err}")
    sim.control(s2, {"action": "fault", "code": "SC542", "sc_type": "A"})
    wait_until(lambda: relay.ok_json("GET", f"/v1/alerts?serial={s2}")["alerts"], 10,
               "the fatal alert to be stored")
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in (s1, s2)), 30, "outboxes to drain")
    before = {s: len(relay.all_reports(s)) for s in (s1, s2)}

    relay.kill9()
    relay.restart()
    after = {s: len(relay.all_reports(s)) for s in (s1, s2)}
    check(after == before, f"reports before the kill {before}, after the restart {after}")
    j = relay.ok_json("GET", f"/v1/jobs/{job['id']}")
    check(j["job"]["state"] == "succeeded", f"collect job after restart: {j['job']['state']}")
    states = [t["to"] for t in j["transitions"]]
    check(states[-1] == "succeeded" and "running" in states, f"transitions: {states}")
    listed = {x["id"]: x["state"] for x in relay.ok_json("GET", "/v1/jobs")["jobs"]}
    check(listed.get(bad["id"]) == "failed", f"failed configure job missing from the list: {listed}")
    check(relay.ok_json("GET", f"/v1/alerts?serial={s2}")["alerts"], "alert lost across restart")
    # The devices keep working against the restarted relay (their tokens live in PostgreSQL).
    again = env.relayctl_json(relay, "jobs", "create", "collect", "--serial", s1, "--data-sets",
                              "counters")
    rc, out, err = env.relayctl(relay, "jobs", "wait", again["id"], "--timeout-s", "30")
    check(rc == 0, f"collect job after restart did not succeed: {out}{err}")


if __name__ == "__main__":
    harness.run(test)
