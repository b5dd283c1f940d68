#!/usr/bin/env python3
"""A child relay's /metrics shows its link to the parent, for an alert on a child that stopped
syncing: printrelay_upstream_syncs_total{result="ok"|"failed"}, the items it sent up and
printrelay_upstream_last_sync_timestamp_seconds.

- While the parent answers, ok syncs count up, the last-sync time is recent, and a report posted
  at the child is counted as sent once the parent has it.
- With the parent stopped, failed syncs count up and the last-sync time stays where it was."""

import os
import time

import harness
from harness import check, metric_value, wait_until


def test(env):
    root = env.relay("root")
    root.start("--device-rate", "0", "--relay-id", "root-1")
    root.register("DEV-M")
    token_file = os.path.join(env.tmp, "child-m.token")
    env.relayctl_ok(root, "relays", "add", "child-m", "--token-file", token_file, "--all-customers")
    child = env.relay("child-m")
    child.share_pki_of(root)
    started = time.time()
    child.start("--device-rate", "0", "--relay-id", "child-m", "--upstream", root.url,
                "--upstream-token-file", token_file, "--upstream-ca", root.ca_file,
                "--no-upstream-long-poll", "--sync-interval-s", "1")

    def value(name, labels=None):
        return metric_value(child.metrics(), name, labels)

    wait_until(lambda: (value("printrelay_upstream_syncs_total", {"result": "ok"}) or 0) >= 2, 30,
               "two ok syncs counted at the child")
    last = value("printrelay_upstream_last_sync_timestamp_seconds")
    check(last is not None and last >= started - 1, f"the last sync is recent: {last} (start {started})")
    check(value("printrelay_upstream_syncs_total", {"result": "failed"}) == 0, "no failed sync yet")

    wait_until(lambda: "DEV-M" in {r["serial"] for r in
                                   child.ok_json("GET", "/v1/registrations")["registrations"]},
               20, "the child to receive the registration")
    token = child.enroll("DEV-M")
    sent_before = value("printrelay_upstream_items_sent_total")
    report = {"id": "r-metrics-1", "kind": "counters", "created_at": "2026-11-23T09:15:00.000Z",
              "urgency": "normal", "body": {"total": 100}}
    a = child.post("/v1/device/reports", {"reports": [report]}, token=token)
    check(a.status == 200, f"the child accepts the report: {a!r}")
    wait_until(lambda: any(r["id"] == "r-metrics-1" for r in root.reports("DEV-M")), 30,
               "the report to reach the parent")
    wait_until(lambda: value("printrelay_upstream_items_sent_total") > sent_before, 10,
               "the report counted as sent")
    check(value("printrelay_upstream_items_rejected_total") == 0, "the parent rejected nothing")

    root.stop()
    wait_until(lambda: (value("printrelay_upstream_syncs_total", {"result": "failed"}) or 0) >= 2,
               60, "failed syncs counted while the parent is down")
    stale = value("printrelay_upstream_last_sync_timestamp_seconds")
    wait_until(lambda: value("printrelay_upstream_syncs_total", {"result": "failed"}) >= 3, 60,
               "one more failed sync")
    check(value("printrelay_upstream_last_sync_timestamp_seconds") == stale,
          "the last-sync time stays while syncs fail")


if __name__ == "__main__":
    harness.run(test)
