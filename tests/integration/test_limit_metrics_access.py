#!/usr/bin/env python3
"""/metrics is the operator's business: by default the API listener answers it 401 (with
WWW-Authenticate) without a credential and to a device credential, and 200 to a viewer's and the
admin's. With --metrics-listen 127.0.0.1:PORT a separate plain-HTTP listener serves GET /metrics
without a credential and 404 for anything else, while the API listener still wants a credential.
With --metrics-open the API listener serves /metrics to anyone."""

import http.client

import harness
from harness import check, free_port


def plain_request(port, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path)
        res = conn.getresponse()
        return harness.HttpAnswer(res.status, dict(res.getheaders()), res.read().decode())
    finally:
        conn.close()


def is_metrics(answer):
    return answer.status == 200 and "# TYPE printrelay_http_requests_total counter" in answer.raw


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    relay.register("SIM-0001")
    device = relay.enroll("SIM-0001")
    viewer = relay.credential("viewer-1", "viewer")

    for who, token in (("no credential", None), ("a device credential", device),
                       ("an unknown token", "at_nope")):
        a = relay.get("/metrics", token=token)
        check(a.status == 401 and a.error_code == "unauthorized"
              and a.headers.get("WWW-Authenticate") == "Bearer",
              f"/metrics with {who}: expected 401 with WWW-Authenticate, got {a!r} {a.headers}")
        check("printrelay_" not in a.raw, f"/metrics with {who} leaked metrics: {a!r}")
    for who, token in (("the viewer", viewer), ("the admin", "admin")):
        a = relay.get("/metrics", token=token)
        check(is_metrics(a), f"/metrics with {who}'s credential: {a!r}")

    port = free_port()
    relay.stop()
    relay.start("--device-rate", "0", "--metrics-listen", f"127.0.0.1:{port}")
    check(f"metrics on http://127.0.0.1:{port}/metrics" in relay.proc.log_text(),
          "relayd does not announce its metrics listener")
    a = plain_request(port, "GET", "/metrics")
    check(is_metrics(a), f"GET /metrics on the metrics listener without a credential: {a!r}")
    for method, path in (("GET", "/healthz"), ("GET", "/v1/jobs"), ("GET", "/"),
                         ("POST", "/metrics"), ("GET", "/metrics/x")):
        a = plain_request(port, method, path)
        check(a.status == 404 and a.error_code == "not_found",
              f"{method} {path} on the metrics listener: expected 404, got {a!r}")
    a = relay.get("/metrics", token=None)
    check(a.status == 401, f"/metrics on the API listener beside a metrics listener: {a!r}")

    relay.stop()
    relay.start("--device-rate", "0", "--metrics-open")
    a = relay.get("/metrics", token=None)
    check(is_metrics(a), f"/metrics with --metrics-open and no credential: {a!r}")
    check(relay.get("/v1/jobs", token=None).status == 401,
          "--metrics-open must open /metrics only, not the API")


if __name__ == "__main__":
    harness.run(test)
