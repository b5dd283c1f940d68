#!/usr/bin/env python3
"""Enrolment cannot be brute-forced, enumerated or used to take a device over, and credentials
can be revoked (docs/security.md):

- An unknown serial and a wrong code get the same answer (403, same message).
- 200 wrong codes in a burst: after the per-serial allowance every attempt is 429 with a
  Retry-After, the right code included, while another serial enrolled from another source address
  (127.0.0.2) is not held back; each refusal is in the relay's log.
- An enrolled device in use cannot be enrolled again: 409, and its credential still works.
- `relayctl devices revoke` stops the credential; the device may then enrol again with its code.
- Deleting a registration stops the device's credential.
- `relayctl credentials revoke` stops an admin credential at once.
- The store and every secret file in the data directory are readable by the relay's user only."""

import http.client
import json
import os
import stat

import harness
from harness import check, wait_until


def enroll_from(relay, address, serial, code):
    """POST /v1/device/enroll from source `address` (an address of 127.0.0.0/8)."""
    conn = http.client.HTTPSConnection("127.0.0.1", relay.port, timeout=30, context=relay._ssl,
                                       source_address=(address, 0))
    try:
        conn.request("POST", "/v1/device/enroll",
                     body=json.dumps({"serial": serial, "model": harness.MODEL,
                                      "enrollment_code": code}),
                     headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read().decode(errors="replace")
    finally:
        conn.close()


def test(env):
    relay = env.relay()
    relay.start()
    for root, _, files in os.walk(relay.data_dir):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith((".db", ".db-wal", ".db-shm", ".token", ".key", "key.pem",
                              "relayctl.json")):
                mode = stat.S_IMODE(os.stat(path).st_mode)
                check(mode & 0o077 == 0, f"{path} is readable by others: {oct(mode)}")
    for s in ("SIM-0001", "SIM-0002", "SIM-0003", "SIM-0004"):
        relay.register(s)

    unknown = relay.post("/v1/device/enroll", {"serial": "NOPE-1", "model": harness.MODEL,
                                                "enrollment_code": "x1234"}, token=None)
    wrong = relay.post("/v1/device/enroll", {"serial": "SIM-0001", "model": harness.MODEL,
                                              "enrollment_code": "x1234"}, token=None)
    check(unknown.status == wrong.status == 403, f"unknown {unknown!r} / wrong {wrong!r}")
    check(unknown.json["error"]["message"] == wrong.json["error"]["message"],
          f"unknown serial and wrong code must read the same: {unknown.raw} vs {wrong.raw}")

    statuses = []
    for i in range(200):
        status, headers, _ = enroll_from(relay, "127.0.0.1", "SIM-0002", f"guess-{i}")
        statuses.append(status)
        if status == 429:
            check(int(headers.get("Retry-After", "0")) > 0, f"429 without Retry-After: {headers}")
    check(statuses.count(403) <= 10 and statuses.count(429) >= 190,
          f"a burst of wrong codes must be cut off: {statuses.count(403)} x 403, "
          f"{statuses.count(429)} x 429, others {set(statuses) - {403, 429}}")
    status, _, body = enroll_from(relay, "127.0.0.1", "SIM-0002", harness.ENROLLMENT_CODE)
    check(status == 429, f"while locked the right code is not even looked at: {status} {body}")
    status, _, body = enroll_from(relay, "127.0.0.2", "SIM-0003", harness.ENROLLMENT_CODE)
    check(status == 201, f"another serial from another address enrols: {status} {body}")
    wait_until(lambda: "enrolment refused for serial 'SIM-0002'" in relay.proc.log_text(), 10,
               "the refused enrolments in the relay's log")

    # A device in use cannot be taken over by enrolling again with its code.
    tok = relay.enroll("SIM-0001")
    check(relay.post("/v1/device/poll", {"state": "idle"}, token=tok).status == 200, "poll")
    again = relay.post("/v1/device/enroll", {"serial": "SIM-0001", "model": harness.MODEL,
                                              "enrollment_code": harness.ENROLLMENT_CODE},
                       token=None)
    check(again.status == 409, f"re-enrolment of a used credential must be refused: {again!r}")
    check(relay.post("/v1/device/poll", {"state": "idle"}, token=tok).status == 200,
          "the refused re-enrolment must leave the credential working")

    # Revoked: the old credential stops; the device may enrol again.
    env.relayctl_ok(relay, "devices", "revoke", "SIM-0001")
    check(relay.post("/v1/device/poll", {"state": "idle"}, token=tok).status == 401,
          "a revoked device credential must be refused")
    tok2 = relay.enroll("SIM-0001")
    check(relay.post("/v1/device/poll", {"state": "idle"}, token=tok2).status == 200,
          "after a revocation the device enrols again")

    # A deleted registration leaves no working credential.
    tok4 = relay.enroll("SIM-0004")
    relay.ok_json("DELETE", "/v1/registrations/SIM-0004")
    check(relay.post("/v1/device/poll", {"state": "idle"}, token=tok4).status == 401,
          "the credential of a deleted registration must be refused")

    # An admin credential revoked with relayctl stops at once.
    out = env.relayctl_ok(relay, "credentials", "create", "--name", "ops-1", "--role", "operator")
    ops = next(w for w in out.split() if w.startswith("at_"))
    check(relay.get("/v1/jobs", token=ops).status == 200, "the operator credential works")
    env.relayctl_ok(relay, "credentials", "revoke", "ops-1")
    check(relay.get("/v1/jobs", token=ops).status == 401, "a revoked admin credential is refused")


if __name__ == "__main__":
    harness.run(test)
