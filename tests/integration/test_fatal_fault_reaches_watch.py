#!/usr/bin/env python3
"""A fatal service call on a device reaches a running `relayctl watch` within a second of the
fault (seed 001 Fig. 5: a fatal fault is reported at once, not at the next poll), is listed by
`relayctl alerts`, and is closed by `relayctl alerts ack`.

The one timing assertion is the feature itself: measured from the moment the control file (the
panel) appears to the moment the alert line is read from watch's stdout. Process start-up and
the watch subscription are waited for before the clock starts."""

import json

import harness
from harness import check, metric_value, wait_until

SERIAL = "SIM-0002"


def alerts(env, relay, *extra):
    j = env.relayctl_json(relay, "alerts", *extra)
    return j["alerts"] if isinstance(j, dict) else j


def test(env):
    relay = env.relay()
    relay.start()
    sim = harness.start_fleet(env, relay, 2)
    check(alerts(env, relay, "--all") == [], "alerts exist before any fault")

    watch = env.relayctl_spawn(relay, "relayctl-watch", "watch", "--kinds", "alert", "--count", "1",
                               "--json", "--timeout-s", "60")
    # The clock starts only once watch holds its event stream open at the relay.
    wait_until(lambda: (metric_value(relay.metrics(), "printrelay_sse_clients") or 0) >= 1, 20,
               "relayctl watch to subscribe to /v1/events")
    check(watch.lines == [], f"watch printed before the fault: {watch.lines}")

    written_at = sim.control(SERIAL, {"action": "fault", "code": "SC542", "sc_type": "A"})
    arrived_at, line = watch.wait_line(0, 10)
    latency = arrived_at - written_at
    print(f"fault -> watch line: {latency * 1000:.0f} ms")

    try:
        ev = json.loads(line)
    except ValueError:
        raise harness.TestFailure(f"watch --json printed a non-JSON line: {line!r}")
    check(ev.get("event") == "alert", f"watch event: {ev}")
    data = ev.get("data") or {}
    alert = data.get("alert") or {}
    check(data.get("serial") == SERIAL and alert.get("code") == "SC542",
          f"the alert on watch must be SC542 of {SERIAL}: {ev}")
    check(alert.get("urgency") == "fatal", f"an SC type A call must be fatal: {alert}")
    check(latency < 1.0, f"the fatal alert reached watch {latency:.3f} s after the fault (limit 1 s)")
    watch.popen.wait(timeout=10)
    check(watch.popen.returncode == 0, f"watch --count 1 exited {watch.popen.returncode} after one event")

    # Listed as open, with the device and code; the table shows it too.
    open_alerts = alerts(env, relay)
    check(len(open_alerts) == 1, f"open alerts: {open_alerts}")
    a = open_alerts[0]
    check(a["id"] == alert["id"] and a["serial"] == SERIAL and a["code"] == "SC542" and a["open"] is True,
          f"alert listed: {a}")
    table = env.relayctl_ok(relay, "alerts")
    check(any("SC542" in l and SERIAL in l for l in table.splitlines()), f"`relayctl alerts`:\n{table}")
    dev = relay.ok_json("GET", f"/v1/devices/{SERIAL}")
    check([x["id"] for x in dev["open_alerts"]] == [a["id"]], f"device detail open alerts: {dev['open_alerts']}")
    stored = [r for r in relay.reports(SERIAL, kind="alert") if r["id"] == a["report_id"]]
    check(len(stored) == 1 and stored[0]["urgency"] == "fatal", f"the alert report: {stored}")

    # Acknowledge: it leaves the open list, stays in --all with who closed it.
    env.relayctl_ok(relay, "alerts", "ack", a["id"])
    check(alerts(env, relay) == [], "the acknowledged alert is still open")
    closed = [x for x in alerts(env, relay, "--all") if x["id"] == a["id"]]
    check(len(closed) == 1 and closed[0]["open"] is False and closed[0]["acknowledged_by"] == "admin"
          and closed[0]["acknowledged_at"], f"alerts --all after ack: {closed}")
    rc, out, err = env.relayctl(relay, "alerts", "ack", "no-such-alert")
    check(rc == 1 and err.startswith("error:"), f"ack of an unknown alert: exit {rc} {out!r} {err!r}")


if __name__ == "__main__":
    harness.run(test)
