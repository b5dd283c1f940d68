#!/usr/bin/env python3
"""An interrupted WAN transfer continues; it does not start over (seed 004: the intermediary
takes the image from the service center once).

In a network namespace of its own, what the root relay sends is shaped with tc to 32 Mbit/s (a
WAN link). A firmware job for the device behind child-1 makes the child fetch a 16 MiB image from
the root. Half way, child-1 is killed with -9. Restarted, it resumes the transfer for the open
job from the bytes it kept (its log says from where: exactly what was on disk), the job succeeds
with the device running the new version, and the root sent less than the image plus what the
child had kept: a transfer that started over would have sent at least that.

The child measured the WAN rate on the resumed half (within the shaped rate, less headers) and
the LAN rate to the device on its download, and reported both with its sync: the root shows them
(`GET /v1/relays/child-1/rates`, the relay list, `relayctl relays rates`)."""

import os
import re

import harness
from harness import check, metric_value, wait_until

IMAGE_BYTES = 16 * 1024 * 1024
WAN_KBIT = 32000  # 4 MB/s: the whole image in about 4 s


def sent_bytes(relay):
    return metric_value(relay.metrics(), "printrelay_artifact_bytes_sent_total") or 0


def test(env):
    root = env.relay("root")
    root.start("--device-rate", "0", "--relay-id", "root-1")
    harness.shape_loopback(root.port, WAN_KBIT)
    keys_dir, keys_env = env.signing_keys(root, "vendor", "service")
    trust = os.path.join(keys_dir, "vendor.pub")
    child = env.child_relay(root, "child-1", "--trust-key", trust)
    sim = harness.Sim(env, [child], 1, prefix="FR-", long_poll_wait_s=20, extra=[
        "--vendor-key", trust, "--job-key", os.path.join(keys_dir, "service.pub"),
        "--firmware-write-ms", "200"])
    serial = sim.serials()[0]
    root.register(serial)
    sim.start()
    child.wait_enrolled([serial], 30)
    root.wait_enrolled([serial], 30)

    sha = env.push_random_firmware(root, keys_dir, IMAGE_BYTES, "2.0.0")
    before = sent_bytes(root)
    printed = env.relayctl_ok(root, "jobs", "create", "firmware", "--serial", serial,
                              "--sign-key", "service", "--artifact", sha, env=keys_env)
    job_id = printed.splitlines()[0].strip()

    # A device asking meanwhile is told the image is on its way, with the progress.
    r = child.get(f"/v1/artifacts/{sha}")
    retry_after = {k.lower(): v for k, v in r.headers.items()}.get("retry-after")
    check(r.status == 503 and "from the parent relay" in r.raw and retry_after,
          f"an artifact on its way, asked at the child: {r!r}")

    part = os.path.join(child.data_dir, "artifacts", f".tmp-fetch-{sha}")

    def half_there():
        return os.path.exists(part) and os.path.getsize(part) >= IMAGE_BYTES // 2
    wait_until(half_there, 60, "half of the image to reach the child", interval=0.01)
    child.kill9()
    kept = os.path.getsize(part)
    check(kept < IMAGE_BYTES, f"the child had the whole image ({kept} bytes) before it was killed")
    print(f"child-1 killed with {kept} of {IMAGE_BYTES} bytes on disk")

    child.restart()
    wait_until(lambda: os.path.exists(os.path.join(child.data_dir, "artifacts", sha)), 60,
               "the restarted child to finish the transfer")
    m = re.search(r"resuming the transfer from the parent at (\d+) of (\d+) bytes",
                  child.proc.log_text())
    check(m and int(m.group(1)) == kept and int(m.group(2)) == IMAGE_BYTES,
          f"the child must resume at the {kept} bytes it kept: {child.proc.log_text()[-1500:]}")
    wait_until(lambda: root.job(job_id)["job"]["state"] in ("succeeded", "failed"), 90,
               f"firmware job {job_id} to end")
    check(root.job(job_id)["job"]["state"] == "succeeded", f"the job: {root.job(job_id)}")
    wait_until(lambda: ((sim.status(serial) or {}).get("firmware") or {}).get("main") == "2.0.0",
               30, f"{serial} to show 2.0.0 in its status")
    sent = sent_bytes(root) - before
    check(sent < IMAGE_BYTES + kept,
          f"the root sent {sent} bytes for a {IMAGE_BYTES}-byte image: the transfer started over")
    cm = child.metrics()
    check(metric_value(cm, "printrelay_artifact_fetch_resumed_total") == 1, "one resumed fetch")
    print(f"the root sent {sent} bytes for a {IMAGE_BYTES}-byte image "
          f"({sent - IMAGE_BYTES} in flight when the child was killed)")

    # ---- the measured rates reach the root (seed 004 claim 5) ----
    def reported():
        r = root.get("/v1/relays/child-1/rates")
        if r.status != 200:
            return None
        rates = r.json
        return rates if rates.get("wan") and any(
            d["serial"] == serial for d in rates.get("devices", [])) else None
    rates = wait_until(reported, 60, "child-1's measured WAN and LAN rates to reach the root")
    wan = rates["wan"]["bytes_per_s"]
    shaped = WAN_KBIT * 1000 // 8
    # The resumed half crossed the shaped link: its rate is the link's, less TCP/IP headers.
    check(0.5 * shaped <= wan <= 1.05 * shaped,
          f"the WAN rate measured by child-1 is {wan} B/s; the link is shaped to {shaped} B/s")
    lan = next(d for d in rates["devices"] if d["serial"] == serial)
    check(lan["bytes"] == IMAGE_BYTES and lan["bytes_per_s"] > 0,
          f"the LAN rate to {serial} must come from its download of the image: {lan}")
    listed = {r["id"]: r for r in root.ok_json("GET", "/v1/relays")["relays"]}
    check(listed["child-1"].get("wan_bytes_per_s") == wan, f"the relay list: {listed['child-1']}")
    shown = env.relayctl_ok(root, "relays", "rates", "child-1")
    check("WAN (from its parent)" in shown and serial in shown, f"relayctl relays rates: {shown}")
    as_json = env.relayctl_json(root, "relays", "rates", "child-1")
    check(as_json["wan"]["bytes_per_s"] == wan, f"relayctl relays rates --json: {as_json}")
    print(f"measured: WAN {wan} B/s (shaped to {shaped}), LAN to {serial} {lan['bytes_per_s']} B/s")


if __name__ == "__main__":
    harness.run_in_own_network(test)
