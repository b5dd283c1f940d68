#!/usr/bin/env python3
"""A relay tree (seed 001 Fig. 7-8): a root and two child relays, simulated devices under the
children. Devices are registered at the root only; the children learn them from the root's
directory.

- A collect job posted at the root reaches a device under child-1 and its result comes back;
  the job's managing relay and transitions record the hop. A long-poll on both hops delivers it
  although every regular poll and sync interval is far longer than the test.
- An alert raised under a child reaches `relayctl watch` at the root.
- child-1 is killed with -9 in the middle of a report burst: its devices move to child-2 (the
  next URL in their list), and when child-1 comes back it sends up what it had acknowledged.
  At the root, every report any device holds a receipt for is stored exactly once, and nothing
  else is stored."""

import collections
import os

import harness
from harness import check, metric_value, wait_until

DEVICES = 4
BURST = 150
SLOW = "3600"  # regular polls and syncs this far apart cannot deliver anything during the test


def receipt_ids(sim, serial):
    return {r["report_id"] for r in sim.receipts(serial)}


def test(env):
    root = env.relay("root")
    root.start("--device-rate", "0", "--relay-id", "root-1", "--poll-interval-s", SLOW)
    children = []
    for cid in ("child-1", "child-2"):
        token_file = os.path.join(env.tmp, f"{cid}.token")
        rc, out, err = env.relayctl(root, "relays", "add", cid, "--token-file", token_file, "--all-customers")
        check(rc == 0 and os.path.exists(token_file), f"relayctl relays add {cid}: {rc} {out}{err}")
        child = env.relay(cid)
        child.share_pki_of(root)  # one service-center CA, so devices trust every relay
        child.start("--device-rate", "0", "--relay-id", cid, "--poll-interval-s", SLOW,
                    "--upstream", root.url, "--upstream-token-file", token_file,
                    "--upstream-ca", root.ca_file, "--sync-interval-s", SLOW)
        children.append(child)
    c1, c2 = children

    # A relay credential opens the sync API only.
    with open(os.path.join(env.tmp, "child-1.token")) as f:
        relay_token = f.read().strip()
    r = root.get("/v1/devices", token=relay_token)
    check(r.status == 403, f"a relay credential on the admin API: {r!r}")

    sim = harness.Sim(env, [c1, c2, root], DEVICES, poll_interval_s=3600, long_poll_wait_s=20)
    serials = sim.serials()
    for s in serials:
        root.register(s)
    for child in children:
        wait_until(lambda: set(serials) <= {x["serial"] for x in
                                            child.ok_json("GET", "/v1/registrations")["registrations"]},
                   15, f"{child.name} to receive the registrations from the root")
    sim.start()
    c1.wait_enrolled(serials, timeout=30)
    # The enrolments go up: the root knows the devices, and child-2 their credentials.
    root.wait_enrolled(serials, timeout=30)
    c2.wait_enrolled(serials, timeout=30)
    sim.wait_status()

    # ---- a job posted at the root runs under child-1 and its result comes back ----
    target = serials[0]
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 30, "the power-on reports")
    relays = {x["id"]: x for x in root.ok_json("GET", "/v1/relays")["relays"]}
    check(set(relays) == {"child-1", "child-2"}, f"relays at the root: {relays}")
    check(relays["child-1"].get("last_sync") and relays["child-1"].get("devices") == DEVICES,
          f"child-1 as the root sees it: {relays['child-1']}")
    job = env.relayctl_json(root, "jobs", "create", "collect", "--serial", target, "--data-sets",
                            "counters,supplies")
    rc, out, err = env.relayctl(root, "jobs", "wait", job["id"], "--timeout-s", "60")
    check(rc == 0, f"the collect job posted at the root did not succeed: {out}{err}")
    detail = root.job(job["id"])
    check(detail["job"]["managing_relay"] == "root-1 > child-1",
          f"managing relay at the root: {detail['job']['managing_relay']}")
    causes = [t["cause"] for t in detail["transitions"]]
    check(any("handed to child relay child-1" in c for c in causes), f"transitions: {causes}")
    states = [t["to"] for t in detail["transitions"]]
    check(states[-1] == "succeeded" and "running" in states, f"states at the root: {states}")
    at_child = c1.job(job["id"])
    check(at_child["job"]["state"] == "succeeded", f"the job at child-1: {at_child['job']}")
    check(any("received from parent relay" in t["cause"] for t in at_child["transitions"]),
          f"child-1 transitions: {at_child['transitions']}")
    got = [r for r in root.all_reports(target) if r.get("job_id") == job["id"]]
    check({r["kind"] for r in got} >= {"counters", "supplies"},
          f"the job's reports at the root: {[r['kind'] for r in got]}")

    # ---- an alert under a child reaches the root's event stream ----
    watcher = env.relayctl_spawn(root, "watch", "watch", "--kinds", "alert")
    wait_until(lambda: (metric_value(root.metrics(), "printrelay_sse_clients") or 0) >= 1, 20,
               "relayctl watch to connect to the root")
    sim.control(serials[1], {"action": "fault", "code": "SC542", "sc_type": "A"})
    wait_until(lambda: "SC542" in watcher.log_text(), 15,
               "the fatal alert raised under child-1 to reach relayctl watch at the root")

    # ---- child-1 dies under load; devices move; it catches up when it returns ----
    baseline = sum(len(sim.receipts(s)) for s in serials)
    for s in serials:
        sim.control(s, {"action": "burst", "count": BURST})
    wait_until(lambda: sum(len(sim.receipts(s)) for s in serials) >= baseline + 100, 30,
               "the first burst receipts", interval=0.005)
    c1.kill9()
    print(f"child-1 killed after {sum(len(sim.receipts(s)) for s in serials) - baseline} "
          f"of {DEVICES * BURST} burst receipts")
    wait_until(lambda: all(sim.relay_url(s) == c2.url for s in serials), 60,
               "every device to move to child-2")
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 120,
               "every outbox to drain into child-2")
    c1.restart()
    waiting = [l for l in c1.proc.log_text().splitlines() if "waiting to go up" in l]
    print(f"child-1 restarted: {waiting[-1] if waiting else '?'}")
    wait_until(lambda: metric_value(c1.metrics(), "printrelay_upstream_backlog") == 0, 60,
               "child-1 to send up what it held")
    wait_until(lambda: metric_value(c2.metrics(), "printrelay_upstream_backlog") == 0, 60,
               "child-2 to send up what it held")
    rc = sim.proc.stop(timeout=20)
    check(rc == 0, f"mfp-sim exited {rc} on SIGTERM")

    for s in serials:
        stored = root.all_reports(s)
        ids = [r["id"] for r in stored]
        dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
        check(not dupes, f"{s}: stored at the root more than once: {dupes[:10]}")
        acknowledged = receipt_ids(sim, s)
        missing = sorted(acknowledged - set(ids))
        check(not missing, f"{s}: {len(missing)} reports acknowledged by a relay are missing at "
                           f"the root: {missing[:10]}")
        unknown = sorted(set(ids) - acknowledged)
        check(not unknown, f"{s}: the root stores {len(unknown)} reports no relay acknowledged: "
                           f"{unknown[:10]}")
        counters = sum(1 for r in stored if r["kind"] == "counters")
        check(counters >= BURST, f"{s}: only {counters} counters reports at the root")
        print(f"{s}: {len(stored)} reports at the root, each once")


if __name__ == "__main__":
    harness.run(test)
