#!/usr/bin/env python3
"""A request body nested 150,000 levels deep is refused with 400 before it is parsed, and changes
nothing (docs/protocol.md: bodies nest at most 64 levels):

- an unauthenticated POST /v1/device/enroll whose body is 150,000 nested arrays, or 150,000
  nested objects inside an otherwise valid enrolment, is answered 400 bad_input; relayd stays up,
  the device stays unenrolled and no credential, registration or device is added;
- an enrolled device's poll with such a body is answered 400, and the device's next ordinary
  poll is answered 200."""

import harness
from harness import check

DEPTH = 150_000


def snapshot(relay):
    """What an enrolment or a poll could change: the devices, when they enrolled and were last seen,
    registrations, credentials."""
    return {
        "devices": sorted((d["serial"], d["enrolled_at"], d.get("last_seen"))
                          for d in relay.devices()),
        "registrations": len(relay.ok_json("GET", "/v1/registrations")["registrations"]),
        "credentials": sorted(c["name"]
                              for c in relay.ok_json("GET", "/v1/credentials")["credentials"]),
    }


def test(env):
    relay = env.relay()
    relay.start("--device-rate", "0")
    relay.register("SIM-0001")
    relay.register("SIM-0002")
    token = relay.enroll("SIM-0001")
    base = snapshot(relay)

    arrays = "[" * DEPTH + "]" * DEPTH
    objects = ('{"serial": "SIM-0002", "model": "%s", "enrollment_code": "%s", "extra": '
               % (harness.MODEL, harness.ENROLLMENT_CODE)
               + '{"a":' * DEPTH + "1" + "}" * DEPTH + "}")
    for what, raw in (("nested arrays", arrays), ("nested objects in an enrolment", objects)):
        a = relay.request("POST", "/v1/device/enroll", raw=raw, token=None, timeout=60)
        check(a.status == 400 and a.error_code == "bad_input" and "nest" in a.raw,
              f"enrolment with {DEPTH} {what}: expected 400 bad_input naming the nesting "
              f"limit, got {a!r}")
        check(relay.proc.alive(), f"relayd died on an enrolment with {DEPTH} {what}")
        check(snapshot(relay) == base, f"an enrolment with {DEPTH} {what} changed the relay")

    a = relay.request("POST", "/v1/device/poll", raw=arrays, token=token, timeout=60)
    check(a.status == 400 and a.error_code == "bad_input" and "nest" in a.raw,
          f"a device poll with {DEPTH} nested arrays: expected 400 bad_input naming the nesting "
          f"limit, got {a!r}")
    check(relay.proc.alive(), "relayd died on a deeply nested device poll")

    check(snapshot(relay) == base, "the refused poll changed the relay")

    # Still serving: the device polls, and SIM-0002 enrols with a plain body.
    check(relay.post("/v1/device/poll", {"state": "idle"}, token=token).status == 200,
          "the device's ordinary poll after the refused one")
    relay.enroll("SIM-0002")
    check("handler failed" not in relay.proc.log_text(), "a handler threw on a deep body")


if __name__ == "__main__":
    harness.run(test)
