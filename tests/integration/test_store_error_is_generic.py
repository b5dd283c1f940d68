#!/usr/bin/env python3
"""When the store fails, clients learn only that the relay is temporarily unavailable: with its
PostgreSQL server stopped, a write answers 503 with a generic message and a Retry-After — no
host, SQL or server text — the cause goes to relayd's log, and relayd keeps serving what needs no
store (/healthz)."""

import harness
from harness import check

LEAKS = ("postgres", "PostgreSQL", "127.0.0.1", "connection", "server", "SQL", "INSERT", "libpq")


def test(env):
    conninfo = env.postgres()
    pg = next(p for p in env.processes if p.name == "postgres")
    relay = env.relay(postgres=conninfo)
    relay.start()
    relay.register("SIM-0001")

    pg.stop()
    r = relay.post("/v1/registrations",
                   {"serial": "SIM-0002", "model": harness.MODEL, "enrollment_code": "k3y-2026",
                    "customer": "ACME Corp"})
    check(r.status == 503, f"a write with the store down must answer 503: {r!r}")
    check(r.error_code == "unavailable", f"the error code: {r!r}")
    message = r.json["error"]["message"]
    leaked = [w for w in LEAKS if w.lower() in message.lower()]
    check(not leaked, f"the 503 message must be generic, it names {leaked}: {message!r}")
    check(any(k.lower() == "retry-after" for k in r.headers), f"a 503 needs Retry-After: {r!r}")
    log = relay.proc.log_text()
    check("answered 503:" in log, f"the cause must be in relayd's log:\n{log}")
    check(relay.get("/healthz", token=None).status == 200, "relayd must keep answering /healthz")


if __name__ == "__main__":
    harness.run(test)
