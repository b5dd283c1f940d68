#!/usr/bin/env python3
"""The service center's web dashboard in a real browser (issue 4): headless Chromium driven by
tests/browser/dashboard.mjs (playwright-core) against a relayd that serves the dashboard at `/`.

The world it gets: six simulated MFPs with registrations (model, place, customer; one place is
an HTML/script injection that must show as typed), meter readings over time on one device, two
open service-call alerts, a finished three-device firmware campaign, and a viewer credential.

The browser test logs in, finds a device by search, reads its counters chart (the SVG has
points, and the value shown is the API's), creates a collect job and watches it reach
`succeeded` without a reload (the event stream), acknowledges an alert, opens the campaign's
result table, downloads the billing CSV, walks login -> fleet -> device -> collect job -> alert
acknowledge with the keyboard alone, runs axe-core (WCAG 2.1 A/AA, the version pinned in
tests/browser/package-lock.json) on every page and dialog at 1440 and 390 px in light and dark, checks that a viewer sees no action buttons, revokes a
device's, the viewer's and a child relay's credential on the device and Access pages and checks
through the API that each is refused at once (401; the device may enrol again with its code, the
viewer's open page signs out), and saves a screenshot at every step to build/screenshots/ (or
$PRINTRELAY_SCREENSHOT_DIR). Afterwards
this script checks on the relay what the browser did: the alert is closed by the admin, and the
collect job the browser made ran to succeeded.

No Chromium, no node, or no tests/browser/node_modules: the test FAILS and says how to install
them (scripts/install-deps.sh). `--serve` sets up the same world and keeps it running, printing
the URL and tokens, for working on the dashboard by hand.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

import harness
from harness import check, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BROWSER_DIR = os.path.join(REPO, "tests", "browser")
DRIVER = os.path.join(BROWSER_DIR, "dashboard.mjs")
CHROMIUM = os.environ.get("PRINTRELAY_CHROMIUM", "/usr/bin/chromium")

DEVICE = "SIM-0001"          # searched, charted, sent a collect job
ALERT_DEVICE = "SIM-0002"    # its alert is acknowledged in the browser
ALERT_CODE = "SC542"
OTHER_ALERT_DEVICE = "SIM-0004"  # its alert stays open: the viewer sees it without a button
KEYBOARD_ALERT_DEVICE = "SIM-0003"  # its alert is acknowledged by the keyboard-only walk
KEYBOARD_ALERT_CODE = "SC320"
ESCAPE_DEVICE = "SIM-0003"
ESCAPE_PLACE = '<img src=x onerror="window.__pwned=1"> Annex & "Lab"'
ESCAPE_CUSTOMER = "Globex <script>window.__pwned=2</script>"
PLACES = {
    "SIM-0001": ("Floor 3, copy room", "ACME Corp"),
    "SIM-0002": ("Reception", "ACME Corp"),
    ESCAPE_DEVICE: (ESCAPE_PLACE, ESCAPE_CUSTOMER),
    "SIM-0004": ("Warehouse office", "Initech"),
}
FW_DEVICES = ["FW-0001", "FW-0002", "FW-0003"]


def screenshot_dir():
    d = os.environ.get("PRINTRELAY_SCREENSHOT_DIR")
    if not d:
        build = os.path.dirname(os.path.abspath(harness.BIN_DIR.rstrip("/")))  # <build>/apps -> <build>
        d = os.path.join(build, "screenshots")
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "*.png")):
        os.remove(old)
    return d


def require_browser():
    """Fails (never skips) when what the browser test needs is missing."""
    how = "run scripts/install-deps.sh (Debian packages chromium, nodejs, npm; then npm ci in tests/browser)"
    check(os.access(CHROMIUM, os.X_OK), f"no Chromium at {CHROMIUM}: {how}")
    node = shutil.which("node")
    check(node, f"no node on PATH: {how}")
    pw = os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")
    check(os.path.exists(pw), f"tests/browser/node_modules/playwright-core is missing: {how}")
    with open(os.path.join(BROWSER_DIR, "package.json")) as f:
        want = json.load(f)["dependencies"]["playwright-core"]
    with open(pw) as f:
        have = json.load(f)["version"]
    check(have == want, f"tests/browser has playwright-core {have}, package.json wants {want}: {how}")
    axe = os.path.join(BROWSER_DIR, "node_modules", "axe-core", "package.json")
    check(os.path.exists(axe), f"tests/browser/node_modules/axe-core is missing: {how}")
    with open(os.path.join(BROWSER_DIR, "package-lock.json")) as f:
        pinned = json.load(f)["packages"]["node_modules/axe-core"]["version"]
    with open(axe) as f:
        installed = json.load(f)["version"]
    check(installed == pinned, f"tests/browser has axe-core {installed}, package-lock.json pins {pinned}: {how}")
    with open(pw) as f:
        engines = (json.load(f).get("engines") or {}).get("node", "")
    need_major = int("".join(c for c in engines.split(".")[0] if c.isdigit()) or 0)
    r = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    major = int(r.stdout.strip().lstrip("v").split(".")[0] or 0) if r.returncode == 0 else 0
    check(major >= need_major, f"node {r.stdout.strip()} at {node} is too old: playwright-core {have} "
                               f"needs node {engines}")
    return node


ERROR_CODES = [
    {"code": "SC542", "text": "Fuser temperature abnormal",
     "action": "Replace the fuser thermistor; check the fuser lamp connector", "urgency": "high"},
    {"code": "SC320", "text": "Laser unit: polygon motor does not reach speed",
     "action": "Power-cycle; if it comes back, replace the laser unit", "urgency": "high"},
    {"code": "J-TRAY2", "text": "Paper jam at tray 2", "action": "Open the right door and remove the sheet",
     "urgency": "normal"},
]
ORDER_CODES = [
    {"code": "TYPE2-K", "text": "Toner cartridge Type 2 black"},
    {"code": "TYPE2-C", "text": "Toner cartridge Type 2 cyan"},
    {"code": "DRUM-40", "text": "Drum unit 40k"},
]
# main 1.0.3 is no longer compatible: the office devices are judged incompatible with 2.0.0
# recommended; the campaign brings the firmware devices there.
COMPATIBILITY = {"model": harness.MODEL,
                 "units": {"main": {"compatible": [">=2.0.0 <3"], "recommended": "2.0.0"},
                           "controller": {"compatible": [">=2.1.0"], "recommended": "2.1.0"}}}


def put_table(relay, name, body):
    current = relay.ok_json("GET", f"/v1/tables/{name}")
    relay.ok_json("PUT", f"/v1/tables/{name}", {"body": body, "revision": current["revision"]})


def start_webhook_receiver(env):
    """A webhook endpoint on loopback that accepts every POST (the notifications page's rows)."""
    import http.server
    import threading

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env.cleanups.append(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}/printrelay-hook"


def print_pages(sim, serial, pages):
    before = ((sim.status(serial) or {}).get("counters") or {}).get("print")
    sim.control(serial, {"action": "print", "pages": pages})
    wait_until(lambda: ((sim.status(serial) or {}).get("counters") or {}).get("print") == before + pages,
               20, f"{serial} to print {pages} pages")


def collect(relay, serial, data_sets):
    job = relay.ok_json("POST", "/v1/jobs", {"serial": serial, "kind": "collect",
                                             "params": {"data_sets": data_sets}})
    wait_until(lambda: relay.job(job["id"])["job"]["state"] == "succeeded", 30,
               f"collect job {job['id']} on {serial} to succeed")
    return job["id"]


def setup(env, require_ui=True):
    """Relay, devices, readings, alerts, a campaign, a viewer. Returns what the driver needs."""
    relay = env.relay()
    relay.start("--notify-allow", "127.0.0.0/8")  # the webhook receiver is on loopback
    if require_ui:
        check_dashboard_served(relay)
    keys_dir = os.path.join(env.tmp, "keys")
    for k in ("vendor", "service"):
        env.relayctl_ok(relay, "keys", "create", k, "--dir", keys_dir)

    hook = start_webhook_receiver(env)
    put_table(relay, "error_codes", ERROR_CODES)
    put_table(relay, "order_codes", ORDER_CODES)
    put_table(relay, "compatibility", [COMPATIBILITY])
    put_table(relay, "notification_rules", [
        {"name": "service desk", "types": ["alert", "incompatible"], "webhooks": [hook],
         "emails": ["service-desk@example.com"]}])

    # Office devices (no service-center key: they run the dashboard's unsigned jobs).
    office = harness.Sim(env, relay, devices=4, name="office", long_poll_wait_s=20, poll_interval_s=30)
    for s in office.serials():
        place, customer = PLACES[s]
        relay.ok_json("POST", "/v1/registrations",
                      {"serial": s, "model": harness.MODEL, "enrollment_code": harness.ENROLLMENT_CODE,
                       "place": place, "customer": customer, "contact": "it@example.com"})
    # Firmware devices: trust the vendor and service keys, so the campaign's signed jobs run.
    fw = harness.Sim(env, relay, devices=len(FW_DEVICES), name="fw", prefix="FW-", long_poll_wait_s=20,
                     poll_interval_s=30,
                     extra=["--vendor-key", os.path.join(keys_dir, "vendor.pub"),
                            "--job-key", os.path.join(keys_dir, "service.pub"),
                            "--firmware-write-ms", "200"])
    for i, s in enumerate(fw.serials()):
        relay.ok_json("POST", "/v1/registrations",
                      {"serial": s, "model": harness.MODEL, "enrollment_code": harness.ENROLLMENT_CODE,
                       "place": f"Branch {i + 1}, print corner", "customer": "Umbrella Ltd",
                       "contact": "ops@umbrella.example"})
    office.start()
    fw.start()
    relay.wait_enrolled(office.serials() + fw.serials(), timeout=60)
    office.wait_status()
    fw.wait_status()

    # The campaign: main 2.0.0 on the three firmware devices, one wave then the rest.
    img = os.path.join(env.tmp, "main.bin")
    with open(img, "wb") as f:
        f.write(os.urandom(30_000))
    out = env.relayctl_json(relay, "artifact", "push", img, "--kind", "firmware", "--model", harness.MODEL,
                            "--component", "main", "--version", "2.0.0", "--key", "vendor",
                            "--dir", keys_dir)
    sha = out.get("artifact", out)["sha256"]
    serial_file = os.path.join(env.tmp, "serials.txt")
    with open(serial_file, "w") as f:
        f.write("\n".join(fw.serials()) + "\n")
    created = env.relayctl_json(relay, "campaigns", "create", "--name", "main 2.0.0 for Umbrella",
                                "--serials-file", serial_file, "--artifact", sha, "--wave", "1",
                                "--wave", "rest", "--failure-threshold", "1",
                                "--sign-key", "service", "--write-estimate-s", "5",
                                # The simulated office prints now and then: a device busy at the
                                # update time tries again in 2 s, not the default 20 min.
                                "--deferral-step-s", "2",
                                env={"PRINTRELAY_KEYS_DIR": keys_dir}, timeout=60)
    campaign = created.get("campaign", created)["id"]

    # Meter readings over time on DEVICE: pages printed between collect jobs.
    for pages in (120, 45, 300):
        print_pages(office, DEVICE, pages)
        collect(relay, DEVICE, ["counters", "supplies"])
    collect(relay, DEVICE, ["structure", "settings", "identification"])

    # Three service calls: one is acknowledged in the browser, one with the keyboard alone, the
    # third stays open.
    office.control(ALERT_DEVICE, {"action": "fault", "code": ALERT_CODE, "sc_type": "A"})
    office.control(OTHER_ALERT_DEVICE, {"action": "fault", "code": "SC320", "sc_type": "B"})
    office.control(KEYBOARD_ALERT_DEVICE, {"action": "fault", "code": KEYBOARD_ALERT_CODE, "sc_type": "B"})

    def alerts_open():
        open_ = relay.ok_json("GET", "/v1/alerts")["alerts"]
        return {a["serial"] for a in open_} >= {ALERT_DEVICE, OTHER_ALERT_DEVICE, KEYBOARD_ALERT_DEVICE} and open_
    wait_until(alerts_open, 20, "the three service-call alerts to open")

    def campaign_done():
        c = relay.ok_json("GET", f"/v1/campaigns/{campaign}")["campaign"]
        return c["state"] == "done" and c
    c = wait_until(campaign_done, 120, f"campaign {campaign} to finish", interval=0.5)
    check(c["tally"]["completed"] == len(FW_DEVICES), f"campaign tally: {c['tally']}")

    viewer = relay.ok_json("POST", "/v1/credentials", {"name": "helpdesk", "role": "viewer"})["token"]
    return {
        "relay": relay,
        "office": office,
        "env": {
            "DASHBOARD_URL": relay.url + "/",
            "ADMIN_TOKEN": relay.admin_token,
            "ADMIN_NAME": "admin",
            "VIEWER_TOKEN": viewer,
            "IGNORE_HTTPS_ERRORS": "1",  # the relay's own test CA
            "DEVICE_SERIAL": DEVICE,
            "DEVICE_COUNT": str(len(office.serials()) + len(fw.serials())),
            "ALERT_SERIAL": ALERT_DEVICE,
            "ALERT_CODE": ALERT_CODE,
            "ALERT_TEXT": ERROR_CODES[0]["text"],
            "ALERT_ACTION": ERROR_CODES[0]["action"],
            "EXPECT_VERDICT": "incompatible",
            "EXPECT_RECOMMENDED": "main=2.0.0",
            "OTHER_ALERT_SERIAL": OTHER_ALERT_DEVICE,
            "KEYBOARD_ALERT_SERIAL": KEYBOARD_ALERT_DEVICE,
            "KEYBOARD_ALERT_CODE": KEYBOARD_ALERT_CODE,
            "ESCAPE_SERIAL": ESCAPE_DEVICE,
            "ESCAPE_PLACE": ESCAPE_PLACE,
            "ESCAPE_CUSTOMER": ESCAPE_CUSTOMER,
            "CAMPAIGN_ID": campaign,
            "CAMPAIGN_DEVICES": str(len(FW_DEVICES)),
        },
    }


def check_dashboard_served(relay):
    a = relay.get("/", token=None)
    check(a.status == 200 and "<html" in a.raw.lower(),
          f"relayd must serve the dashboard at / without a credential: {a!r}")
    js = relay.get("/ui/app.js", token=None)
    check(js.status == 200 and "import" in js.raw, f"relayd must serve /ui/app.js: {js!r}")


def test(env):
    node = require_browser()
    shots = screenshot_dir()
    world = setup(env)
    relay = world["relay"]

    denv = harness.clean_environ()
    denv.update(world["env"])
    denv["SCREENSHOT_DIR"] = shots
    log_path = os.path.join(env.log_dir, "dashboard-browser.log")
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            r = subprocess.run([node, DRIVER], cwd=BROWSER_DIR, env=denv, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=240,
                               preexec_fn=harness._die_with_parent)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout (240 s)"
    with open(log_path) as f:
        out = f.read()
    sys.stdout.write(out)
    print(f"browser test: exit {rc} after {time.monotonic() - started:.1f} s; screenshots in {shots}",
          flush=True)
    check(rc == 0, f"the browser test failed (exit {rc}); its output is above, screenshots in {shots}")
    pngs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(shots, "*.png")))
    check(len(pngs) >= 10, f"too few screenshots saved: {pngs}")

    # What the browser did, seen from the relay.
    closed = [a for a in relay.ok_json("GET", f"/v1/alerts?serial={ALERT_DEVICE}&all=1")["alerts"]
              if a["code"] == ALERT_CODE]
    check(closed and all(not a["open"] and a["acknowledged_by"] == "admin" for a in closed),
          f"the alert acknowledged in the browser: {closed}")
    by_keyboard = [a for a in relay.ok_json("GET", f"/v1/alerts?serial={KEYBOARD_ALERT_DEVICE}&all=1")["alerts"]
                   if a["code"] == KEYBOARD_ALERT_CODE]
    check(by_keyboard and all(not a["open"] and a["acknowledged_by"] == "admin" for a in by_keyboard),
          f"the alert acknowledged with the keyboard alone: {by_keyboard}")
    still = relay.ok_json("GET", f"/v1/alerts?serial={OTHER_ALERT_DEVICE}")["alerts"]
    check(still, "the viewer must not have closed the other alert")
    jobs = relay.ok_json("GET", "/v1/jobs?" + urllib.parse.urlencode({"serial": DEVICE, "all": "1"}))["jobs"]
    made = [j for j in jobs if j["kind"] == "collect" and j.get("execute_at")]
    check(made and made[0]["state"] == "succeeded" and made[0]["instructing_user"] == "admin",
          f"the collect job created in the browser (with an execution time): {made[:1]}")


def serve():
    env = harness.Env("dashboard-serve")
    try:
        world = setup(env, require_ui=False)
        print(json.dumps(world["env"], indent=2), flush=True)
        print(f"CA: {world['relay'].ca_file}\nCtrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        env.close()


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        serve()
    else:
        harness.run(test)
