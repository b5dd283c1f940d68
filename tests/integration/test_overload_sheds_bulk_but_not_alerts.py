#!/usr/bin/env python3
"""A relay under more bulk uploads than it admits answers 429 with Retry-After, the agents back
off and come back, and nothing is lost or stored twice; a fatal alert sent during the overload
is admitted at once (alerts go ahead of bulk uploads)."""

import collections

import harness
from harness import check, metric_value, wait_until

DEVICES = 10
BURST = 500


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0", "--max-bulk-inflight", "1", "--threads", "2",
                "--retry-after-s", "1")
    sim = harness.start_fleet(env, relay, DEVICES)
    serials = sim.serials()
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 30, "the power-on reports")

    for s in serials[:-1]:
        sim.control(s, {"action": "burst", "count": BURST})
    # The overload has begun once the relay has shed its first upload.
    wait_until(lambda: (metric_value(relay.metrics(), "printrelay_http_requests_total",
                                     {"route": "/v1/device/reports", "status": "429"}) or 0) > 0,
               60, "the relay to shed a bulk upload with 429", interval=0.02)
    alerting = serials[-1]
    sim.control(alerting, {"action": "fault", "code": "SC544", "sc_type": "A"})
    wait_until(lambda: any(a.get("code") == "SC544"
                           for a in relay.ok_json("GET", f"/v1/alerts?serial={alerting}")["alerts"]),
               10, "the fatal alert to be admitted during the overload")
    still_pending = sum(sim.outbox_size(s) or 0 for s in serials[:-1])
    print(f"alert stored while {still_pending} bulk reports were still waiting in outboxes")

    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 120,
               "every outbox to drain after the overload")
    rc = sim.proc.stop(timeout=20)
    check(rc == 0, f"mfp-sim exited {rc} on SIGTERM")
    shed = metric_value(relay.metrics(), "printrelay_http_requests_total",
                        {"route": "/v1/device/reports", "status": "429"})
    print(f"the relay answered 429 to {int(shed)} uploads")

    for s in serials:
        stored = relay.all_reports(s)
        ids = [r["id"] for r in stored]
        dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
        check(not dupes, f"{s}: reports stored more than once: {dupes[:10]}")
        receipt_ids = {r["report_id"] for r in sim.receipts(s)}
        check(receipt_ids == set(ids),
              f"{s}: {len(receipt_ids ^ set(ids))} reports differ between receipts and the relay")
        if s != alerting:
            counters = sum(1 for r in stored if r["kind"] == "counters")
            check(counters >= BURST, f"{s}: only {counters} counters reports after a burst of {BURST}")


if __name__ == "__main__":
    harness.run(test)
