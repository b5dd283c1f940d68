#!/usr/bin/env python3
"""Crash test of the firmware installer (issue 3): mfp-sim (the devices and their agents) is
killed with -9 at random points of download, verify, write and reboot, and started again.

Each round starts a firmware job on every device, staggered so that one kill catches devices in
different steps, kills the whole process at a random moment and restarts it. Every device-trial
checks that:
  - the device comes back on a slot that boots (its active slot is valid) and runs either the old
    version or, when its job succeeded, the new one;
  - a download cut by the kill resumes from the bytes already on disk: the next request for that
    image starts exactly at the size of the partial file the kill left (no byte fetched twice by
    the device's own choice);
  - the job ends succeeded, or failed with a reason, within a bounded time: never stuck.

PRINTRELAY_CRASH_ROUNDS (default 10) x 5 devices = device-trials (50 in CI); more outside CI.
"""

import json
import os
import random
import time

import harness
from harness import check, wait_until

DEVICES = 5
IMAGE_BYTES = 1_200_000
RATE = 250_000  # bytes/s per device: a download takes about 5 s


def push(env, relay, keys_dir, path, version):
    out = env.relayctl_json(relay, "artifact", "push", path, "--kind", "firmware", "--model",
                            harness.MODEL, "--component", "main", "--version", version,
                            "--key", "vendor", "--dir", keys_dir)
    return out.get("artifact", out)["sha256"]


def test(env):
    rounds = int(os.environ.get("PRINTRELAY_CRASH_ROUNDS", "10"))
    rng = random.Random(int(os.environ.get("PRINTRELAY_CRASH_SEED", "2026")))
    relay = env.relay().start()
    keys_dir = os.path.join(env.tmp, "keys")
    keys_env = {"PRINTRELAY_KEYS_DIR": keys_dir}
    for k in ("vendor", "service"):
        env.relayctl_ok(relay, "keys", "create", k, "--dir", keys_dir)
    serials = [f"CR-{i:04d}" for i in range(1, DEVICES + 1)]
    for s in serials:
        relay.register(s)
    sim = harness.Sim(env, relay, devices=DEVICES, prefix="CR-",
                      extra=["--vendor-key", os.path.join(keys_dir, "vendor.pub"),
                             "--job-key", os.path.join(keys_dir, "service.pub"),
                             "--firmware-write-ms", "800", "--download-rate", str(RATE)])
    sim.start()
    relay.wait_enrolled(serials)
    sim.wait_status()

    images = []
    for i, version in enumerate(("3.0.0", "3.0.1")):
        p = os.path.join(env.tmp, f"img{i}.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(IMAGE_BYTES))
        images.append((push(env, relay, keys_dir, p, version), version))

    phases_hit = {}
    trials = 0
    resumed_downloads = 0
    for rnd in range(rounds):
        sha, version = images[rnd % 2]
        jobs = {}
        for i, s in enumerate(serials):
            out = env.relayctl_ok(relay, "jobs", "create", "firmware", "--serial", s,
                                  "--artifact", sha, "--sign-key", "service",
                                  "--deferral-step-s", "1", env=keys_env)
            jobs[s] = out.splitlines()[0].strip()
        # Each relayctl call takes a moment, so the devices start a little apart; the kill lands
        # anywhere from early in the downloads to after the reboots.
        kill_at = time.monotonic() + rng.uniform(0.3, 9.0)
        time.sleep(max(0.0, kill_at - time.monotonic()))
        sim.proc.kill9()

        # What the kill left on disk, per device.
        partial = {}
        for s in serials:
            fw_dir = os.path.join(sim.state_dir, s, "firmware")
            phase = "none"
            try:
                with open(os.path.join(fw_dir, jobs[s] + ".json")) as f:
                    phase = json.load(f).get("phase", "none")
            except (OSError, ValueError):
                pass
            part = os.path.join(fw_dir, sha + ".part")
            if phase == "download" and os.path.exists(part) and os.path.getsize(part) > 0:
                partial[s] = os.path.getsize(part)
            if os.environ.get("PRINTRELAY_CRASH_DEBUG"):
                print(s, jobs[s], phase, relay.job(jobs[s])["job"]["state"], kill_at - time.monotonic(), os.listdir(fw_dir) if os.path.isdir(fw_dir) else None,
                      flush=True)
            phases_hit[phase] = phases_hit.get(phase, 0) + 1
            trials += 1
        # The image requests each device made so far: after the restart, a device whose partial
        # file is complete must fetch nothing more, and one with a partial file must continue at
        # its exact size.
        sent_before = {}
        for s in partial:
            hist = env.relayctl_json(relay, "firmware", "history", s, "--limit", "200")["history"]
            sent_before[s] = {h["id"] for h in hist if h["event"] == "sent"}
        sim.start()

        for s in serials:
            def over():
                j = relay.job(jobs[s])["job"]
                return j["state"] in ("succeeded", "failed", "cancelled", "expired") and j
            job = wait_until(over, 120, f"round {rnd}: job {jobs[s]} of {s} to end, never stuck")
            causes = " | ".join(t["cause"] for t in relay.job(jobs[s])["transitions"])
            check(job["state"] in ("succeeded", "failed"), f"{s}: {job['state']}: {causes}")
            if job["state"] == "failed":
                check(job["result"].get("reason"), f"{s}: a failed job says why: {causes}")

            def settled():
                st = sim.status(s) or {}
                return not st.get("rebooting") and st.get("slots") and st
            st = wait_until(settled, 30, f"{s} to settle after round {rnd}")
            for comp, c in st["slots"]["components"].items():
                active = c["active"]
                check(c["slots"][active]["valid"], f"{s}: {comp} active slot {active} is valid: {c}")
            running = st["firmware"]["main"]
            if job["state"] == "succeeded":
                check(running == version, f"{s}: succeeded job, device runs {running} not {version}")
            if s in partial:
                hist = env.relayctl_json(relay, "firmware", "history", s, "--limit", "200")["history"]
                after = sorted((h for h in hist if h["event"] == "sent" and h["id"] not in sent_before[s]),
                               key=lambda h: h["id"])
                froms = [h["detail"].get("from") for h in after]
                if partial[s] >= IMAGE_BYTES:
                    check(not after, f"{s}: the whole image was on disk at the kill (not yet "
                                     f"verified); nothing is fetched again, yet requests started at {froms}")
                else:
                    check(froms and froms[0] == partial[s],
                          f"{s}: after the kill the download resumed at {partial[s]} bytes "
                          f"(requests after the restart started at {froms})")
                resumed_downloads += 1
        print(f"round {rnd + 1}/{rounds}: phases at kill so far {phases_hit}", flush=True)

    check(trials >= rounds * DEVICES, "every device-trial counted")
    check(phases_hit.get("download", 0) > 0, f"some kills during a download: {phases_hit}")
    check(phases_hit.get("writing", 0) + phases_hit.get("rebooting", 0) + phases_hit.get("ready", 0) > 0,
          f"some kills after the download (verify/write/reboot): {phases_hit}")
    metrics = relay.metrics()
    sent = harness.metric_value(metrics, "printrelay_artifact_bytes_sent_total") or 0
    print(f"{trials} device-trials, phases at kill {phases_hit}, {resumed_downloads} downloads "
          f"resumed at the exact byte; relay sent {int(sent)} artifact bytes in all", flush=True)


if __name__ == "__main__":
    harness.run(test)
