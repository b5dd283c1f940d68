#!/usr/bin/env python3
"""configure jobs are validated by the device against its setting schema: a valid value is
applied (job succeeded, the next settings report shows it); an out-of-range value or an unknown
setting makes the job fail with a reason naming it and changes nothing; a failed job stays in the
default job list until it is acknowledged."""

import harness
from harness import check, find_key

SERIAL = "SIM-0001"


def create(env, relay, *args):
    out = env.relayctl_ok(relay, "jobs", "create", *args)
    job_id = out.splitlines()[0].strip()
    check(job_id.startswith("j-"), f"jobs create printed {out!r}")
    return job_id


def wait(env, relay, job_id):
    rc, out, err = env.relayctl(relay, "jobs", "wait", job_id, "--timeout-s", "30", timeout=60)
    return rc, out + err


def settings_report(env, relay, sim):
    """Asks the device for its settings (collect job) and returns that report's body."""
    job_id = create(env, relay, "collect", "--serial", SERIAL, "--data-sets", "settings")
    rc, text = wait(env, relay, job_id)
    check(rc == 0, f"collect settings job {job_id}: exit {rc}: {text}")
    reps = [r for r in relay.reports(SERIAL, kind="settings") if r.get("job_id") == job_id]
    check(len(reps) == 1, f"one settings report expected for {job_id}, got {reps}")
    return reps[0]["body"]


def failure_text(relay, job_id):
    d = relay.job(job_id)
    return str(d["job"].get("result")) + " " + " ".join(t.get("cause", "") for t in d["transitions"])


def test(env):
    relay = env.relay()
    relay.start()
    sim = harness.start_fleet(env, relay, 1)

    before = settings_report(env, relay, sim)
    check(find_key(before, "sleep_min") not in (None, 30),
          f"the test needs sleep_min to start different from 30: {before}")

    # OK: applied, and the next settings report shows it.
    ok = create(env, relay, "configure", "--serial", SERIAL, "--set", "sleep_min=30")
    rc, text = wait(env, relay, ok)
    check(rc == 0, f"configure sleep_min=30 ({ok}): exit {rc} (want 0 succeeded): {text}")
    check(relay.job(ok)["job"]["state"] == "succeeded", f"job {ok}: {relay.job(ok)}")
    after = settings_report(env, relay, sim)
    check(find_key(after, "sleep_min") == 30, f"settings report after configure: {after}")

    # NG: out of range, and an unknown name. Each fails with the reason naming the setting.
    bad_range = create(env, relay, "configure", "--serial", SERIAL, "--set", "sleep_min=999")
    unknown = create(env, relay, "configure", "--serial", SERIAL, "--set", "warp_factor=9")
    for job_id, name in ((bad_range, "sleep_min"), (unknown, "warp_factor")):
        rc, text = wait(env, relay, job_id)
        check(rc == 1, f"configure {name} ({job_id}): exit {rc} (want 1 failed): {text}")
        job = relay.job(job_id)["job"]
        check(job["state"] == "failed", f"job {job_id} state {job['state']}")
        reason = (job.get("result") or {}).get("reason", "")
        check(name in reason, f"the failure reason of {job_id} must name {name}: {reason!r} "
                              f"({failure_text(relay, job_id)})")
    # A failed configure changes nothing on the device.
    still = settings_report(env, relay, sim)
    check(find_key(still, "sleep_min") == 30, f"a failed configure changed the settings: {still}")
    check(find_key(still, "warp_factor") is None, f"an unknown setting was stored: {still}")

    # Failed jobs stay in the default list until acknowledged.
    def listed(*extra):
        rows = env.relayctl_json(relay, "jobs", "--serial", SERIAL, *extra)
        rows = rows["jobs"] if isinstance(rows, dict) else rows
        return {j["id"]: j for j in rows}

    rows = listed()
    check(bad_range in rows and unknown in rows, f"failed jobs missing from the default list: {list(rows)}")
    table = env.relayctl_ok(relay, "jobs", "--serial", SERIAL)
    row = next((l for l in table.splitlines() if bad_range in l), "")
    check("failed" in row, f"the job list row of {bad_range} must say failed:\n{table}")

    rc, out, err = env.relayctl(relay, "jobs", "ack", bad_range)
    check(rc == 0, f"jobs ack {bad_range}: exit {rc}: {out}{err}")
    rows = listed()
    check(bad_range not in rows, f"an acknowledged failed job is still in the default list")
    check(unknown in rows, "acknowledging one job hid another failed job")
    all_rows = listed("--all")
    check(bad_range in all_rows and all_rows[bad_range]["acknowledged"] is True
          and all_rows[bad_range]["state"] == "failed",
          f"`jobs --all` must still show the acknowledged job as failed: {all_rows.get(bad_range)}")

    # Acknowledging a job that did not fail is refused, and changes nothing.
    rc, out, err = env.relayctl(relay, "jobs", "ack", ok)
    check(rc == 1 and err.startswith("error:"), f"ack of a succeeded job: exit {rc}: {out!r} {err!r}")
    check(relay.job(ok)["job"]["acknowledged"] is False, "a refused ack changed the job")


if __name__ == "__main__":
    harness.run(test)
