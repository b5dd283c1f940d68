#!/usr/bin/env python3
"""A request target that does not decode to clean text is answered 400 with the JSON error
(bad_input), never 500, whatever the route and credential: invalid UTF-8 (`/v1/%FF%FE`), a `%`
without two hex digits (`/v1/%zz`, a trailing `%`), a NUL byte (`/v1/a%00b`), the same in a
query (`/v1/jobs?serial=%FF`) and in a device route. No handler runs on them (the relay logs no
handler failure), and the relay serves ordinary requests afterwards."""

import harness
from harness import check

TARGETS = ["/v1/%FF%FE", "/v1/%zz", "/v1/a%00b", "/v1/jobs%", "/v1/jobs?serial=%FF",
           "/v1/jobs?serial=a%00b", "/v1/jobs?%zz=1", "/v1/devices/%C0%AF", "/v1/device/%ED%A0%80"]


def test(env):
    relay = env.relay()
    relay.start()
    failures = []
    for target in TARGETS:
        for method, token in (("GET", "admin"), ("GET", None), ("POST", "admin"), ("POST", None)):
            a = relay.request(method, target, token=token, body={} if method == "POST" else None)
            if not (a.status == 400 and a.error_code == "bad_input"
                    and a.headers.get("Content-Type", "").startswith("application/json")
                    and a.json["error"].get("message")):
                failures.append(f"{method} {target} ({'admin' if token else 'no credential'}): "
                                f"expected 400 bad_input as JSON, got {a!r} {a.headers}")
    check(not failures,
          f"{len(failures)} malformed target(s) mishandled:\n  " + "\n  ".join(failures))
    check("handler failed" not in relay.proc.log_text(), "a handler ran on a malformed target")
    check(relay.get("/v1/jobs").status == 200, "relayd serves after the malformed targets")


if __name__ == "__main__":
    harness.run(test)
