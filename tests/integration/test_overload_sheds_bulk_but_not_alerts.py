#!/usr/bin/env python3
"""A relay that sheds bulk uploads answers 429 with Retry-After while still admitting a fatal
alert at once (alerts go ahead of bulk uploads); the agents keep the shed reports, back off, and
once the relay admits bulk again everything arrives exactly once.

The overload is made deterministic with --max-bulk-inflight 0 (every bulk upload is shed), then
the relay is restarted with room for bulk uploads."""

import collections

import harness
from harness import check, metric_value, wait_until

DEVICES = 6
BURST = 200


def shed_count(relay):
    return metric_value(relay.metrics(), "printrelay_http_requests_total",
                        {"route": "/v1/device/reports", "status": "429"}) or 0


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0", "--max-bulk-inflight", "0", "--retry-after-s", "1")
    sim = harness.start_fleet(env, relay, DEVICES)
    serials = sim.serials()
    bulk, alerting = serials[:-1], serials[-1]

    for s in bulk:
        sim.control(s, {"action": "burst", "count": BURST})
    wait_until(lambda: shed_count(relay) > 0, 30, "the relay to shed a bulk upload with 429")
    # What a shed upload looks like on the wire: 429, rate_limited, and a Retry-After.
    relay.register("PROBE-1")
    probe = relay.enroll("PROBE-1")
    shed = relay.post("/v1/device/reports", {"reports": [{
        "id": "probe-1", "kind": "counters", "created_at": "2026-11-23T09:00:00Z",
        "body": {"total": 1}}]}, token=probe)
    check(shed.status == 429 and shed.error_code == "rate_limited", f"bulk upload: {shed!r}")
    retry = {k.lower(): v for k, v in shed.headers.items()}.get("retry-after", "")
    check(retry.isdigit() and 1 <= int(retry) <= 2, f"Retry-After {retry!r} (want 1..2 s)")
    sim.control(alerting, {"action": "fault", "code": "SC544", "sc_type": "A"})
    wait_until(lambda: any(a.get("code") == "SC544"
                           for a in relay.ok_json("GET", f"/v1/alerts?serial={alerting}")["alerts"]),
               10, "the fatal alert to be admitted while bulk uploads are shed")
    for s in bulk:
        counters = [r for r in relay.all_reports(s) if r["kind"] == "counters"]
        check(not counters, f"{s}: bulk reports were stored although the relay sheds them all")
    pending = sum(sim.outbox_size(s) or 0 for s in bulk)
    check(pending >= len(bulk) * BURST,
          f"only {pending} reports wait in the outboxes; the shed burst should all be there")
    print(f"alert stored while {pending} shed reports waited; {int(shed_count(relay))} uploads shed")

    relay.stop()
    relay.start("--device-rate", "0", "--retry-after-s", "1")
    wait_until(lambda: all(sim.outbox_size(s) == 0 for s in serials), 120,
               "every outbox to drain once the relay admits bulk uploads again")
    rc = sim.proc.stop(timeout=20)
    check(rc == 0, f"mfp-sim exited {rc} on SIGTERM")

    for s in serials:
        stored = relay.all_reports(s)
        ids = [r["id"] for r in stored]
        dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
        check(not dupes, f"{s}: reports stored more than once: {dupes[:10]}")
        receipt_ids = {r["report_id"] for r in sim.receipts(s)}
        check(receipt_ids == set(ids),
              f"{s}: {len(receipt_ids ^ set(ids))} reports differ between receipts and the relay")
        if s in bulk:
            counters = sum(1 for r in stored if r["kind"] == "counters")
            check(counters >= BURST, f"{s}: only {counters} counters reports after a burst of {BURST}")


if __name__ == "__main__":
    harness.run(test)
