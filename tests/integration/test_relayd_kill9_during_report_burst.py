#!/usr/bin/env python3
"""relayd killed -9 in the middle of a report burst loses and duplicates nothing: after it is
restarted on the same data dir and port and every device's outbox has drained, every report a
device holds a receipt for is stored exactly once, with the same reception number and SHA-256
as its receipt, and the relay stores nothing the devices do not know it received."""

import collections

import harness
from harness import check, wait_until

DEVICES = 5
BURST = 300


def receipt_total(sim):
    return sum(len(sim.receipts(s)) for s in sim.serials())


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    sim = harness.start_fleet(env, relay, DEVICES)
    serials = sim.serials()
    # The power-on reports are in before the burst, so the kill lands in the burst.
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 30, "the power-on reports")
    baseline = receipt_total(sim)

    for s in serials:
        sim.control(s, {"action": "burst", "count": BURST})
    # Kill as soon as some of the burst is acknowledged (and long before all of it is).
    wait_until(lambda: receipt_total(sim) >= baseline + 200, 30, "the first burst receipts", interval=0.005)
    relay.kill9()
    at_kill = receipt_total(sim) - baseline
    print(f"relayd killed after {at_kill} of {DEVICES * BURST} burst receipts")
    # Proof the kill was mid-burst: reports are still waiting in the outboxes.
    pending = wait_until(lambda: sum(sim.outbox_size(s) or 0 for s in serials), 10,
                         "the outboxes to show the reports the dead relay did not acknowledge")
    check(pending > 0, "the burst had finished before the kill")
    print(f"{pending} reports waiting in the outboxes while relayd is down")

    relay.restart()
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 90,
               "every outbox to drain into the restarted relay")
    # Stop the devices so nothing is in flight while the two sides are compared.
    rc = sim.proc.stop(timeout=20)
    check(rc == 0, f"mfp-sim exited {rc} on SIGTERM")

    for s in serials:
        receipts = sim.receipts(s)
        stored = relay.all_reports(s)
        ids = [r["id"] for r in stored]
        dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
        check(not dupes, f"{s}: reports stored more than once: {dupes[:10]}")
        by_id = {r["id"]: r for r in stored}
        receipt_ids = {r["report_id"] for r in receipts}
        missing = sorted(receipt_ids - by_id.keys())
        check(not missing, f"{s}: {len(missing)} acknowledged reports are not in the relay: {missing[:10]}")
        unknown = sorted(by_id.keys() - receipt_ids)
        check(not unknown, f"{s}: the relay stores {len(unknown)} reports the device holds no receipt "
                           f"for: {unknown[:10]}")
        for r in receipts:
            row = by_id[r["report_id"]]
            check(r["sha256"] == row["sha256"], f"{s}: receipt hash differs from the stored report: {r} {row['sha256']}")
            check(str(r["reception_no"]) == str(row["reception_no"]),
                  f"{s}: receipt reception_no {r['reception_no']} but stored as {row['reception_no']}")
        counters = sum(1 for r in stored if r["kind"] == "counters")
        check(counters >= BURST, f"{s}: only {counters} counters reports stored after a burst of {BURST}")
        check(len(stored) == len(receipt_ids),
              f"{s}: {len(stored)} stored vs {len(receipt_ids)} distinct acknowledged reports")
        dup_receipts = sum(1 for r in receipts if r.get("duplicate"))
        print(f"{s}: {len(stored)} stored, {counters} counters, {dup_receipts} retransmissions answered "
              f"as duplicates")

    # The relay's own count agrees (device detail reports_stored).
    for s in serials:
        d = relay.ok_json("GET", f"/v1/devices/{s}")
        check(d.get("reports_stored") == len(relay.all_reports(s)),
              f"{s}: reports_stored {d.get('reports_stored')} disagrees with the report list")


if __name__ == "__main__":
    harness.run(test)
