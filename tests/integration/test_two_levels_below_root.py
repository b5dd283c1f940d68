#!/usr/bin/env python3
"""Firmware and relay-update jobs for devices and relays two levels below the root:
root-1 <- mid-1 <- leaf-1 <- two devices.

- Firmware jobs created at the root for both devices behind leaf-1 succeed (confirmed by the
  boot report). The image went down the tree once per hop: the root sent its bytes once (to
  mid-1), mid-1 sent them once (to leaf-1), and leaf-1 served both devices.
- A relay-update job created at the root for leaf-1 (a relay registered at the root, whose
  customers mid-1 serves too) goes down through mid-1, which fetches the build and keeps it;
  leaf-1 takes it from mid-1, verifies it, starts it and hands over; the root sees the job
  succeed with the new version."""

import os
import signal
import subprocess

import harness
from harness import check, metric_value, wait_until

IMAGE_BYTES = 2 * 1024 * 1024


def sent_bytes(relay):
    return metric_value(relay.metrics(), "printrelay_artifact_bytes_sent_total") or 0


def causes(relay, job_id):
    return " | ".join(t.get("cause", "") for t in relay.job(job_id)["transitions"])


def test(env):
    root = env.relay("root")
    root.start("--device-rate", "0", "--relay-id", "root-1")
    keys_dir, keys_env = env.signing_keys(root, "vendor", "service")
    trust = os.path.join(keys_dir, "vendor.pub")
    mid = env.child_relay(root, "mid-1", "--trust-key", trust)
    # leaf-1 is known at the root (a relay-update names it), though it syncs with mid-1.
    env.relayctl_ok(root, "relays", "add", "leaf-1", "--token-file",
                    os.path.join(env.tmp, "leaf-1-at-root.token"), "--all-customers")
    leaf = env.child_relay(mid, "leaf-1", "--trust-key", trust)

    sim = harness.Sim(env, [leaf], 2, prefix="TL-", long_poll_wait_s=20, extra=[
        "--vendor-key", trust, "--job-key", os.path.join(keys_dir, "service.pub"),
        "--firmware-write-ms", "200"])
    serials = sim.serials()
    for s in serials:
        root.register(s)
    wait_until(lambda: set(serials) <= {r["serial"] for r in
                                        leaf.ok_json("GET", "/v1/registrations")["registrations"]},
               30, "the registrations to reach leaf-1 through mid-1")
    sim.start()
    leaf.wait_enrolled(serials, 30)
    root.wait_enrolled(serials, 30)

    # ---- firmware two levels down ----
    sha = env.push_random_firmware(root, keys_dir, IMAGE_BYTES, "2.0.0")
    root_before, mid_before = sent_bytes(root), sent_bytes(mid)
    jobs = []
    for s in serials:
        printed = env.relayctl_ok(root, "jobs", "create", "firmware", "--serial", s, "--sign-key",
                                  "service", "--artifact", sha, env=keys_env)
        jobs.append(printed.splitlines()[0].strip())
    wait_until(lambda: all(root.job(j)["job"]["state"] in ("succeeded", "failed") for j in jobs),
               120, f"the firmware jobs {jobs} to end at the root")
    for s, j in zip(serials, jobs):
        d = root.job(j)
        check(d["job"]["state"] == "succeeded", f"{s} two levels down: {causes(root, j)}")
        check(d["job"]["managing_relay"] == "root-1 > mid-1",
              f"managing relay at the root: {d['job']['managing_relay']}")
        at_mid = mid.job(j)["job"]["managing_relay"]
        check(at_mid.endswith("> leaf-1"), f"managing relay at mid-1: {at_mid}")
        wait_until(lambda: ((sim.status(s) or {}).get("firmware") or {}).get("main") == "2.0.0",
                   30, f"{s} to show 2.0.0 in its status")
    check(sent_bytes(root) - root_before == IMAGE_BYTES,
          f"the root sent {sent_bytes(root) - root_before} bytes; the image has {IMAGE_BYTES}")
    check(sent_bytes(mid) - mid_before == IMAGE_BYTES,
          f"mid-1 sent {sent_bytes(mid) - mid_before} bytes; the image has {IMAGE_BYTES}")

    # ---- relay-update two levels down ----
    relayd = os.environ.get("PRINTRELAY_UPDATE_BUILD") or harness.binary("relayd")
    build = os.path.join(env.tmp, "relayd-0.3.0")
    r = subprocess.run(["strip", "--strip-debug", "-o", build, relayd], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, f"strip failed: {r.stderr}")
    with open(build, "ab") as f:
        f.write(b"\nprintrelay test build 0.3.0 for leaf-1\n")
    out = env.relayctl_json(root, "artifact", "push", build, "--kind", "relay", "--version",
                            "0.3.0", "--key", "vendor", "--dir", keys_dir)
    build_sha = out["artifact"]["sha256"]
    job = env.relayctl_json(root, "jobs", "create", "relay-update", "--relay", "leaf-1",
                            "--artifact", build_sha)
    wait_until(lambda: root.job(job["id"])["job"]["state"] in ("succeeded", "failed"), 120,
               f"relay-update {job['id']} for leaf-1 to end at the root")
    d = root.job(job["id"])
    check(d["job"]["state"] == "succeeded", f"relay-update two levels down: {causes(root, job['id'])}")
    check((d["job"].get("result") or {}).get("build") == build_sha[:16],
          f"the new build must report itself: {d['job'].get('result')}")
    ready = os.path.join(leaf.data_dir, "updates", f"ready-{job['id']}")
    with open(ready) as f:
        new_pid = int(f.read().strip())
    env.cleanups.append(lambda: os.kill(new_pid, signal.SIGKILL))
    check(os.path.exists(os.path.join(mid.data_dir, "artifacts", build_sha)),
          "mid-1 must keep the build it carried down")
    wait_until(lambda: f"build {build_sha[:16]}" in
               leaf.ok_json("GET", "/healthz", token=None)["version"], 30,
               "leaf-1 to serve with the new build")
    os.kill(new_pid, signal.SIGTERM)


if __name__ == "__main__":
    harness.run(test)
