#!/usr/bin/env python3
"""/healthz answers the store and schema; /metrics is Prometheus text whose request counter
counts exactly the requests made per route and status."""

import harness
from harness import check, metric_value


def test(env):
    relay = env.relay()
    relay.start()

    h = relay.get("/healthz", token=None)
    check(h.status == 200, f"/healthz: {h!r}")
    check(h.headers.get("Content-Type", "").startswith("application/json"), f"/healthz type: {h.headers}")
    j = h.json
    check(isinstance(j, dict) and j.get("status") == "ok" and j.get("store") == "sqlite",
          f"/healthz body: {h.raw!r}")
    check(isinstance(j.get("schema_version"), int) and j["schema_version"] >= 1,
          f"/healthz schema_version: {h.raw!r}")

    relay.register("SIM-0001")
    token = relay.enroll("SIM-0001")
    route = {"route": "/v1/device/poll", "status": "200"}
    before = metric_value(relay.metrics(), "printrelay_http_requests_total", route) or 0
    polls = 4
    for _ in range(polls):
        a = relay.post("/v1/device/poll", {"state": "idle"}, token=token)
        check(a.status == 200, f"poll: {a!r}")
    text = relay.metrics()
    after = metric_value(text, "printrelay_http_requests_total", route)
    check(after is not None, "printrelay_http_requests_total has no sample for "
                             f"route=/v1/device/poll status=200:\n{text}")
    check(after - before == polls, f"{polls} polls counted as {after - before}")
    check("# TYPE printrelay_http_requests_total counter" in text, "the counter has no TYPE line")
    check(metric_value(text, "printrelay_http_request_duration_seconds_count",
                       {"route": "/v1/device/poll"}) is not None,
          "printrelay_http_request_duration_seconds has no histogram for the poll route")

    # A refused request is counted under its status.
    a = relay.get("/v1/jobs", token=None)
    check(a.status == 401, f"no token: {a!r}")
    text = relay.metrics()
    check((metric_value(text, "printrelay_http_requests_total", {"status": "401"}) or 0) >= 1,
          "the 401 is not counted in printrelay_http_requests_total")
    check(metric_value(text, "printrelay_devices_seen") is not None, "printrelay_devices_seen missing")
    for name in ("printrelay_long_polls_waiting", "printrelay_sse_clients"):
        check(metric_value(text, name) is not None, f"{name} missing from /metrics")

    # Stored reports are counted once: a retransmitted batch (duplicates) adds nothing.
    stored_before = metric_value(text, "printrelay_reports_stored_total")
    check(stored_before is not None, "printrelay_reports_stored_total missing from /metrics")
    batch = {"reports": [{"id": f"r-m-{i}", "kind": "counters", "created_at": "2026-11-23T09:15:00.000Z",
                          "body": {"total": i}} for i in range(3)]}
    for _ in range(2):
        a = relay.post("/v1/device/reports", batch, token=token)
        check(a.status == 200, f"reports: {a!r}")
    stored_after = metric_value(relay.metrics(), "printrelay_reports_stored_total")
    check(stored_after - stored_before == 3,
          f"3 reports sent twice counted as {stored_after - stored_before} stored")

    # printrelay_open_jobs (docs/protocol.md) follows the jobs that are not finished.
    relay.ok_json("POST", "/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                        "params": {"data_sets": ["counters"]}})
    open_jobs = metric_value(relay.metrics(), "printrelay_open_jobs")
    check(open_jobs == 1, f"printrelay_open_jobs after creating one job: {open_jobs} (protocol.md "
                          "lists this gauge)")


if __name__ == "__main__":
    harness.run(test)
