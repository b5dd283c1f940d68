#!/usr/bin/env python3
"""Firmware updates end to end (issue 3, DESIGN.md §8), with the real relayd, relayctl and the
agent inside mfp-sim (A/B slots, write time, reboot):

- a signed job installs a vendor-signed image: downloaded, "acquired", written to the inactive
  slot, rebooted into, and only the boot report makes the job succeeded; the panel showed
  waiting -> updating -> done; the update history records what was sent and installed;
- an image that does not boot falls back to the previous slot; retried up to max_attempts, then
  the job fails with that reason and the device still runs the old version;
- the device's scheduled update check is answered from the images and recorded;
- refused by the device, each with its reason: an image signed by an unknown vendor key, an image
  whose bytes were changed in the relay's blob directory, a job envelope that was altered after
  signing, a job signed by an unknown service-center key; the relay refuses an unsigned firmware
  job outright;
- update windows: an update time inside a forbidden window moves to the window's end, visibly;
- the panel defers (within the deferral maximum) and cancels a waiting update;
- a busy device defers by its deferment period; past the maximum the job fails as it says;
- the relay cancels an update before its write starts.
"""

import json
import os
import time
import datetime

import harness
from harness import check, wait_until

KEYS_ENV = {}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def push(env, relay, keys_dir, path, version, key, component="main"):
    out = env.relayctl_json(relay, "artifact", "push", path, "--kind", "firmware", "--model",
                            harness.MODEL, "--component", component, "--version", version,
                            "--key", key, "--dir", keys_dir)
    art = out.get("artifact", out)
    check(len(art.get("sha256", "")) == 64, f"artifact push answered {out}")
    return art["sha256"]


def create_fw(env, relay, serial, shas, *extra, key="service"):
    args = ["jobs", "create", "firmware", "--serial", serial, "--sign-key", key]
    for sha in shas:
        args += ["--artifact", sha]
    if "--deferral-step-s" not in extra:
        # The simulated office prints now and then: a device busy at the update time tries
        # again in 2 s instead of the default 20 min.
        args += ["--deferral-step-s", "2"]
    out = env.relayctl_ok(relay, *args, *extra, env=KEYS_ENV)
    job_id = out.splitlines()[0].strip()
    check(job_id.startswith("j-"), f"jobs create firmware printed {out!r}")
    return job_id


def job_of(relay, job_id):
    return relay.job(job_id)


def causes(relay, job_id):
    return " | ".join(t.get("cause", "") for t in relay.job(job_id)["transitions"])


def wait_state(relay, job_id, states, timeout=60):
    def done():
        j = relay.job(job_id)["job"]
        return j["state"] in states and j
    return wait_until(done, timeout, f"job {job_id} to reach {states} (causes so far: "
                      f"{causes(relay, job_id)})")


def firmware_of(sim, serial):
    st = sim.status(serial) or {}
    return (st.get("firmware") or {}).get("main")


