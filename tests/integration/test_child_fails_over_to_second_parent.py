#!/usr/bin/env python3
"""A child relay fails over to its second parent (seed 001 claim 32). Two root nodes A and B
share one PostgreSQL database; the child relay's credential is made once, at A, and B knows it
through the shared store. The child is started with `--upstream A --upstream B`; simulated
devices poll the child only and are registered at A.

- A collect job posted at A reaches a device under the child (long-polls on both hops: every
  regular poll and sync interval is far longer than the test) and succeeds.
- A is killed with -9 in the middle of a report burst: the child says "upstream now <B>", and B
  lists child-1 with a sync made after the kill (B had never seen it sync before).
- A job posted at B reaches a device under the child and succeeds; the child records B as the
  parent it came from.
- When every outbox (the devices' and the child's upstream outbox) is empty, every report any
  device holds a receipt for is in the shared database exactly once, and nothing else is."""

import collections
import datetime
import os
import time

import harness
from harness import check, metric_value, wait_until

DEVICES = 4
BURST = 300
SLOW = "3600"  # regular polls and syncs this far apart cannot deliver anything during the test


def receipt_ids(sim, serial):
    return {r["report_id"] for r in sim.receipts(serial)}


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def relays_at(node):
    return {x["id"]: x for x in node.ok_json("GET", "/v1/relays")["relays"]}


def run_job(env, node, serial, data_sets):
    """Posts a collect job at `node`, waits for it to succeed there; returns its detail."""
    job = env.relayctl_json(node, "jobs", "create", "collect", "--serial", serial, "--data-sets",
                            data_sets)
    rc, out, err = env.relayctl(node, "jobs", "wait", job["id"], "--timeout-s", "60", timeout=90)
    check(rc == 0, f"the collect job posted at {node.name} did not succeed: {out}{err}\n"
                   f"{node.job(job['id'])}")
    detail = node.job(job["id"])
    states = [t["to"] for t in detail["transitions"]]
    check(states[-1] == "succeeded" and "running" in states,
          f"states of the job at {node.name}: {states}")
    causes = [t["cause"] for t in detail["transitions"]]
    check(any("handed to child relay child-1" in c for c in causes),
          f"transitions at {node.name}: {causes}")
    return detail


