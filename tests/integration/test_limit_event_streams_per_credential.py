#!/usr/bin/env python3
"""--max-event-streams caps the event streams (GET /v1/events) one admin credential holds: with
--max-event-streams 2, two streams of the admin credential are open and a third is answered 429
(JSON error, Retry-After), while another credential (a viewer's) still opens one. Once one of
the two is closed its place is given back and a new stream of the admin credential opens.

The relay notices a closed stream only when a write to it fails, that is at a keep-alive (every
15 s; the first write after the close is still taken by the kernel), so today the place comes
back about 30 s after the close: RELEASE_BOUND_S allows for that. Once the relay watches a
stream's socket for the client's close, lower the bound to a few seconds."""

import time

import harness
from harness import check, metric_value, wait_until

RELEASE_BOUND_S = 45  # two keep-alive periods and a margin


def open_stream(relay, token):
    """GET /v1/events on a connection of its own; returns (connection, response) with the
    response's status and headers read."""
    conn = relay.connection(timeout=30)
    conn.request("GET", "/v1/events", headers={"Authorization": f"Bearer {token}",
                                               "Accept": "text/event-stream"})
    return conn, conn.getresponse()


def test(env):
    relay = env.relay()
    relay.start("--max-event-streams", "2")
    viewer = relay.credential("viewer-1", "viewer")

    def streams():
        return metric_value(relay.metrics(), "printrelay_sse_clients") or 0

    opened = []
    try:
        for i in range(2):
            conn, res = open_stream(relay, relay.admin_token)
            opened.append(conn)
            check(res.status == 200, f"admin stream #{i + 1}: {res.status}")
            check(res.read1(64).startswith(b": connected"), f"admin stream #{i + 1} sent no hello")
        check(streams() == 2, f"the relay counts {streams()} event streams, not 2")

        conn, res = open_stream(relay, relay.admin_token)
        a = harness.HttpAnswer(res.status, dict(res.getheaders()), res.read().decode())
        conn.close()
        check(a.status == 429 and a.error_code == "rate_limited",
              f"a third stream of the admin credential: expected 429 rate_limited, got {a!r}")
        check(int(a.headers.get("Retry-After", "0")) > 0, f"429 without Retry-After: {a.headers}")

        conn, res = open_stream(relay, viewer)
        opened.append(conn)
        check(res.status == 200, f"the viewer's stream beside the admin's two: {res.status}")
        check(streams() == 3, f"the relay counts {streams()} event streams, not 3")

        opened.pop(0).close()
        closed_at = time.monotonic()

        def reopened():
            conn, res = open_stream(relay, relay.admin_token)
            if res.status == 200:
                opened.append(conn)
                return True
            res.read()
            conn.close()
            check(res.status == 429, f"a stream after closing one: {res.status}")
            return False
        wait_until(reopened, RELEASE_BOUND_S, "a new admin stream once one of the two is closed",
                   interval=0.5)
        print(f"the closed stream's place came back {time.monotonic() - closed_at:.1f} s "
              "after the close")
    finally:
        for conn in opened:
            conn.close()


if __name__ == "__main__":
    harness.run(test)
