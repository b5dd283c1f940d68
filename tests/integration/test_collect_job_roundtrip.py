#!/usr/bin/env python3
"""A collect job made with relayctl reaches one of three simulated devices, which sends the
requested data sets; the job ends `succeeded`, the reports carry the job id, and the job list
shows the seed-001 Fig. 9 columns and every transition with its cause."""

import json

import harness
from harness import check

SERIAL = "SIM-0002"
DATA_SETS = ["counters", "supplies", "structure"]
FIG9_COLUMNS = ["ID", "SERIAL", "PLACE", "INSTRUCTION", "DATA TYPE", "RELAY", "USER",
                "INSTRUCTED", "EXECUTED", "STATUS"]


def test(env):
    relay = env.relay()
    relay.start("--relay-id", "root-7")
    sim = harness.start_fleet(env, relay, 3)

    out = env.relayctl_ok(relay, "jobs", "create", "collect", "--serial", SERIAL,
                          "--data-sets", ",".join(DATA_SETS))
    job_id = out.splitlines()[0].strip()
    check(job_id.startswith("j-") and " " not in job_id,
          f"`relayctl jobs create` must print the job id alone on its first line, got {out!r}")

    rc, out, err = env.relayctl(relay, "jobs", "wait", job_id, "--timeout-s", "30", timeout=60)
    check(rc == 0, f"jobs wait {job_id}: exit {rc} (0 = succeeded)\nstdout: {out}\nstderr: {err}")

    detail = relay.job(job_id)
    job = detail["job"]
    check(job["state"] == "succeeded", f"job state: {job}")
    check(job["serial"] == SERIAL and job["kind"] == "collect", f"job: {job}")
    check(job["data_type"] == ",".join(DATA_SETS), f"data_type {job['data_type']!r}")
    check(job["managing_relay"] == "root-7" and job["instructing_user"] == "admin", f"job: {job}")
    check(job.get("executed_at"), f"a succeeded job has no executed_at: {job}")

    # Transitions: created waiting, then taken by the device, then the normal end, each with
    # a time and a cause, in time order.
    trans = detail["transitions"]
    states = [t["to"] for t in trans]
    check(states[0] == "waiting", f"the first transition must create the job waiting: {trans}")
    check(states[-1] == "succeeded", f"the last transition must be succeeded: {trans}")
    check("acquired" in states or "running" in states,
          f"no acquired/running transition between waiting and succeeded: {trans}")
    order = {"waiting": 0, "acquired": 1, "running": 2, "succeeded": 3}
    ranks = [order.get(s, -1) for s in states]
    check(ranks == sorted(ranks) and -1 not in ranks, f"transitions out of order: {states}")
    for t in trans:
        check(isinstance(t.get("cause"), str) and t["cause"].strip(), f"transition without cause: {t}")
        check(t.get("at"), f"transition without time: {t}")
    check([t["at"] for t in trans] == sorted(t["at"] for t in trans), f"transition times: {trans}")
    check(any(t["to"] == "succeeded" and "device" in t["cause"] for t in trans),
          f"the succeeded transition must name the device as its cause: {trans}")

    # The data the job asked for is stored, tagged with the job id, by the targeted device only.
    reports = relay.reports(SERIAL)
    tagged = [r for r in reports if r.get("job_id") == job_id]
    kinds = sorted(r["kind"] for r in tagged)
    check(kinds == sorted(DATA_SETS),
          f"reports with job_id {job_id} right after success: kinds {kinds}, want {sorted(DATA_SETS)}")
    for r in tagged:
        check(isinstance(r["body"], dict) and r["body"], f"empty {r['kind']} report: {r}")
        check(r["serial"] == SERIAL, f"report of another device: {r}")
    counters = next(r for r in tagged if r["kind"] == "counters")["body"]
    check(isinstance(harness.find_key(counters, "total"), (int, float)),
          f"the counters report has no total: {json.dumps(counters)[:300]}")
    for other in sim.serials():
        if other != SERIAL:
            check(not [r for r in relay.reports(other) if r.get("job_id") == job_id],
                  f"{other} sent reports for a job addressed to {SERIAL}")
            check(relay.jobs(f"serial={other}&all=1") == [], f"{other} has jobs it should not")

    # The job list (Fig. 9) as the service center sees it.
    out = env.relayctl_ok(relay, "jobs", "--serial", SERIAL)
    lines = out.splitlines()
    check(lines and all(c in lines[0] for c in FIG9_COLUMNS),
          f"job list header must have the Fig. 9 columns {FIG9_COLUMNS}:\n{out}")
    heads = [lines[0].index(c) for c in FIG9_COLUMNS]
    check(heads == sorted(heads), f"Fig. 9 columns out of order:\n{lines[0]}")
    row = next((l for l in lines[1:] if job_id in l), None)
    check(row is not None, f"job {job_id} missing from `relayctl jobs`:\n{out}")
    for want in (SERIAL, "collect", ",".join(DATA_SETS), "root-7", "admin", "succeeded",
                 f"Floor 3, {SERIAL}"):
        check(want in row, f"job row lacks {want!r}:\n{lines[0]}\n{row}")

    listed = env.relayctl_json(relay, "jobs", "--serial", SERIAL)
    rows = listed["jobs"] if isinstance(listed, dict) else listed
    mine = [j for j in rows if j["id"] == job_id]
    check(len(mine) == 1 and mine[0]["place"] == f"Floor 3, {SERIAL}" and mine[0]["state"] == "succeeded",
          f"jobs --json row: {mine}")

    shown = env.relayctl_ok(relay, "jobs", "show", job_id)
    for want in ("waiting", "succeeded", "CAUSE"):
        check(want in shown, f"`relayctl jobs show` lacks {want!r}:\n{shown}")

    # The device runs the job once: after it has polled again (and seen the finished job gone
    # from its answers), there are still exactly the three tagged reports and no new transitions.
    polled = (sim.status(SERIAL) or {}).get("agent", {}).get("last_poll_at")
    harness.wait_until(lambda: (sim.status(SERIAL) or {}).get("agent", {}).get("last_poll_at") != polled,
                       20, f"{SERIAL} to poll again")
    again = [r for r in relay.reports(SERIAL) if r.get("job_id") == job_id]
    check(len(again) == len(DATA_SETS), f"the job ran again: {len(again)} tagged reports")
    check(len(relay.job(job_id)["transitions"]) == len(trans), "the finished job got new transitions")


if __name__ == "__main__":
    harness.run(test)
