#!/usr/bin/env python3
"""Helper of bench/tree_bench.sh (Python 3 standard library only).

  tree_bench.py enroll CONFIG.json
      Registers devices at one relay and enrols them (raw device API) at another, retrying the
      enrolment while the registration has not reached that relay yet (directory sync). Writes
      the device tokens, one a line.
  tree_bench.py latency CONFIG.json RESULTS
      For each topology: a raw device long-polls its relay; a job is POSTed at another relay;
      the time from just before the POST is sent to the moment the long-poll answers with the
      job is one sample. The device then posts acquired/started/succeeded, and the next job
      waits until the job shows succeeded where it was created (the events went all the way up)
      and every relay on the path holds its long-polls again. Appends one line per topology to
      RESULTS: "label<TAB>n<TAB>median_ms<TAB>p95_ms<TAB>min_ms<TAB>max_ms<TAB>missed_wakeups".

Every wait is bounded; any failure exits non-zero with a message on stderr.
"""

import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

MODEL = "MX-4070"
CODE = "bench-tree-code"
EVENT_AT = "2026-11-23T09:15:00.000Z"


class Fail(Exception):
    pass


def log(msg):
    print(f"tree_bench: {msg}", flush=True)


class Client:
    """Keep-alive HTTP(S) connection to one relay, reopened after any error."""

    def __init__(self, url, ca, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca) if self.https else None
        self.timeout = timeout
        self.conn = None

    def _open(self, timeout):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, timeout=None):
        timeout = timeout or self.timeout
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._open(timeout)
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                res = self.conn.getresponse()
                raw = res.read()
                if (res.getheader("Connection") or "").lower() == "close":
                    self.close()
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode(errors="replace")
                return res.status, payload
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed meanwhile: once more on a new one.
                self.close()
                if attempt == 2:
                    raise
            except Exception:
                self.close()
                raise

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


def waiting_gauge(client):
    """printrelay_long_polls_waiting of one relay (held device polls + child-sync keys)."""
    status, text = client.request("GET", "/metrics", timeout=10)
    if status != 200 or not isinstance(text, str):
        raise Fail(f"/metrics answered {status}")
    for line in text.splitlines():
        if line.startswith("printrelay_long_polls_waiting"):
            return float(line.split()[-1])
    raise Fail("no printrelay_long_polls_waiting in /metrics")


