#!/usr/bin/env python3
"""A revocation made through one relay node holds on every node of the same PostgreSQL store,
although the other node used (and cached) the credential a moment before: a device credential, an
admin credential and a child relay's credential, each revoked through node A, are refused by node
B (401) once A's announcement reached it; the event stream the viewer held open on node B is
closed (it gets no further events); and what they could read before stays readable to the
credentials that were not revoked."""

import http.client
import socket

import harness
from harness import check, wait_until

SERIAL = "SIM-R001"


def test(env):
    conninfo = env.postgres()
    a = env.relay("relayd-a", postgres=conninfo)
    b = env.relay("relayd-b", postgres=conninfo, admin_name="admin-b")
    b.share_pki_of(a)
    for node in (a, b):
        node.start("--device-rate", "0", "--relay-id", node.name)

    a.register(SERIAL)
    device = a.enroll(SERIAL)
    viewer = a.credential("viewer-1", "viewer")
    child = a.ok_json("POST", "/v1/relays", {"id": "gw-1", "customers": ["ACME Corp"]})["token"]
    sync = {"version": "0.1.0", "serials": [SERIAL], "items": []}

    # Node B knows (and caches) all three before the revocations.
    check(b.post("/v1/device/poll", {"state": "idle"}, token=device).status == 200,
          "node B must take the device credential")
    check(b.get("/v1/devices", token=viewer).status == 200, "node B must take the viewer")
    check(b.post("/v1/relay/sync", sync, token=child).status == 200,
          "node B must take the child relay's credential")
    stream = b.connection(timeout=60)
    stream.request("GET", "/v1/events", headers={"Authorization": f"Bearer {viewer}"})
    events = stream.getresponse()
    check(events.status == 200 and events.read1(64).startswith(b": connected"),
          f"the viewer's event stream on node B: {events.status}")

    a.ok_json("POST", f"/v1/devices/{SERIAL}/revoke")
    a.ok_json("DELETE", "/v1/credentials/viewer-1")
    a.ok_json("DELETE", "/v1/relays/gw-1")

    wait_until(lambda: b.post("/v1/device/poll", {"state": "idle"}, token=device).status == 401,
               20, "node B to refuse the revoked device credential")
    wait_until(lambda: b.get("/v1/devices", token=viewer).status == 401, 20,
               "node B to refuse the revoked viewer credential")
    wait_until(lambda: b.post("/v1/relay/sync", sync, token=child).status == 401, 20,
               "node B to refuse the revoked child relay credential")
    for node in (a, b):
        check(node.post("/v1/device/poll", {"state": "idle"}, token=device).status == 401,
              f"{node.name} must refuse the revoked device credential")
    # The open stream ends (within a keep-alive period of 15 s) instead of carrying on.
    closed = False
    try:
        while True:
            chunk = events.read1(4096)
            if not chunk:
                closed = True
                break
    except http.client.IncompleteRead:
        closed = True  # the relay ended the chunked stream by closing the connection
    except (socket.timeout, TimeoutError):
        pass
    stream.close()
    check(closed, "the revoked viewer's event stream on node B stayed open for 60 s")
    # Revocation removed only those: the admin credentials still work on both nodes, and the
    # device's registration is still there for it to enrol again.
    for node in (a, b):
        r = node.get("/v1/registrations")
        check(r.status == 200 and [x["serial"] for x in r.json["registrations"]] == [SERIAL],
              f"{node.name}: the registration must remain: {r!r}")
    again = b.enroll(SERIAL)
    check(a.post("/v1/device/poll", {"state": "idle"}, token=again).status == 200,
          "the device enrols again after its revocation and is known on node A")


if __name__ == "__main__":
    harness.run(test)