def test(env):
    relay = env.relay().start()
    keys_dir = os.path.join(env.tmp, "keys")
    KEYS_ENV["PRINTRELAY_KEYS_DIR"] = keys_dir
    for k in ("vendor", "rogue", "service", "rogue-service"):
        env.relayctl_ok(relay, "keys", "create", k, "--dir", keys_dir)

    serials = [f"FW-{i:04d}" for i in range(1, 7)]
    for s in serials:
        relay.register(s)
    sim = env.sim(relay, devices=len(serials), prefix="FW-",
                  extra=["--vendor-key", os.path.join(keys_dir, "vendor.pub"),
                         "--job-key", os.path.join(keys_dir, "service.pub"),
                         "--firmware-write-ms", "300", "--firmware-check-interval-s", "2"])
    relay.wait_enrolled(serials)
    sim.wait_status()
    old = firmware_of(sim, serials[0])
    check(old, f"the device reports a main firmware version: {sim.status(serials[0])}")

    images = os.path.join(env.tmp, "images")
    os.makedirs(images)

    def image(name, content):
        p = os.path.join(images, name)
        with open(p, "wb") as f:
            f.write(content)
        return p

    good = push(env, relay, keys_dir, image("good.bin", os.urandom(600_000)), "2.0.0", "vendor")
    badboot = push(env, relay, keys_dir,
                   image("bad.bin", os.urandom(1000) + b"PRINTRELAY-BADBOOT" + os.urandom(1000)),
                   "2.0.1", "vendor")
    rogue = push(env, relay, keys_dir, image("rogue.bin", os.urandom(5000)), "2.0.2", "rogue")
    tampered = push(env, relay, keys_dir, image("tamper.bin", os.urandom(5000)), "2.0.3", "vendor")
    blob = os.path.join(relay.data_dir, "artifacts", tampered)
    with open(blob, "r+b") as f:  # same size, other bytes: what an attacker with disk access does
        f.seek(100)
        f.write(b"\x00" * 64)

    # 1. A good update: succeeded only after the boot report; old -> new; screens; history.
    s1 = serials[0]
    j1 = create_fw(env, relay, s1, [good])
    job = wait_state(relay, j1, ("succeeded", "failed"), timeout=90)
    check(job["state"] == "succeeded", f"good update: {job} / {causes(relay, j1)}")
    check(job["result"].get("new", {}).get("main") == "2.0.0" and
          job["result"].get("old", {}).get("main") == old,
          f"the result names old and new versions: {job['result']}")
    c = causes(relay, j1)
    for step in ("device: acquired", "device: started", "device: succeeded"):
        check(step in c, f"transition '{step}' missing: {c}")
    check(c.index("device: acquired") < c.index("device: started") < c.index("device: succeeded"),
          f"acquired, started, succeeded in order: {c}")
    wait_until(lambda: firmware_of(sim, s1) == "2.0.0", 20, "the device to run main 2.0.0")
    # status.json is rewritten once a second: wait for the last screen to be in it.
    wait_until(lambda: "done" in ((sim.status(s1) or {}).get("panel_screens") or []), 10,
               "the panel to show the update ended normally")
    screens = (sim.status(s1) or {}).get("panel_screens", [])
    for name in ("waiting", "updating", "done"):
        check(name in screens, f"panel showed {name}: {screens}")
    hist = env.relayctl_json(relay, "firmware", "history", s1)["history"]
    events = [(h["event"], h["version"]) for h in hist]
    check(("installed", "2.0.0") in events, f"history has the install: {events}")
    check(any(e == "sent" for e, _ in events), f"history records the image sent: {events}")
    reports = [r for r in relay.reports(s1, kind="boot") if r["body"].get("reason") == "firmware update"]
    check(reports and reports[0]["body"]["firmware"]["main"] == "2.0.0",
          f"the boot report after the update shows 2.0.0: {reports}")

    # The update check (seed 002): the device asks on its schedule; the relay answers with the
    # newest image above what it runs and records the check.
    def offered():
        for h in env.relayctl_json(relay, "firmware", "history", s1)["history"]:
            if h["event"] == "checked" and h["detail"]["firmware"].get("main") == "2.0.0":
                return h["detail"]["offers"]
        return None
    offers = wait_until(offered, 20, "an update check after the install")
    check([(o["component"], o["version"]) for o in offers] == [("main", "2.0.3")],
          f"the newest image above 2.0.0 is offered: {offers}")

    # 2. An image that does not boot: falls back, retried max_attempts times, then failed.
    s2 = serials[1]
    j2 = create_fw(env, relay, s2, [badboot], "--max-attempts", "2")
    job = wait_state(relay, j2, ("succeeded", "failed"), timeout=150)
    c = causes(relay, j2)
    check(job["state"] == "failed" and "fell back" in c, f"bad boot fails with fallback: {c}")
    check("attempt 1 failed" in json.dumps(relay.job(j2)), f"first attempt reported: {c}")
    check(firmware_of(sim, s2) == old, f"the device still runs {old}: {sim.status(s2)}")
    hist = env.relayctl_json(relay, "firmware", "history", s2)["history"]
    check(any(h["event"] == "failed" and h["version"] == "2.0.1" for h in hist),
          f"history records the failure: {hist}")

    # 3. Refusals by the device.
    s3 = serials[2]
    j3 = create_fw(env, relay, s3, [rogue])
    job = wait_state(relay, j3, ("succeeded", "failed"))
    check(job["state"] == "failed" and "unknown key" in causes(relay, j3),
          f"rogue-signed image refused: {causes(relay, j3)}")
    s4 = serials[3]
    j4 = create_fw(env, relay, s4, [tampered])
    job = wait_state(relay, j4, ("succeeded", "failed"))
    check(job["state"] == "failed" and "does not match its signed manifest" in causes(relay, j4),
          f"tampered blob refused: {causes(relay, j4)}")
    check(firmware_of(sim, s4) == old, "nothing installed from the tampered blob")

    # A job altered after signing: take a valid envelope, change the version, send it as is
    # (what a relay with a tampered database would hand out).
    s5 = serials[4]
    j5 = create_fw(env, relay, s5, [good], "--update-at", iso(time.time() + 3600))
    env_obj = relay.job(j5)["job"]["params"]["envelope"]
    env.relayctl_ok(relay, "jobs", "cancel", j5)
    text = env_obj["text"].replace('"2.0.0"', '"2.0.9"')
    text = text.replace(s5, s5)  # same device
    r = relay.post("/v1/jobs", {"serial": s5, "kind": "firmware",
                                "envelope": {"text": text, "signature": env_obj["signature"]}})
    # The relay does not judge signatures, but 2.0.9 is not the image's version: it refuses.
    check(r.status == 400, f"relay refuses a job whose version is not the image's: {r}")
    # Alter something the relay cannot see: the deferral policy.
    text = env_obj["text"].replace('"max_count":3', '"max_count":9')
    check(text != env_obj["text"], f"the envelope holds a deferral policy: {env_obj['text']}")
    r = relay.post("/v1/jobs", {"serial": s5, "kind": "firmware",
                                "envelope": {"text": text, "signature": env_obj["signature"]}})
    check(r.status == 201, f"the relay stores the altered job: {r}")
    j5b = r.json["id"]
    job = wait_state(relay, j5b, ("succeeded", "failed"))
    check(job["state"] == "failed" and "does not verify" in causes(relay, j5b),
          f"altered envelope refused: {causes(relay, j5b)}")
    j5c = create_fw(env, relay, s5, [good], key="rogue-service")
    job = wait_state(relay, j5c, ("succeeded", "failed"))
    check(job["state"] == "failed" and "unknown key" in causes(relay, j5c),
          f"job signed by an unknown service key refused: {causes(relay, j5c)}")
    r = relay.post("/v1/jobs", {"serial": s5, "kind": "firmware",
                                "params": {"components": [{"component": "main", "version": "2.0.0",
                                                           "artifact": good}]}})
    check(r.status == 400 and "signed" in str(r),
          f"unsigned firmware job refused by the relay: {r}")
    check(firmware_of(sim, s5) == old, "nothing installed on the device that refused")

    # 4. Update windows: a time inside 00:00-24:00 of today moves to tomorrow, visibly.
    now = datetime.datetime.now(datetime.timezone.utc)
    day = now.strftime("%a").lower()
    j6 = create_fw(env, relay, s5, [good], "--update-at", iso(time.time() + 60),
                   "--forbid", f"{day} 00:00-24:00")
    job = relay.job(j6)["job"]
    c = causes(relay, j6)
    check("moved from" in c and "forbidden window" in c, f"the move is shown: {c}")
    tomorrow = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT00:00:00.000Z")
    check(job["execute_at"] == tomorrow, f"update time moved to {tomorrow}: {job['execute_at']}")
    # The device downloads and waits; the service center cancels before the write.
    wait_state(relay, j6, ("acquired",), timeout=60)
    env.relayctl_ok(relay, "jobs", "cancel", j6)
    check(relay.job(j6)["job"]["state"] == "cancelled", "cancelled before the write")

    # 5. The panel: defer (within the maximum), then cancel.
    s6 = serials[5]
    j7 = create_fw(env, relay, s6, [good], "--update-at", iso(time.time() + 120),
                   "--max-deferrals", "1")
    wait_state(relay, j7, ("acquired",), timeout=60)
    wait_until(lambda: ((sim.status(s6) or {}).get("panel_screen") or {}).get("screen") == "waiting",
               20, "the waiting screen")
    screen = sim.status(s6)["panel_screen"]
    check(screen.get("expected_end") and screen.get("can_defer"), f"waiting screen: {screen}")
    sim.control(s6, {"action": "firmware-defer"})
    wait_until(lambda: "deferred at the device panel" in causes(relay, j7), 20,
               "the panel deferral to reach the relay")
    sim.control(s6, {"action": "firmware-defer"})  # over the maximum of 1: refused
    sim.control(s6, {"action": "firmware-cancel"})
    job = wait_state(relay, j7, ("cancelled",), timeout=30)
    check("cancelled at the device panel" in causes(relay, j7), f"panel cancel: {causes(relay, j7)}")
    check(causes(relay, j7).count("device: deferred") == 1,
          f"exactly one deferral granted: {causes(relay, j7)}")

    # 6. Busy at the update time: defers by its period; past the maximum the job fails.
    sim.control(s3, {"action": "busy", "seconds": 120})
    wait_until(lambda: ((sim.status(s3) or {}).get("busy") or {}).get("printing"), 10,
               "the device to be busy")
    j8 = create_fw(env, relay, s3, [good], "--max-deferrals", "2", "--deferral-step-s", "2",
                   "--when-deferral-exhausted", "fail")
    job = wait_state(relay, j8, ("succeeded", "failed"), timeout=90)
    c = causes(relay, j8)
    check(job["state"] == "failed" and c.count("device: deferred: device busy") == 2 and
          "deferred 2 times, the maximum" in c, f"busy deferrals then fail: {c}")
    check(firmware_of(sim, s3) == old, "a busy device was not updated")


if __name__ == "__main__":
    harness.run(test)
