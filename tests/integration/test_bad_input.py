#!/usr/bin/env python3
"""Every kind of bad request gets the right HTTP status and error code, and stores nothing:
the report, job, transition, registration, credential and alert counts are the same before and
after each one."""

import json

import harness
from harness import check


def snapshot(relay, job_id):
    return {
        "reports": len(relay.reports(limit=1000)),
        "jobs": len(relay.jobs("all=1")),
        "transitions": len(relay.job(job_id)["transitions"]),
        "job_state": relay.job(job_id)["job"]["state"],
        "registrations": len(relay.ok_json("GET", "/v1/registrations")["registrations"]),
        "credentials": len(relay.ok_json("GET", "/v1/credentials")["credentials"]),
        "alerts": len(relay.ok_json("GET", "/v1/alerts?all=1")["alerts"]),
    }


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    for s in ("SIM-0001", "SIM-0002"):
        relay.register(s)
    tok1 = relay.enroll("SIM-0001")
    tok2 = relay.enroll("SIM-0002")

    # A valid report and a valid job, so "nothing changed" is measured against a non-empty store.
    good = {"id": "r-good-1", "kind": "counters", "created_at": "2026-11-23T09:15:00.000Z",
            "urgency": "normal", "body": {"total": 100}}
    a = relay.post("/v1/device/reports", {"reports": [good]}, token=tok1)
    check(a.status == 200, f"a valid report batch must be accepted: {a!r}")
    job = relay.ok_json("POST", "/v1/jobs", {"serial": "SIM-0002", "kind": "collect",
                                              "params": {"data_sets": ["counters"]}})
    job_id = job["id"]

    # The viewer credential comes from relayctl, as an operator would make it.
    out = env.relayctl_ok(relay, "credentials", "create", "--name", "viewer-1", "--role", "viewer")
    viewer_token = next((w for w in out.split() if w.startswith("at_")), None) or out.split()[0]
    a = relay.get("/v1/jobs", token=viewer_token)
    check(a.status == 200, f"the viewer token from `relayctl credentials create` must read the job "
                           f"list (stdout was {out!r}): {a!r}")

    base = snapshot(relay, job_id)

    failures = []  # every case runs, so one report lists all the mismatches

    def expect(what, answer, status, code):
        if not (answer.status == status and answer.error_code == code):
            failures.append(f"{what}: expected {status} {code}, got {answer!r}")
        elif not answer.json["error"].get("message"):
            failures.append(f"{what}: the error has no message: {answer!r}")
        now = snapshot(relay, job_id)
        if now != base:
            failures.append(f"{what}: the relay changed: before {base}, after {now}")

    report = lambda **kw: dict(good, **kw)  # noqa: E731

    # ---- malformed JSON ----
    expect("malformed JSON report batch",
           relay.request("POST", "/v1/device/reports", raw='{"reports": [', token=tok1), 400, "bad_input")
    expect("malformed JSON job", relay.request("POST", "/v1/jobs", raw="serial=SIM-0001"), 400, "bad_input")
    expect("malformed JSON poll",
           relay.request("POST", "/v1/device/poll", raw="{wait_s: 1}", token=tok1), 400, "bad_input")
    expect("a JSON array instead of an object",
           relay.request("POST", "/v1/jobs", raw="[1, 2]"), 400, "bad_input")

    # ---- wrong types ----
    expect("job serial as a number",
           relay.post("/v1/jobs", {"serial": 42, "kind": "collect", "params": {"data_sets": ["counters"]}}),
           400, "bad_input")
    expect("reports as an object",
           relay.post("/v1/device/reports", {"reports": {"id": "x"}}, token=tok1), 400, "bad_input")
    expect("report kind as a number",
           relay.post("/v1/device/reports", {"reports": [report(id="r-type-1", kind=5)]}, token=tok1),
           400, "bad_input")
    expect("wait_s as a string",
           relay.post("/v1/device/poll", {"state": "idle", "wait_s": "5"}, token=tok1), 400, "bad_input")
    expect("job event type unknown",
           relay.post(f"/v1/device/jobs/{job_id}/events",
                      {"event_id": "e-bad-1", "type": "exploded", "at": "2026-11-23T09:15:00.000Z"},
                      token=tok2), 400, "bad_input")

    # ---- out of range ----
    expect("wait_s 999", relay.post("/v1/device/poll", {"state": "idle", "wait_s": 999}, token=tok1),
           400, "bad_input")
    expect("schedule interval_s 1",
           relay.post("/v1/jobs", {"serial": "SIM-0001", "kind": "schedule",
                                   "params": {"poll_policy": {"interval_s": 1}}}), 400, "bad_input")
    expect("report id with a space",
           relay.post("/v1/device/reports", {"reports": [report(id="r bad")]}, token=tok1), 400, "bad_input")
    expect("reports limit 5000", relay.get("/v1/reports?limit=5000"), 400, "bad_input")

    # ---- size limits ----
    big = "x" * (1024 * 1024 + 1024)
    expect("body over 1 MiB",
           relay.post_early_answer("/v1/device/reports",
                                   json.dumps({"reports": [report(id="r-big-1", body={"pad": big})]}).encode(),
                                   token=tok1), 413, "too_large")
    batch = [report(id=f"r-batch-{i}") for i in range(257)]
    expect("batch of 257 reports", relay.post("/v1/device/reports", {"reports": batch}, token=tok1),
           413, "too_large")
    # A batch with one bad report stores none of it, not even the good ones before it.
    mixed = [report(id="r-mixed-ok"), report(id="r-mixed-bad", kind="toaster")]
    expect("batch with one unknown kind", relay.post("/v1/device/reports", {"reports": mixed}, token=tok1),
           400, "bad_input")
    check(all(r["id"] != "r-mixed-ok" for r in relay.reports(limit=1000)),
          "the good report of a rejected batch was stored")

    # ---- unknown things ----
    expect("job for an unknown serial",
           relay.post("/v1/jobs", {"serial": "NOPE-0001", "kind": "collect",
                                   "params": {"data_sets": ["counters"]}}), 404, "not_found")
    expect("unknown report kind",
           relay.post("/v1/device/reports", {"reports": [report(id="r-kind-1", kind="toaster")]},
                      token=tok1), 400, "bad_input")
    expect("unknown report kind in a query", relay.get("/v1/reports?kind=toaster"), 400, "bad_input")

    # ---- authority ----
    expect("a device posting an event for another device's job",
           relay.post(f"/v1/device/jobs/{job_id}/events",
                      {"event_id": "e-steal-1", "type": "acquired", "at": "2026-11-23T09:15:00.000Z"},
                      token=tok1), 403, "forbidden")
    expect("a viewer creating a job",
           relay.post("/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                   "params": {"data_sets": ["counters"]}}, token=viewer_token),
           403, "forbidden")
    rc, out, err = env.relayctl(relay, "jobs", "create", "collect", "--serial", "SIM-0001",
                                "--data-sets", "counters", token=viewer_token)
    check(rc == 1 and err.startswith("error:"),
          f"relayctl as a viewer must exit 1 with 'error: ...' on stderr, got rc={rc} {out!r} {err!r}")
    check(snapshot(relay, job_id) == base, "relayctl as a viewer changed the relay")
    expect("a viewer cancelling a job", relay.post(f"/v1/jobs/{job_id}/cancel", {}, token=viewer_token),
           403, "forbidden")
    expect("no token on the admin API",
           relay.post("/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                   "params": {"data_sets": ["counters"]}}, token=None), 401, "unauthorized")
    expect("unknown admin token", relay.get("/v1/jobs", token="at_not-a-real-token"), 401, "unauthorized")
    expect("no token on the device API",
           relay.post("/v1/device/reports", {"reports": [report(id="r-anon-1")]}, token=None),
           401, "unauthorized")
    expect("unknown device token",
           relay.post("/v1/device/reports", {"reports": [report(id="r-anon-2")]}, token="dt_nope"),
           401, "unauthorized")
    expect("a device token on the admin API", relay.get("/v1/jobs", token=tok1), 401, "unauthorized")
    expect("an admin token on the device API",
           relay.post("/v1/device/reports", {"reports": [report(id="r-anon-3")]}),
           401, "unauthorized")
    expect("enrol with a wrong code",
           relay.post("/v1/device/enroll", {"serial": "SIM-0001", "model": harness.MODEL,
                                            "enrollment_code": "wrong"}, token=None), 403, "forbidden")
    # The token of SIM-0001 still works after the refused enrolment (it replaced nothing).
    a = relay.post("/v1/device/poll", {"state": "idle"}, token=tok1)
    check(a.status == 200, f"a refused enrolment must not revoke the device's token: {a!r}")

    check(not failures, f"{len(failures)} bad request(s) mishandled:\n  " + "\n  ".join(failures))

    # The relay is still healthy and the original data is intact.
    stored = [r for r in relay.reports("SIM-0001") if r["id"] == "r-good-1"]
    check(len(stored) == 1 and stored[0]["body"] == {"total": 100},
          f"the report stored before the bad requests changed: {json.dumps(stored)}")


if __name__ == "__main__":
    harness.run(test)