def wait_until(cond, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def register(client, admin, serial):
    status, ans = client.request("POST", "/v1/registrations", {
        "serial": serial, "model": MODEL, "place": "bench", "customer": "bench",
        "contact": "bench@example.com", "enrollment_code": CODE}, token=admin)
    if status not in (200, 201):
        raise Fail(f"registering {serial}: HTTP {status} {ans}")


def enroll(client, serial, timeout=90):
    """Enrols `serial`; a 404 means the registration has not reached this relay yet."""
    t0 = time.monotonic()
    while True:
        status, ans = client.request("POST", "/v1/device/enroll",
                                     {"serial": serial, "model": MODEL, "enrollment_code": CODE})
        if status in (200, 201):
            return ans["device_token"], time.monotonic() - t0
        if status != 404:
            raise Fail(f"enrolling {serial}: HTTP {status} {ans}")
        if time.monotonic() - t0 > timeout:
            raise Fail(f"{serial} still unknown at the enrolling relay after {timeout} s "
                       f"(directory sync): {ans}")
        time.sleep(0.1)


def cmd_enroll(cfg):
    reg = Client(cfg["register_url"], cfg["ca"])
    enr = Client(cfg["enroll_url"], cfg["ca"])
    serials = [f"{cfg['prefix']}{i:04d}" for i in range(1, cfg["count"] + 1)]
    for s in serials:
        register(reg, cfg["admin"], s)
    with open(cfg["out"], "w") as f:
        for s in serials:
            token, _ = enroll(enr, s)
            f.write(token + "\n")
    log(f"registered and enrolled {len(serials)} devices ({serials[0]}..{serials[-1]})")


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


class Topology:
    def __init__(self, cfg, t):
        relays = cfg["relays"]
        self.label = t["label"]
        self.serial = t["serial"]
        self.ca = cfg["ca"]
        self.wait_s = cfg.get("wait_s", 20)
        self.register_at = relays[t["register_at"]]
        self.create_at = relays[t["create_at"]]
        self.device_at = relays[t["device_at"]]
        self.path = [relays[n] for n in t["path"]]  # relays whose long-polls carry the job
        self.path_names = t["path"]
        self.device_name = t["device_at"]
        self.admin = Client(self.create_at["url"], self.ca)
        self.device = Client(self.device_at["url"], self.ca, timeout=self.wait_s + 30)
        self.events = Client(self.device_at["url"], self.ca)
        self.metrics = {n: Client(relays[n]["url"], self.ca) for n in t["path"]}
        self.token = None
        self.baseline = {}
        self.missed = 0

    def setup(self):
        reg = Client(self.register_at["url"], self.ca)
        register(reg, self.register_at["admin"], self.serial)
        reg.close()
        self.token, took = enroll(self.device, self.serial)
        log(f"{self.label}: {self.serial} enrolled at {self.device_name} "
            f"({took:.1f} s after its registration at the root)")
        # An idle poll, so the relay counts the device as served (and tells its parent).
        self.poll(0)

    def poll(self, wait_s):
        status, ans = self.device.request("POST", "/v1/device/poll",
                                          {"boot_id": "bench", "state": "idle", "wait_s": wait_s},
                                          token=self.token, timeout=wait_s + 30)
        if status != 200:
            raise Fail(f"{self.label}: poll answered HTTP {status} {ans}")
        return ans

    def measure_baseline(self):
        """The long-poll gauge of each relay on the path with the device not polling: the child
        syncs held there. Before each job the device's relay must show one more (its poll)."""
        time.sleep(1.0)
        self.baseline = {n: waiting_gauge(c) for n, c in self.metrics.items()}

    def ready(self):
        """Every relay on the path holds what it held at the baseline (the child syncs)."""
        return all(waiting_gauge(c) >= self.baseline[n] for n, c in self.metrics.items())

    def finish(self, job_id):
        for kind in ("acquired", "started", "succeeded"):
            ev = {"event_id": f"e-{job_id}-{kind}", "type": kind, "at": EVENT_AT}
            if kind == "succeeded":
                ev["detail"] = {"report_ids": []}
            status, ans = self.events.request("POST", f"/v1/device/jobs/{job_id}/events", ev,
                                              token=self.token)
            if status != 200:
                raise Fail(f"{self.label}: job event {kind} for {job_id}: HTTP {status} {ans}")

        def succeeded():
            status, ans = self.admin.request("GET", f"/v1/jobs/{job_id}",
                                             token=self.create_at["admin"])
            if status != 200:
                raise Fail(f"{self.label}: GET /v1/jobs/{job_id}: HTTP {status} {ans}")
            return ans["job"]["state"] == "succeeded"
        wait_until(succeeded, 30, f"{self.label}: job {job_id} to show succeeded where it was "
                                  f"created", interval=0.02)

    def one_job(self, timeout=30):
        """One sample in seconds: POST /v1/jobs at create_at -> long-poll answer with the job."""
        wait_until(self.ready, 15, f"{self.label}: the long-polls on {self.path_names} to be held "
                                   f"again (baseline {self.baseline})", interval=0.005)
        box = {}

        def long_poll():
            try:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    ans = self.poll(self.wait_s)
                    at = time.monotonic()
                    jobs = [j["id"] for j in ans.get("jobs", [])]
                    if jobs:
                        box["at"], box["jobs"] = at, jobs
                        return
                    if box.get("posted"):
                        box["empty_after_post"] = box.get("empty_after_post", 0) + 1
                box["error"] = f"no job within {timeout} s"
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                box["error"] = repr(e)

        th = threading.Thread(target=long_poll, daemon=True)
        th.start()
        # The relay must hold the device's poll before the job is created.
        dev = self.metrics[self.device_name]
        want = self.baseline[self.device_name] + 1
        wait_until(lambda: "error" in box or "jobs" in box or waiting_gauge(dev) >= want, 10,
                   f"{self.label}: the device's long-poll to be held", interval=0.005)
        if "jobs" in box or "error" in box:
            raise Fail(f"{self.label}: before any job was created the poll gave {box}")
        box["posted"] = True
        t0 = time.monotonic()
        status, ans = self.admin.request("POST", "/v1/jobs", {
            "serial": self.serial, "kind": "collect", "params": {"data_sets": ["counters"]}},
            token=self.create_at["admin"])
        if status != 201:
            raise Fail(f"{self.label}: POST /v1/jobs: HTTP {status} {ans}")
        th.join(timeout + 5)
        if "at" not in box:
            raise Fail(f"{self.label}: job {ans['id']}: {box.get('error', 'long-poll did not end')}")
        if box["jobs"] != [ans["id"]]:
            raise Fail(f"{self.label}: the device got {box['jobs']}, expected [{ans['id']}]")
        latency = box["at"] - t0
        if box.get("empty_after_post"):
            # The wake-up was missed and the wait ran out; the sample stays in (an outlier).
            self.missed += 1
            log(f"WARNING {self.label}: job {ans['id']}: the long-poll answered empty after the "
                f"job was posted; delivered {latency * 1000:.0f} ms after the POST")
        self.finish(ans["id"])
        return latency


def cmd_latency(cfg, results_path):
    topologies = [Topology(cfg, t) for t in cfg["topologies"]]
    for t in topologies:
        t.setup()
    rows = []
    for t in topologies:
        t.measure_baseline()
        for _ in range(cfg.get("warmup", 2)):
            t.one_job()
        samples = sorted(t.one_job() * 1000 for _ in range(cfg["jobs"]))
        med = percentile(samples, 50)
        p95 = percentile(samples, 95)
        log(f"{t.label}: {len(samples)} jobs, median {med:.1f} ms, p95 {p95:.1f} ms, "
            f"min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms")
        rows.append(f"{t.label}\t{len(samples)}\t{med:.1f}\t{p95:.1f}\t{samples[0]:.1f}\t"
                    f"{samples[-1]:.1f}\t{t.missed}\n")
    with open(results_path, "a") as f:
        f.writelines(rows)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("enroll", "latency"):
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[2]) as f:
        cfg = json.load(f)
    try:
        if sys.argv[1] == "enroll":
            cmd_enroll(cfg)
        else:
            cmd_latency(cfg, sys.argv[3])
    except Fail as e:
        sys.stderr.write(f"tree_bench: FAILED: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
