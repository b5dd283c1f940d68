#!/usr/bin/env python3
"""Firmware for devices behind a child relay (seed 004 claim 1: the intermediary takes an image
from the service center once and serves every local device from its copy).

- The child learns the root's firmware catalog through its sync: a device's scheduled update
  check at the child is offered the image pushed at the root, though the child never held it.
- Firmware jobs created at the root for every device behind the child all succeed (confirmed by
  the boot report); the image crossed from the root to the child once: the root sent its bytes
  once (its artifact counter grew by the image's size and no more), the child stored one fetch,
  and every device's download was served by the child.
- The cache is bounded (--artifact-cache-mb): after a second image is fetched, the first, which
  no open job needs any more, is removed; the second, which open jobs need, stays.
- A child that does not trust the signing key takes nothing from its parent: the job fails with
  that reason and no byte of the image is stored there."""

import os

import harness
from harness import check, metric_value, wait_until

DEVICES = 4
IMAGE_BYTES = 3 * 1024 * 1024


def firmware_job(env, root, serial, sha, keys_env):
    out = env.relayctl_ok(root, "jobs", "create", "firmware", "--serial", serial, "--sign-key",
                          "service", "--artifact", sha, "--deferral-step-s", "2", env=keys_env)
    job_id = out.splitlines()[0].strip()
    check(job_id.startswith("j-"), f"jobs create firmware printed {out!r}")
    return job_id


def causes(relay, job_id):
    return " | ".join(t.get("cause", "") for t in relay.job(job_id)["transitions"])


def wait_ended(root, jobs, timeout=120):
    def ended():
        return all(root.job(j)["job"]["state"] in ("succeeded", "failed", "cancelled")
                   for j in jobs)
    wait_until(ended, timeout, f"jobs {jobs} to end")


def blob_bytes(relay):
    d = os.path.join(relay.data_dir, "artifacts")
    return {n for n in os.listdir(d) if len(n) == 64}


def sent_bytes(relay):
    return metric_value(relay.metrics(), "printrelay_artifact_bytes_sent_total") or 0


def test(env):
    root = env.relay("root")
    root.start("--device-rate", "0", "--relay-id", "root-1")
    keys_dir, keys_env = env.signing_keys(root, "vendor", "service", "other-vendor")
    child, untrusting = (
        env.child_relay(root, cid, "--trust-key", os.path.join(keys_dir, f"{key}.pub"),
                        "--artifact-cache-mb", "4")
        for cid, key in (("child-1", "vendor"), ("child-2", "other-vendor")))

    sim_args = ["--vendor-key", os.path.join(keys_dir, "vendor.pub"),
                "--job-key", os.path.join(keys_dir, "service.pub"), "--firmware-write-ms", "200"]
    sim = harness.Sim(env, [child], DEVICES, prefix="FC-", extra=sim_args + [
        "--firmware-check-interval-s", "2"], long_poll_wait_s=20)
    other = harness.Sim(env, [untrusting], 1, name="mfp-sim-2", prefix="FU-", extra=sim_args,
                        long_poll_wait_s=20)
    serials = sim.serials()
    for s in serials + other.serials():
        root.register(s)
    sim.start()
    other.start()
    child.wait_enrolled(serials, 30)
    untrusting.wait_enrolled(other.serials(), 30)
    root.wait_enrolled(serials + other.serials(), 30)

    before_sent = sent_bytes(root)
    v2 = env.push_random_firmware(root, keys_dir, IMAGE_BYTES, "2.0.0")
    check(v2 not in blob_bytes(child), "the child holds the image before anything asked for it")

    # ---- the update check at the child offers what the root holds ----
    def offered():
        hist = child.ok_json("GET", f"/v1/devices/{serials[0]}/firmware-history?limit=50")
        for h in hist["history"]:
            if h["event"] == "checked":
                offers = h["detail"].get("offers", [])
                if any(o.get("artifact") == v2 and o.get("version") == "2.0.0" for o in offers):
                    return True
        return False
    wait_until(offered, 60, "a device's update check at the child to be offered the root's image")

    # ---- one job per device behind the child, created at the root ----
    jobs = [firmware_job(env, root, s, v2, keys_env) for s in serials]
    wait_ended(root, jobs)
    for s, j in zip(serials, jobs):
        state = root.job(j)["job"]["state"]
        check(state == "succeeded", f"{s}: firmware job through the child {state}: {causes(root, j)}")
        # status.json is rewritten after the boot report: wait for it, not for a time.
        wait_until(lambda: ((sim.status(s) or {}).get("firmware") or {}).get("main") == "2.0.0",
                   30, f"{s} to show 2.0.0 in its status")
    crossed = sent_bytes(root) - before_sent
    check(crossed == IMAGE_BYTES,
          f"the root sent {crossed} artifact bytes for {DEVICES} devices behind one child; the image "
          f"has {IMAGE_BYTES}: it must cross once")
    cm = child.metrics()
    check(metric_value(cm, "printrelay_artifact_fetches_total", {"result": "stored"}) == 1,
          "the child must have fetched the image once")
    check(sent_bytes(child) >= DEVICES * IMAGE_BYTES,
          f"the child served {sent_bytes(child)} bytes to {DEVICES} devices")
    check(v2 in blob_bytes(child), "the child keeps the image it fetched")
    print(f"{DEVICES} devices updated behind child-1; {crossed} bytes crossed root -> child")

    # The child measured the LAN rate to each device on its download and reported it upward.
    def lan_rates():
        r = root.get("/v1/relays/child-1/rates")
        if r.status != 200:
            return None
        got = {d["serial"]: d for d in r.json["devices"]}
        return got if set(serials) <= set(got) else None
    got = wait_until(lan_rates, 90, "child-1's LAN rates for every device to reach the root")
    check(all(got[s]["bytes"] == IMAGE_BYTES and got[s]["bytes_per_s"] > 0 for s in serials),
          f"LAN rates at the root: {got}")

    # ---- the bounded cache: v3 comes, v2 (no open job needs it) goes ----
    v3 = env.push_random_firmware(root, keys_dir, IMAGE_BYTES, "3.0.0")
    jobs3 = [firmware_job(env, root, s, v3, keys_env) for s in serials]
    wait_until(lambda: v3 in blob_bytes(child), 60, "the child to fetch the second image")
    wait_until(lambda: v2 not in blob_bytes(child), 30,
               "the first image, which no open job needs, to leave the 4 MiB cache")
    check(metric_value(child.metrics(), "printrelay_artifact_cache_evictions_total") == 1,
          "one eviction")
    wait_ended(root, jobs3)
    for s, j in zip(serials, jobs3):
        check(root.job(j)["job"]["state"] == "succeeded", f"{s}: second update {causes(root, j)}")

    # ---- a child that does not trust the signing key takes nothing ----
    sent_before = sent_bytes(root)
    j = firmware_job(env, root, other.serials()[0], v2, keys_env)
    wait_ended(root, [j], timeout=90)
    detail = root.job(j)
    check(detail["job"]["state"] == "failed", f"job behind the untrusting child: {detail['job']}")
    log = untrusting.proc.log_text()
    check("which this relay does not trust" in log,
          f"the child must say why it refused the image: {log[-2000:]}")
    check(v2 not in blob_bytes(untrusting), "the untrusting child stored the image")
    check(sent_bytes(root) == sent_before, "the root sent image bytes to a child that refused them")


if __name__ == "__main__":
    harness.run(test)
