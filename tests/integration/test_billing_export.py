#!/usr/bin/env python3
"""Billing by counted pages (seed 002): per device and counter, the start and end readings of a
period and the pages counted in it, as CSV from `relayctl billing export` and GET /v1/billing.

Two simulated devices (almost no spontaneous activity: --speed 0.0001) print known page counts
before, inside and after a period and send their counters through collect jobs; the export counts
exactly the pages printed inside the period. A registered device that never reported is listed
and flagged no_readings. A raw device posts readings with chosen times in an older period: the
export of that period shows the reading before the period used as the start, a gap, a counter
reset counted from the new value, an early end, and the quoting of a customer name with a comma
and a quote."""

import csv
import io
import os
import time
import urllib.parse

import harness
from harness import check

HEADER = ["serial", "model", "customer", "place", "counter", "start_at", "start", "end_at", "end",
          "difference", "flags"]
SIMS = ["SIM-0001", "SIM-0002"]
IDLE = "IDLE-0001"
RAW = "RAW-0001"
RAW_CUSTOMER = 'Smith, "Big" Print'
RAW_PLACE = "Annex, 2nd floor"


def wire_time(t):
    """Seconds since the epoch as the wire's RFC 3339 UTC with milliseconds."""
    ms = int(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def integer_leaves(body, prefix=""):
    """The counters a counters report body holds, flattened with "." as the relay does."""
    out = {}
    for k, v in body.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(integer_leaves(v, name))
        elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            out[name] = v
    return out


def parse_csv(text, crlf=True):
    """`crlf`: the text is as the relay sent it (relayctl's stdout is read with universal
    newlines, which turn CRLF into LF)."""
    if crlf:
        check(text.endswith("\r\n"), f"CSV lines must end in CRLF (RFC 4180): {text[-40:]!r}")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    check(rows and rows[0] == HEADER, f"CSV header {rows[:1]}, want {HEADER}")
    for r in rows[1:]:
        check(len(r) == len(HEADER), f"CSV row with {len(r)} fields: {r}")
    return [dict(zip(HEADER, r)) for r in rows[1:]]


def by_serial(rows):
    out = {}
    for r in rows:
        out.setdefault(r["serial"], {})[r["counter"]] = r
    return out


def wait_printed(sim, serial, want):
    def printed():
        st = sim.status(serial) or {}
        return (st.get("counters") or {}).get("print") == want
    harness.wait_until(printed, 20, f"{serial} to have printed {want} pages in all")


def collect_counters(relay, serials):
    ids = [relay.ok_json("POST", "/v1/jobs", {"serial": s, "kind": "collect",
                                              "params": {"data_sets": ["counters"]}})["id"]
           for s in serials]
    for job_id in ids:
        harness.wait_until(lambda: relay.job(job_id)["job"]["state"] == "succeeded", 30,
                           f"collect job {job_id} to succeed")


def print_pages(sim, serial, pages):
    before = ((sim.status(serial) or {}).get("counters") or {}).get("print")
    sim.control(serial, {"action": "print", "pages": pages})
    wait_printed(sim, serial, before + pages)


def billing(relay, query, **kw):
    return relay.get("/v1/billing?" + urllib.parse.urlencode(query), **kw)


def post_raw_readings(relay):
    token = relay.enroll(RAW)
    readings = [  # posted out of time order: the relay orders readings by their own time
        ("2025-11-07T00:00:00.000Z", {"total": 1300, "color": 130}),
        ("2025-10-31T22:00:00.000Z", {"total": 1000, "color": 100, "paper": {"A4": 900}}),
        ("2025-12-01T00:00:00.000Z", {"total": 99999, "color": 999}),  # `to` is excluded
        ("2025-11-01T12:00:00.000Z", {"total": 1100, "color": 110}),
        ("2025-11-09T00:00:00.000Z", {"total": 70, "color": 150}),
        ("2025-11-02T00:00:00.000Z", {"total": 1150, "color": 120}),
        ("2025-11-08T00:00:00.000Z", {"total": 20, "color": 140}),  # controller replaced
    ]
    reports = [{"id": f"raw-{i}", "kind": "counters", "created_at": at, "urgency": "normal",
                "body": body} for i, (at, body) in enumerate(readings)]
    a = relay.post("/v1/device/reports", {"reports": reports}, token=token)
    check(a.status == 200, f"posting {RAW}'s readings: {a!r}")


def test_live_period(env, relay, sim):
    for s in SIMS:
        harness.wait_until(lambda: relay.reports(s, kind="counters"), 30,
                           f"{s} to send its power-on counters")
    boot = {s: relay.reports(s, kind="counters")[0]["body"] for s in SIMS}
    base = {s: boot[s]["print"] for s in SIMS}
    for s in SIMS:
        wait_printed(sim, s, base[s])

    # Before the period: printed and read, so the period starts from this reading.
    print_pages(sim, "SIM-0001", 3)
    collect_counters(relay, ["SIM-0001"])
    time.sleep(0.05)
    period_from = wire_time(time.time())
    time.sleep(0.05)

    print_pages(sim, "SIM-0001", 7)
    print_pages(sim, "SIM-0002", 11)
    collect_counters(relay, SIMS)
    print_pages(sim, "SIM-0001", 5)
    collect_counters(relay, ["SIM-0001"])
    time.sleep(0.05)
    period_to = wire_time(time.time())
    time.sleep(0.05)

    # After the period: read, and not counted.
    print_pages(sim, "SIM-0002", 4)
    collect_counters(relay, ["SIM-0002"])

    out_file = os.path.join(env.tmp, "billing.csv")
    rc, out, err = env.relayctl(relay, "billing", "export", "--from", period_from, "--to", period_to,
                                "--out", out_file)
    check(rc == 0, f"billing export --out: exit {rc}\nstdout: {out}\nstderr: {err}")
    with open(out_file, newline="") as f:
        file_text = f.read()
    stdout_text = env.relayctl_ok(relay, "billing", "export", "--from", period_from,
                                  "--to", period_to)
    check(stdout_text == file_text.replace("\r\n", "\n"),
          "the CSV on stdout differs from the one written with --out")
    check(not os.path.exists(out_file + ".tmp"), "billing export left its temporary file")
    rows = parse_csv(file_text)
    got = by_serial(rows)
    check(set(SIMS) | {IDLE, RAW} <= set(got), f"devices in the export: {sorted(got)}")

    expected_print = {"SIM-0001": 12, "SIM-0002": 11}
    start_print = {"SIM-0001": base["SIM-0001"] + 3, "SIM-0002": base["SIM-0002"]}
    for s in SIMS:
        counters = got[s]
        want_counters = set(integer_leaves(boot[s]))
        check(set(counters) == want_counters,
              f"{s}: one row per counter of its counters report: {sorted(counters)} vs "
              f"{sorted(want_counters)}")
        for name, r in counters.items():
            check(r["flags"] == "", f"{s} {name}: no flags expected in a well-read period: {r}")
            check(r["model"] == harness.MODEL and r["customer"] == "ACME Corp"
                  and r["place"] == f"Floor 3, {s}", f"{s}: registration not joined: {r}")
            check(int(r["difference"]) == int(r["end"]) - int(r["start"]),
                  f"{s} {name}: without a reset the difference is end - start: {r}")
            check(r["start_at"] < period_from,
                  f"{s}: the start reading must be the last one before the period: {r}")
            check(period_from <= r["end_at"] < period_to, f"{s}: end reading outside: {r}")
        p = counters["print"]
        check(int(p["difference"]) == expected_print[s],
              f"{s}: printed {expected_print[s]} pages in the period, export says {p}")
        check(int(p["start"]) == start_print[s], f"{s}: start reading {p}")
        check(int(counters["total"]["difference"]) == expected_print[s],
              f"{s}: total {counters['total']}")
        check(int(counters["copy"]["difference"]) == 0 and int(counters["fax"]["difference"]) == 0,
              f"{s}: only prints were made: {counters['copy']} {counters['fax']}")

    idle = got[IDLE]
    check(list(idle) == [""] and idle[""]["flags"] == "no_readings",
          f"a registered device that never reported is one row flagged no_readings: {idle}")
    check(idle[""]["difference"] == "" and idle[""]["customer"] == "ACME Corp", f"{idle}")
    # The raw device's readings are all older: its last one starts and ends the period.
    for name, r in got[RAW].items():
        check(r["difference"] == "0" and r["flags"].startswith("end_early@"), f"{RAW} {name}: {r}")

    # The same through HTTP: CSV with a download name, and JSON for a dashboard.
    a = billing(relay, {"from": period_from, "to": period_to, "format": "csv"})
    check(a.status == 200, f"GET /v1/billing format=csv: {a!r}")
    headers = {k.lower(): v for k, v in a.headers.items()}
    check(headers.get("content-type", "").startswith("text/csv"), f"content type: {headers}")
    disposition = headers.get("content-disposition", "")
    check(disposition.startswith('attachment; filename="billing-') and disposition.endswith('.csv"'),
          f"content disposition: {disposition!r}")
    check(a.raw == file_text, "GET /v1/billing?format=csv differs from relayctl's export")

    shown = env.relayctl_json(relay, "billing", "show", "--from", period_from, "--to", period_to,
                              "--serial", "SIM-0001")
    check(shown["from"] == period_from and shown["to"] == period_to, f"period echoed: {shown}")
    check({r["serial"] for r in shown["rows"]} == {"SIM-0001"}, f"--serial: {shown['rows']}")
    jp = next(r for r in shown["rows"] if r["counter"] == "print")
    check(jp["difference"] == 12 and jp["flags"] == [], f"JSON print row: {jp}")

    table = env.relayctl_ok(relay, "billing", "show", "--from", period_from, "--to", period_to)
    lines = table.splitlines()
    head = next((l for l in lines if l.startswith("SERIAL")), "")
    for col in ("SERIAL", "COUNTER", "START", "END", "DIFFERENCE", "FLAGS"):
        check(col in head, f"billing show header lacks {col}:\n{table}")
    check(any(l.startswith(IDLE) and "no_readings" in l for l in lines),
          f"billing show must list {IDLE} flagged no_readings:\n{table}")
    check(any(l.startswith("SIM-0002") and " print " in l and l.split()[4] == "11" for l in lines),
          f"billing show must show SIM-0002 print 11:\n{table}")

    # A viewer may read billing.
    viewer = relay.ok_json("POST", "/v1/credentials", {"name": "accounts", "role": "viewer"})["token"]
    v = billing(relay, {"from": period_from, "to": period_to}, token=viewer)
    check(v.status == 200 and v.json["rows"], f"viewer GET /v1/billing: {v!r}")


def test_old_period_with_reset_and_gap(env, relay):
    frm, to = "2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z"
    out = env.relayctl_ok(relay, "billing", "export", "--from", frm, "--to", to,
                          "--customer", RAW_CUSTOMER)
    rows = parse_csv(out, crlf=False)
    check({r["serial"] for r in rows} == {RAW}, f"--customer keeps only {RAW}: {rows}")
    quoted = f'{RAW},{harness.MODEL},"Smith, ""Big"" Print","{RAW_PLACE}",'
    check(out.split("\n")[1].startswith(quoted),
          f"a customer with a comma and a quote is quoted per RFC 4180: {out.splitlines()[1]!r}")
    got = by_serial(rows)[RAW]
    check(sorted(got) == ["color", "paper.A4", "total"], f"{RAW} counters: {sorted(got)}")
    total = got["total"]
    check(total["start_at"] == "2025-10-31T22:00:00.000Z" and total["start"] == "1000",
          f"the start reading is the last one before the period: {total}")
    check(total["end_at"] == "2025-11-09T00:00:00.000Z" and total["end"] == "70", f"end: {total}")
    check(total["difference"] == "350",
          f"a reset is counted from its new value, never negative (100+50+150+0+50): {total}")
    flags = total["flags"].split(";")
    check("reset@2025-11-08T00:00:00.000Z" in flags, f"reset flag: {flags}")
    check("gap@2025-11-02T00:00:00.000Z/2025-11-07T00:00:00.000Z" in flags, f"gap flag: {flags}")
    check("end_early@2025-11-09T00:00:00.000Z" in flags, f"end_early flag: {flags}")
    check(got["color"]["difference"] == "50" and "reset" not in got["color"]["flags"],
          f"a reset belongs to its counter: {got['color']}")
    check(got["paper.A4"]["difference"] == "0" and got["paper.A4"]["end"] == "900",
          f"a counter that stops being reported keeps its last value: {got['paper.A4']}")

    j = billing(relay, {"from": frm, "to": to, "serial": RAW})
    check(j.status == 200, f"GET /v1/billing serial={RAW}: {j!r}")
    jt = next(r for r in j.json["rows"] if r["counter"] == "total")
    reset = next(f for f in jt["flags"] if f["kind"] == "reset")
    check(reset == {"kind": "reset", "counter": "total", "at": "2025-11-08T00:00:00.000Z",
                    "value_before": 1300, "value_after": 20}, f"JSON reset flag: {reset}")

    # Every other device had no reading at all before that period's end.
    everyone = by_serial(parse_csv(env.relayctl_ok(relay, "billing", "export", "--from", frm,
                                                   "--to", to), crlf=False))
    for s in SIMS + [IDLE]:
        check(list(everyone[s]) == [""] and everyone[s][""]["flags"] == "no_readings",
              f"{s} has no readings in {frm}..{to}: {everyone[s]}")


def test_bad_requests(env, relay):
    for query, status, code in [
        ({"to": "2025-12-01T00:00:00Z"}, 400, "bad_input"),
        ({"from": "2025-12-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}, 400, "bad_input"),
        ({"from": "2025-11-01", "to": "2025-12-01T00:00:00Z"}, 400, "bad_input"),
        ({"from": "2025-11-01T00:00:00Z", "to": "2025-12-01T00:00:00Z", "format": "xml"}, 400,
         "bad_input"),
        ({"from": "2025-11-01T00:00:00Z", "to": "2025-12-01T00:00:00Z", "serial": "NOPE-1"}, 404,
         "not_found"),
    ]:
        a = billing(relay, query)
        check(a.status == status and a.error_code == code, f"{query}: want {status} {code}, got {a!r}")
    check(billing(relay, {"from": "2025-11-01T00:00:00Z", "to": "2025-12-01T00:00:00Z"},
                  token=None).status == 401, "billing needs a credential")
    rc, out, err = env.relayctl(relay, "billing", "export", "--from", "2025-12-01T00:00:00Z",
                                "--to", "2025-11-01T00:00:00Z")
    check(rc == 1 and "end after it starts" in err and out == "",
          f"relayctl with an empty period: exit {rc}\nstdout: {out}\nstderr: {err}")
    rc, out, err = env.relayctl(relay, "billing", "export", "--from", "yesterday", "--to", "-0s")
    check(rc == 2 and "--from" in err, f"relayctl with a bad --from: exit {rc}\nstderr: {err}")


def test(env):
    relay = env.relay()
    relay.start()
    relay.register(IDLE)
    relay.ok_json("POST", "/v1/registrations",
                  {"serial": RAW, "model": harness.MODEL, "enrollment_code": harness.ENROLLMENT_CODE,
                   "place": RAW_PLACE, "customer": RAW_CUSTOMER, "contact": "ap@smith.example"})
    post_raw_readings(relay)
    sim = harness.start_fleet(env, relay, len(SIMS), speed="0.0001")
    test_live_period(env, relay, sim)
    test_old_period_with_reset_and_gap(env, relay)
    test_bad_requests(env, relay)


if __name__ == "__main__":
    harness.run(test)
