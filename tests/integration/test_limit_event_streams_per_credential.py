#!/usr/bin/env python3
"""--max-event-streams caps the event streams (GET /v1/events) one admin credential holds at once:
with --max-event-streams 2, two streams of the admin credential are open; a third opens and the
oldest of the two is closed by the relay (so a dashboard reloaded again and again is never
locked out, and the credential never holds more than two); another credential's stream (a
viewer's) is not touched, and the relay counts three streams, not four."""

import harness
from harness import check, metric_value, wait_until


def open_stream(relay, token):
    """GET /v1/events on a connection of its own; returns (connection, response) with the hello
    read."""
    conn = relay.connection(timeout=30)
    conn.request("GET", "/v1/events", headers={"Authorization": f"Bearer {token}",
                                               "Accept": "text/event-stream"})
    res = conn.getresponse()
    check(res.status == 200, f"GET /v1/events: {res.status}")
    check(res.read1(64).startswith(b": connected"), "an event stream sent no hello")
    return conn, res


def ended(res):
    """True once the relay has ended the stream (EOF or a cut chunked body)."""
    try:
        while True:
            if not res.read1(4096):
                return True
    except harness.http.client.IncompleteRead:
        return True
    except OSError:
        return False


def test(env):
    relay = env.relay()
    relay.start("--max-event-streams", "2")
    viewer = relay.credential("viewer-1", "viewer")

    def streams():
        return metric_value(relay.metrics(), "printrelay_sse_clients") or 0

    opened = []
    try:
        first = open_stream(relay, relay.admin_token)
        second = open_stream(relay, relay.admin_token)
        watcher = open_stream(relay, viewer)
        opened += [first[0], second[0], watcher[0]]
        check(streams() == 3, f"the relay counts {streams()} event streams, not 3")

        third = open_stream(relay, relay.admin_token)
        opened.append(third[0])
        first[0].sock.settimeout(30)
        check(ended(first[1]), "the admin credential's oldest stream must be closed by the relay")
        wait_until(lambda: streams() == 3, 30,
                   "the relay to count three streams (two of the admin's, the viewer's)")
        # The others still stream: a job's event reaches the second, the third and the viewer's.
        relay.register("SIM-0001")
        relay.ok_json("POST", "/v1/jobs", {"serial": "SIM-0001", "kind": "collect",
                                           "params": {"data_sets": ["counters"]}})
        for name, (conn, res) in (("second", second), ("third", third), ("viewer's", watcher)):
            conn.sock.settimeout(30)
            got = b""
            while b"event: job" not in got:
                chunk = res.read1(65536)
                check(chunk, f"the {name} stream ended; it must still carry events")
                got += chunk

    finally:
        for conn in opened:
            conn.close()


if __name__ == "__main__":
    harness.run(test)