def test(env):
    conninfo = env.postgres()
    a = env.relay("root-a", postgres=conninfo)
    b = env.relay("root-b", postgres=conninfo, admin_name="admin-b")
    b.share_pki_of(a)
    for node in (a, b):
        node.start("--device-rate", "0", "--relay-id", node.name, "--poll-interval-s", SLOW)

    # The child's credential is made once, at A; B knows it through the shared store.
    token_file = os.path.join(env.tmp, "child-1.token")
    rc, out, err = env.relayctl(a, "relays", "add", "child-1", "--token-file", token_file, "--all-customers")
    check(rc == 0 and os.path.exists(token_file), f"relayctl relays add child-1: {rc} {out}{err}")
    at_b = relays_at(b)
    check(set(at_b) == {"child-1"} and at_b["child-1"].get("last_sync") is None,
          f"node B must know child-1 from the shared store, never synced: {at_b}")

    child = env.relay("child-1")
    child.share_pki_of(a)  # one service-center CA
    child.start("--device-rate", "0", "--relay-id", "child-1", "--poll-interval-s", SLOW,
                "--upstream", a.url, "--upstream", b.url, "--upstream-token-file", token_file,
                "--upstream-ca", a.ca_file, "--sync-interval-s", SLOW)

    sim = harness.Sim(env, [child], DEVICES, poll_interval_s=3600, long_poll_wait_s=20)
    serials = sim.serials()
    for s in serials:
        a.register(s)
    wait_until(lambda: set(serials) <= {x["serial"] for x in
                                        child.ok_json("GET", "/v1/registrations")["registrations"]},
               15, "the child to receive the registrations from A")
    sim.start()
    child.wait_enrolled(serials, timeout=30)
    a.wait_enrolled(serials, timeout=30)  # the enrolments went up to the shared store
    b.wait_enrolled(serials, timeout=30)
    sim.wait_status()
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 30, "the power-on reports")
    wait_until(lambda: metric_value(child.metrics(), "printrelay_upstream_backlog") == 0, 30,
               "the child to send the power-on reports up to A")

    # ---- 1. a job posted at A runs under the child ----
    at_a = relays_at(a)
    check(at_a["child-1"].get("last_sync") and at_a["child-1"].get("devices") == DEVICES,
          f"child-1 as A sees it: {at_a['child-1']}")
    check(relays_at(b)["child-1"].get("last_sync") is None,
          f"child-1 synced with B while A was up: {relays_at(b)['child-1']}")
    target = serials[0]
    detail = run_job(env, a, target, "counters,supplies")
    job_a = detail["job"]["id"]
    check(detail["job"]["managing_relay"] == "root-a > child-1",
          f"managing relay at A: {detail['job']['managing_relay']}")
    at_child = child.job(job_a)
    check(at_child["job"]["state"] == "succeeded", f"the job at the child: {at_child['job']}")
    check(any(t["cause"] == f"received from parent relay {a.url}" for t in at_child["transitions"]),
          f"child transitions of A's job: {at_child['transitions']}")
    check("upstream now" not in child.proc.log_text(),
          "the child changed parents while A was up:\n" + child.proc.log_text())

    # ---- 2. A dies -9 in the middle of a report burst ----
    baseline = sum(len(sim.receipts(s)) for s in serials)
    stored_before = len(a.reports(limit=1000))
    for s in serials:
        sim.control(s, {"action": "burst", "count": BURST})
    wait_until(lambda: sum(len(sim.receipts(s)) for s in serials) >= baseline + 100, 30,
               "the first burst receipts", interval=0.005)
    # A has stored part of the burst, forwarded by the child: it dies in the middle of the flow.
    wait_until(lambda: len(a.reports(limit=1000)) >= stored_before + 20, 30,
               "A to store the first burst reports forwarded by the child", interval=0.005)
    killed_at = time.time()
    a.kill9()
    sent = sum(len(sim.receipts(s)) for s in serials) - baseline
    print(f"A killed after {sent} of {DEVICES * BURST} burst receipts "
          f"(child backlog {metric_value(child.metrics(), 'printrelay_upstream_backlog')})")

    # ---- 3. the child moves to B ----
    wait_until(lambda: f"relayd: upstream now {b.url}" in child.proc.log_text(), 60,
               f"the child to say 'relayd: upstream now {b.url}'")

    def synced_with_b_after_kill():
        row = relays_at(b)["child-1"]
        return row if row.get("last_sync") and parse_time(row["last_sync"]) >= killed_at - 1 else None
    row = wait_until(synced_with_b_after_kill, 60, "B to list a sync of child-1 after A died")
    print(f"B lists child-1: {row}")

    # ---- 4. a job posted at B runs under the child ----
    target_b = serials[1]
    detail = run_job(env, b, target_b, "counters")
    job_b = detail["job"]["id"]
    check(detail["job"]["managing_relay"] == "root-b > child-1",
          f"managing relay at B: {detail['job']['managing_relay']}")
    at_child = child.job(job_b)
    check(at_child["job"]["state"] == "succeeded", f"B's job at the child: {at_child['job']}")
    check(any(t["cause"] == f"received from parent relay {b.url}" for t in at_child["transitions"]),
          f"child transitions of B's job: {at_child['transitions']}")
    check(b.job(job_a)["job"]["state"] == "succeeded",
          f"B does not see A's job succeeded: {b.job(job_a)['job']}")
    check(relays_at(b)["child-1"].get("devices") == DEVICES,
          f"child-1 as B sees it: {relays_at(b)['child-1']}")

    # ---- 5. every outbox drains; the shared store holds each acknowledged report once ----
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 120,
               "every device outbox to drain into the child")
    wait_until(lambda: metric_value(child.metrics(), "printrelay_upstream_backlog") == 0, 120,
               "the child to send up everything it holds")
    rc = sim.proc.stop(timeout=20)
    check(rc == 0, f"mfp-sim exited {rc} on SIGTERM")
    check(metric_value(child.metrics(), "printrelay_upstream_backlog") == 0,
          "the child's upstream outbox is not empty after the devices stopped")
    check(child.proc.alive() and b.proc.alive(), "the child or B died")

    for s in serials:
        stored = b.all_reports(s)
        ids = [r["id"] for r in stored]
        dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
        check(not dupes, f"{s}: stored more than once: {dupes[:10]}")
        acknowledged = receipt_ids(sim, s)
        missing = sorted(acknowledged - set(ids))
        check(not missing, f"{s}: {len(missing)} reports acknowledged by the child are missing "
                           f"from the shared store: {missing[:10]}")
        unknown = sorted(set(ids) - acknowledged)
        check(not unknown, f"{s}: the shared store holds {len(unknown)} reports no relay "
                           f"acknowledged: {unknown[:10]}")
        counters = sum(1 for r in stored if r["kind"] == "counters")
        check(counters >= BURST, f"{s}: only {counters} counters reports in the shared store")
        print(f"{s}: {len(stored)} reports in the shared store, each once")
    got = [r for r in b.all_reports(target_b) if r.get("job_id") == job_b]
    check({r["kind"] for r in got} >= {"counters"},
          f"B's job's reports in the shared store: {[r['kind'] for r in got]}")


if __name__ == "__main__":
    harness.run(test)
