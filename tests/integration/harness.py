"""Shared scaffolding for the integration tests: real relayd, mfp-sim and relayctl processes on
127.0.0.1, a temp directory per test, and clients for the admin and device APIs.

Contracts the tests rely on:
- every process a test starts is killed when the test ends, whatever happens (atexit, SIGTERM
  from a CTest timeout, and PR_SET_PDEATHSIG if this interpreter itself is killed -9);
- when a test fails, the log of every process it started is printed before it exits non-zero;
- the temp directory is removed at the end (kept when PRINTRELAY_KEEP_TMP=1, for debugging).

Binaries are looked up under $PRINTRELAY_BIN (the build's apps/ directory), else ../../build/apps.
"""

import atexit
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("PRINTRELAY_BIN") or os.path.join(HERE, "..", "..", "build", "apps")
TOOLS_DIR = os.path.join(HERE, "..", "tools")
DEBIAN_PYTHON = "/usr/bin/python3"  # aiosmtpd (smtp_server.py) is Debian's package, for its python

MODEL = "MX-4070"
ENROLLMENT_CODE = "k3y-2026"


class TestFailure(AssertionError):
    pass


def check(cond, message):
    """Fails the test with `message` unless `cond` holds."""
    if not cond:
        raise TestFailure(message)


def binary(name):
    path = os.path.join(BIN_DIR, name, name)
    if not os.path.exists(path):
        raise TestFailure(f"binary not built: {path} (build the {name} target first)")
    return path


def wait_until(cond, timeout, what="condition", interval=0.05):
    """Polls cond() until it returns something truthy; returns that value. Fails the test with
    `what` after `timeout` seconds (the last exception raised by cond, if any, is quoted)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except TestFailure:
            raise
        except Exception as e:  # a half-written file, a refused connection: try again
            last_error = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_error!r})" if last_error else ""
            raise TestFailure(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(interval)


def free_port():
    """A TCP port nothing listens on right now (bind to 0, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def netns_exec(ns, argv):
    """argv run inside the network namespace `ns` (`ip netns exec`, which execs the command, so
    the pid is the command's own). `ns` None: argv unchanged."""
    return (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in argv]


def clean_environ():
    """os.environ without proxy settings: libcurl honours http_proxy/no_proxy from the
    environment, which would reroute (or un-proxy) the loopback traffic the tests control."""
    return {k: v for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}


def _die_with_parent():
    # Runs in the child between fork and exec: if the test interpreter dies (even by -9), the
    # kernel sends SIGKILL to the child, so no relayd or sim outlives its test.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _as_user(pw):
    """preexec_fn: die with the parent, then drop to the system user `pw` (a pwd entry)."""
    def run():
        _die_with_parent()
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return run


class Process:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(self, env, name, argv, extra_env=None, stdout_pipe=False, user=None):
        self.env = env
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(env.log_dir, f"{name}.log")
        self.lines = []  # (monotonic time, line) when stdout_pipe
        self._lines_cv = threading.Condition()
        penv = clean_environ()
        if extra_env:
            penv.update(extra_env)
        self._log = open(self.log_path, "ab", buffering=0)
        self._log.write(("$ " + " ".join(argv) + "\n").encode())
        preexec = _die_with_parent if user is None else _as_user(user)
        if stdout_pipe:
            self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log,
                                          stdin=subprocess.DEVNULL, env=penv,
                                          preexec_fn=_die_with_parent)
            self._reader = threading.Thread(target=self._read_stdout, daemon=True)
            self._reader.start()
        else:
            self.popen = subprocess.Popen(argv, stdout=self._log, stderr=self._log,
                                          stdin=subprocess.DEVNULL, env=penv,
                                          preexec_fn=preexec)
        env.processes.append(self)

    def _read_stdout(self):
        for raw in self.popen.stdout:
            at = time.monotonic()
            line = raw.decode(errors="replace").rstrip("\n")
            self._log.write(raw)
            with self._lines_cv:
                self.lines.append((at, line))
                self._lines_cv.notify_all()
        with self._lines_cv:
            self._lines_cv.notify_all()

    def wait_line(self, index, timeout):
        """Waits for the index-th stdout line (0-based); returns (monotonic time, line)."""
        deadline = time.monotonic() + timeout
        with self._lines_cv:
            while len(self.lines) <= index:
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    raise TestFailure(f"{self.name}: no stdout line #{index + 1} within {timeout} s "
                                      f"(exit code {self.popen.poll()})")
                self._lines_cv.wait(min(left, 0.1))
            return self.lines[index]

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.popen.poll() is None

    def kill9(self):
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL if it does not exit within `timeout`. Returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.send_signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        return self.popen.returncode

    def close(self):
        try:
            if self.alive():
                self.popen.send_signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        except Exception:
            pass
        try:
            self._log.close()
        except Exception:
            pass


class HttpAnswer:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        return f"HTTP {self.status} {self.raw[:400]!r}"


class Relay:
    """One relayd: `init` on its own data dir, then `start`/`kill9`/`restart` on a fixed port."""

    def __init__(self, env, name="relayd", plain_http=False, postgres=None, admin_name=None):
        self.env = env
        self.name = name
        self.plain_http = plain_http
        self.postgres = postgres
        self.data_dir = os.path.join(env.tmp, name)
        self.port = free_port()
        self.proc = None
        self.run_args = []
        # Put before relayd's own argv by start(), e.g. ["prlimit", "--nofile=64:64", "--"]: the
        # wrapper must exec relayd, so that the process started is relayd itself.
        self.command_prefix = []
        self.starts = 0
        argv = [binary("relayd"), "init", "--data-dir", self.data_dir, "--host", "127.0.0.1",
                "--host", "localhost", "--port", str(self.port)]
        if plain_http:
            argv.append("--plain-http")
        if postgres:
            argv += ["--postgres", postgres]
        if admin_name:
            argv += ["--admin-name", admin_name]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"relayd init failed ({r.returncode}): {r.stdout}{r.stderr}")
        made = ["tls/ca.pem", "tls/server.pem", "tls/server.key", "admin.token", "relayctl.json"]
        if not postgres:
            made.append("relayd.db")
        for f in made:
            check(os.path.exists(os.path.join(self.data_dir, f)),
                  f"relayd init did not create {f} in {self.data_dir}")
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            self.admin_token = f.read().strip()
        self.ca_file = os.path.join(self.data_dir, "tls", "ca.pem")
        self.config_file = os.path.join(self.data_dir, "relayctl.json")
        scheme = "http" if plain_http else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._ssl = None
        if not plain_http:
            self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def share_pki_of(self, other):
        """Serves with `other`'s CA and server certificate (both cover 127.0.0.1), as two relays
        of one service center would. Call before start()."""
        for f in ("ca.pem", "server.pem", "server.key"):
            shutil.copyfile(os.path.join(other.data_dir, "tls", f), os.path.join(self.data_dir, "tls", f))
        if not self.plain_http:
            self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def start(self, *args, ready_timeout=30):
        """Starts `relayd run` and waits until it prints that it listens. Later calls (restart)
        reuse the previous extra arguments when none are given."""
        if args:
            self.run_args = list(args)
        argv = self.command_prefix + [binary("relayd"), "run", "--data-dir", self.data_dir,
                                      "--listen", f"127.0.0.1:{self.port}"] + self.run_args
        if self.plain_http:
            argv.append("--plain-http")
        if self.postgres:
            argv += ["--postgres", self.postgres]
        self.starts += 1
        self.proc = Process(self.env, f"{self.name}-{self.starts}", argv)
        marker = f"listening on {'http' if self.plain_http else 'https'}://127.0.0.1:{self.port}"
        wait_until(lambda: self._ready(marker), ready_timeout, f"{self.name} to listen on {self.port}")
        return self

    def _ready(self, marker):
        if not self.proc.alive():
            raise TestFailure(f"{self.name} exited with {self.proc.popen.returncode} before listening:\n"
                              + self.proc.log_text()[-3000:])
        return marker in self.proc.log_text()

    def kill9(self):
        self.proc.kill9()

    def stop(self):
        return self.proc.stop()

    def restart(self):
        if self.proc and self.proc.alive():
            self.proc.stop()
        return self.start()

    def wait_healthy(self, timeout, what="/healthz to answer 200"):
        """Waits until GET /healthz (no credential, a fresh connection each try) answers 200."""
        wait_until(lambda: self.get("/healthz", token=None, timeout=5).status == 200, timeout,
                   f"{self.name}: {what}")

    # ---- HTTP ----
    def connection(self, timeout=30):
        if self.plain_http:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self._ssl)

    def request(self, method, path, body=None, token="admin", raw=None, headers=None, timeout=30):
        """One request on a fresh connection. `token`: "admin" (the init credential), None (no
        Authorization header) or a token string. `body` is JSON-encoded; `raw` is sent as is."""
        h = {"Accept": "application/json"}
        if headers:
            h.update(headers)
        if token == "admin":
            token = self.admin_token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            res = conn.getresponse()
            payload = res.read()
            return HttpAnswer(res.status, dict(res.getheaders()), payload.decode(errors="replace"))
        finally:
            conn.close()

    def post_early_answer(self, path, data, token="admin", timeout=10):
        """POSTs a body the relay is expected to refuse from its headers alone (413): sends the
        headers, waits for an early answer, and only then (if none came) the body, the way curl
        does. http.client would write the whole body first and die on the reset."""
        if token == "admin":
            token = self.admin_token
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                + (f"Authorization: Bearer {token}\r\n" if token else "") + "\r\n").encode()
        sock = self.open_socket(timeout=timeout)
        try:
            sock.sendall(head)
            sock.settimeout(2)
            got = b""
            try:
                got = sock.recv(65536)
            except (socket.timeout, TimeoutError):
                try:
                    sock.sendall(data)
                except OSError:
                    pass
            sock.settimeout(timeout)
            answer = read_answer(sock, got)
            check(answer is not None, f"POST {path}: no answer to an oversized body")
            return answer
        finally:
            sock.close()

    def open_socket(self, tls=True, timeout=10, source_address=None):
        """A socket connected to the relay, for a test that writes the bytes itself: TLS with the
        handshake done, or plain TCP with nothing sent when `tls` is False (or the relay serves
        plain HTTP)."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout,
                                       source_address=source_address)
        if not tls or self.plain_http:
            return raw
        try:
            return self._ssl.wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def ok_json(self, method, path, body=None, expect=(200, 201), **kw):
        a = self.request(method, path, body=body, **kw)
        check(a.status in expect, f"{method} {path} on {self.name}: expected {expect}, got {a!r}")
        return a.json

    # ---- domain shortcuts ----
    def register(self, serial, model=MODEL, code=ENROLLMENT_CODE, place=None):
        self.ok_json("POST", "/v1/registrations",
                     {"serial": serial, "model": model, "enrollment_code": code,
                      "place": place or f"Floor 3, {serial}", "customer": "ACME Corp",
                      "contact": "it@acme.example"})

    def enroll(self, serial, model=MODEL, code=ENROLLMENT_CODE):
        """Enrolls `serial` directly (a raw device); returns its device token."""
        j = self.ok_json("POST", "/v1/device/enroll",
                         {"serial": serial, "model": model, "enrollment_code": code}, token=None)
        return j["device_token"]

    def devices(self):
        return self.ok_json("GET", "/v1/devices")["devices"]

    def credential(self, name, role):
        """Creates admin-API credential `name` with `role` (viewer, operator, admin) through the
        API; returns its token."""
        return self.ok_json("POST", "/v1/credentials", {"name": name, "role": role})["token"]

    def job(self, job_id):
        return self.ok_json("GET", f"/v1/jobs/{job_id}")

    def jobs(self, query=""):
        return self.ok_json("GET", "/v1/jobs" + (f"?{query}" if query else ""))["jobs"]

    def reports(self, serial=None, kind=None, limit=1000):
        """The newest `limit` reports (one page)."""
        q = {"limit": str(limit)}
        if serial:
            q["serial"] = serial
        if kind:
            q["kind"] = kind
        return self.ok_json("GET", "/v1/reports?" + urllib.parse.urlencode(q))["reports"]

    def all_reports(self, serial):
        """Every report of `serial`, oldest first, paging with after=<reception_no>."""
        out = []
        after = 0
        while True:
            q = urllib.parse.urlencode({"serial": serial, "limit": "1000", "after": str(after)})
            page = self.ok_json("GET", f"/v1/reports?{q}")["reports"]
            out.extend(page)
            if len(page) < 1000:
                return out
            after = int(page[-1]["reception_no"])

    def push_firmware(self, env, image, sha, version="4.2.0", key="vendor"):
        """Signs `image` (SHA-256 `sha`) with a new key `key` made in TMP/keys and pushes it with
        relayctl as firmware for MODEL's main component; checks the relay took it."""
        keys_dir = os.path.join(env.tmp, "keys")
        env.relayctl_ok(self, "keys", "create", key, "--dir", keys_dir)
        out = env.relayctl_json(self, "artifact", "push", image, "--kind", "firmware", "--version",
                                version, "--model", MODEL, "--component", "main", "--key", key,
                                "--dir", keys_dir)
        check(out.get("artifact", {}).get("sha256") == sha, f"artifact push answered {out}")
        return out["artifact"]

    def metrics(self):
        """/metrics with the admin credential (relayd serves it to viewers and above)."""
        a = self.get("/metrics")
        check(a.status == 200, f"/metrics: {a!r}")
        return a.raw

    def wait_enrolled(self, serials, timeout=30):
        want = set(serials)

        def enrolled():
            return want <= {d["serial"] for d in self.devices()}
        wait_until(enrolled, timeout, f"devices {sorted(want)} to enrol with {self.name}")


def metric_value(text, name, labels=None):
    """Sum of the samples of `name` whose labels include `labels` (dict); None if absent."""
    total = None
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest and rest[0] not in "{ ":
            continue  # a longer metric name
        lab = ""
        if rest.startswith("{"):
            lab, rest = rest[1:].split("}", 1)
        if labels:
            have = dict(kv.split("=", 1) for kv in _split_labels(lab))
            if any(have.get(k) != f'"{v}"' for k, v in labels.items()):
                continue
        total = (total or 0) + float(rest.split()[0])
    return total


def _split_labels(lab):
    parts, cur, quoted = [], "", False
    for ch in lab:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def read_answer(sock, got=b""):
    """Reads one HTTP response from `sock`, `got` being its first bytes if already read. Returns
    an HttpAnswer (a "100 Continue" is an answer too), or None when the peer closes before a
    whole header has come. The body is read as far as Content-Length says."""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        got += chunk
    header, body = got.split(b"\r\n\r\n", 1)
    lines = header.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return HttpAnswer(status, headers, body.decode(errors="replace"))


def wait_closed(sock, timeout, what="the relay to close the connection"):
    """Reads `sock` until the peer closes it (end of stream or a reset) and returns the bytes it
    sent before; fails the test if it is still open after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"timed out after {timeout} s waiting for {what} "
                              f"(received {got[:300]!r})")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionError, ssl.SSLError):
            return got
        if not chunk:
            return got
        got += chunk


class Sim:
    """One mfp-sim process running N devices SIM-0001.. under its own state dir."""

    def __init__(self, env, relays, devices=1, name="mfp-sim", prefix="SIM-", extra=(),
                 proxy=None, seed=7, long_poll_wait_s=5, poll_interval_s=2, speed="1", ca=None):
        self.env = env
        self.name = name
        self.prefix = prefix
        self.count = devices
        self.state_dir = os.path.join(env.tmp, name)
        os.makedirs(os.path.join(self.state_dir, "control"), exist_ok=True)
        self.relays = relays if isinstance(relays, (list, tuple)) else [relays]
        argv = [binary("mfp-sim")]
        for r in self.relays:
            argv += ["--relay", r.url]
        argv += ["--enrollment-code", ENROLLMENT_CODE, "--devices", str(devices),
                 "--serial-prefix", prefix, "--model", MODEL, "--state-dir", self.state_dir,
                 "--ca", ca or self.relays[0].ca_file, "--seed", str(seed), "--speed", str(speed),
                 "--long-poll-wait-s", str(long_poll_wait_s),
                 "--poll-interval-s", str(poll_interval_s)]
        if proxy:
            argv += ["--proxy", proxy]
        argv += list(extra)
        self.argv = argv
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.proc = Process(self.env, f"{self.name}-{self.starts}", self.argv)
        return self

    def serials(self):
        return [f"{self.prefix}{i:04d}" for i in range(1, self.count + 1)]

    def status(self, serial):
        """DIR/<serial>/status.json, or None while it does not exist / is being rewritten."""
        try:
            with open(os.path.join(self.state_dir, serial, "status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def receipts(self, serial):
        """The receipts the agent accepted (DIR/<serial>/receipts.log), complete lines only."""
        out = []
        try:
            with open(os.path.join(self.state_dir, serial, "receipts.log")) as f:
                data = f.read()
        except OSError:
            return out
        for line in data.split("\n")[:-1]:  # the last piece is empty or still being written
            if line.strip():
                out.append(json.loads(line))
        return out

    def control(self, serial, action):
        """Writes the panel/test control file atomically; returns the monotonic time of the
        rename (the moment the sim can see it)."""
        d = os.path.join(self.state_dir, "control")
        tmp = os.path.join(d, f".{serial}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(action, f)
        os.replace(tmp, os.path.join(d, f"{serial}.json"))
        return time.monotonic()

    def outbox_size(self, serial):
        st = self.status(serial)
        if st is None:
            return None
        for key in ("outbox_size", "outbox"):
            if key in st:
                v = st[key]
                return len(v) if isinstance(v, list) else v
        agent = st.get("agent") or {}
        return agent.get("outbox_size")

    def relay_url(self, serial):
        st = self.status(serial) or {}
        return st.get("relay_url") or (st.get("agent") or {}).get("relay_url")

    def wait_status(self, timeout=30):
        wait_until(lambda: all(self.status(s) for s in self.serials()), timeout,
                   f"{self.name} to write status.json for {self.serials()}")


def start_tool(env, name, args):
    """Starts the test server tests/tools/<name>.py (smtp_server, webhook_receiver) with `args`
    and waits for its `listening <port>` line. Returns (process, port); the server listens on
    127.0.0.1, so a relay that notifies it needs --notify-allow 127.0.0.0/8."""
    if not os.path.exists(DEBIAN_PYTHON):
        raise TestFailure(f"{DEBIAN_PYTHON} is missing (scripts/install-deps.sh)")
    proc = Process(env, name, [DEBIAN_PYTHON, os.path.join(TOOLS_DIR, name + ".py")] + list(args),
                   stdout_pipe=True)
    _, line = proc.wait_line(0, 20)
    check(line.startswith("listening "), f"{name} printed {line!r}")
    return proc, int(line.split()[1])


def start_fleet(env, relays, devices, **kw):
    """Registers SIM-0001.. on every relay, starts one mfp-sim, and waits until every device has
    enrolled with the first relay and written its status.json."""
    relays = relays if isinstance(relays, (list, tuple)) else [relays]
    sim = Sim(env, relays, devices, **kw)
    for r in relays:
        for s in sim.serials():
            r.register(s)
    sim.start()
    relays[0].wait_enrolled(sim.serials(), timeout=30)
    sim.wait_status()
    return sim


def find_key(obj, key):
    """The first value of `key` anywhere in a nested JSON value (settings may be nested)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


class Env:
    """One test's world: temp dir, processes, and cleanup."""

    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"printrelay-{name}-")
        self.log_dir = os.path.join(self.tmp, "logs")
        os.makedirs(self.log_dir)
        self.processes = []
        self.cleanups = []  # callables run by close() after every process is killed
        self.failed = False
        self._closed = False

    def relay(self, name="relayd", plain_http=False, postgres=None, admin_name=None):
        return Relay(self, name, plain_http, postgres, admin_name)

    def postgres(self):
        """Starts a throwaway PostgreSQL server (Debian's postgresql) on 127.0.0.1 and returns
        the libpq conninfo of a fresh database. As root the server runs as the `postgres` user.
        A server that cannot start fails the test."""
        import glob
        import pwd
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        check(bins, "no PostgreSQL server under /usr/lib/postgresql (scripts/install-deps.sh "
                    "installs Debian's postgresql)")
        bindir = os.path.dirname(bins[-1])
        pw = pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        root = os.path.join(self.tmp, "pg")
        data = os.path.join(root, "data")
        os.makedirs(root)
        os.chmod(self.tmp, 0o755)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        r = subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U",
                            "postgres", "--no-sync"], capture_output=True, text=True, timeout=120,
                           preexec_fn=_as_user(pw) if os.geteuid() == 0 else None)
        check(r.returncode == 0, f"initdb failed ({r.returncode}): {r.stdout}{r.stderr}")
        port = free_port()
        proc = Process(self, "postgres", [os.path.join(bindir, "postgres"), "-D", data,
                                          "-p", str(port), "-k", root,
                                          "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                       user=pw if os.geteuid() == 0 else None)

        def ready():
            check(proc.alive(), "the PostgreSQL test server exited at start (see postgres.log)")
            r = subprocess.run([os.path.join(bindir, "pg_isready"), "-h", "127.0.0.1", "-p",
                                str(port)], capture_output=True)
            return r.returncode == 0
        wait_until(ready, 60, "the PostgreSQL test server to accept connections")
        conninfo = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        return conninfo

    def sim(self, relays, devices=1, **kw):
        return Sim(self, relays, devices, **kw).start()

    def spawn(self, name, argv, extra_env=None, stdout_pipe=False):
        return Process(self, name, argv, extra_env, stdout_pipe)

    def relayctl(self, relay, *args, timeout=60, env=None, token=None, netns=None):
        """Runs relayctl against `relay` (PRINTRELAY_CONFIG = its relayctl.json, or PRINTRELAY_URL
        + TOKEN + CA when `token` is given), inside network namespace `netns` if given.
        Returns (rc, stdout, stderr)."""
        argv = netns_exec(netns, [binary("relayctl")] + [str(a) for a in args])
        penv = self.relayctl_env(relay, token)
        if env:
            penv.update(env)
        with open(os.path.join(self.log_dir, "relayctl.log"), "a") as log:
            log.write("$ " + " ".join(argv) + "\n")
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=penv,
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            except subprocess.TimeoutExpired as e:
                log.write(f"(timed out after {timeout} s)\n")
                raise TestFailure(f"relayctl {' '.join(map(str, args))} did not finish in {timeout} s: "
                                  f"{e.stdout!r} {e.stderr!r}")
            log.write(f"rc={r.returncode}\n{r.stdout}{r.stderr}\n")
        return r.returncode, r.stdout, r.stderr

    def relayctl_env(self, relay, token=None):
        penv = {k: v for k, v in clean_environ().items() if not k.startswith("PRINTRELAY_")}
        if token is None:
            penv["PRINTRELAY_CONFIG"] = relay.config_file
        else:
            penv.update({"PRINTRELAY_URL": relay.url, "PRINTRELAY_TOKEN": token,
                         "PRINTRELAY_CA": relay.ca_file})
        return penv

    def child_relay(self, parent, relay_id, *args, customers=("--all-customers",)):
        """A child relay `relay_id` of `parent`: its credential made at the parent (`relayctl
        relays add`, for `customers`), the parent's CA and certificate (one PKI for the tree), and
        `relayd run` pointed at the parent with any further `args`. Returns it started."""
        token = os.path.join(self.tmp, f"{relay_id}.token")
        self.relayctl_ok(parent, "relays", "add", relay_id, "--token-file", token, *customers)
        child = self.relay(relay_id)
        child.share_pki_of(parent)
        return child.start("--device-rate", "0", "--relay-id", relay_id, "--upstream", parent.url,
                           "--upstream-token-file", token, "--upstream-ca", parent.ca_file, *args)

    def signing_keys(self, relay, *names):
        """Makes Ed25519 signing keys `names` in TMP/keys with relayctl; returns that folder and
        the environment that points relayctl's job signing at it."""
        keys_dir = os.path.join(self.tmp, "keys")
        for k in names:
            self.relayctl_ok(relay, "keys", "create", k, "--dir", keys_dir)
        return keys_dir, {"PRINTRELAY_KEYS_DIR": keys_dir}

    def push_random_firmware(self, relay, keys_dir, size_bytes, version, key="vendor"):
        """Writes `size_bytes` random bytes to TMP/fw-VERSION.bin and pushes them with relayctl
        as firmware `version` for MODEL's main component, signed with `key`; returns the
        SHA-256."""
        image = os.path.join(self.tmp, f"fw-{version}.bin")
        with open(image, "wb") as f:
            f.write(os.urandom(size_bytes))
        out = self.relayctl_json(relay, "artifact", "push", image, "--kind", "firmware",
                                 "--model", MODEL, "--component", "main", "--version", version,
                                 "--key", key, "--dir", keys_dir)
        sha = out.get("artifact", {}).get("sha256", "")
        check(len(sha) == 64, f"artifact push answered {out}")
        return sha

    def relayctl_ok(self, relay, *args, **kw):
        rc, out, err = self.relayctl(relay, *args, **kw)
        check(rc == 0, f"relayctl {' '.join(map(str, args))} exited {rc}\nstdout: {out}\nstderr: {err}")
        return out

    def relayctl_json(self, relay, *args, **kw):
        out = self.relayctl_ok(relay, *args, "--json", **kw)
        try:
            return json.loads(out)
        except ValueError:
            raise TestFailure(f"relayctl {' '.join(map(str, args))} --json printed no JSON: {out!r}")

    def relayctl_spawn(self, relay, name, *args, netns=None):
        """A long-running relayctl (watch); its stdout lines are timestamped as they arrive."""
        return Process(self, name, netns_exec(netns, [binary("relayctl")] + [str(a) for a in args]),
                       extra_env=self.relayctl_env(relay), stdout_pipe=True)

    def dump_logs(self):
        sys.stderr.write(f"\n===== logs of {self.name} (temp dir {self.tmp}) =====\n")
        paths = [p.log_path for p in self.processes]
        extra = sorted(os.path.join(self.log_dir, f) for f in os.listdir(self.log_dir))
        for path in dict.fromkeys(paths + extra):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            lines = text.splitlines()
            if len(lines) > 150:
                lines = [f"... ({len(lines) - 150} earlier lines)"] + lines[-150:]
            sys.stderr.write(f"----- {os.path.basename(path)} -----\n" + "\n".join(lines) + "\n")
        sys.stderr.flush()

    def close(self):
        if self._closed:
            return
        self._closed = True
        for p in reversed(self.processes):
            p.close()
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as e:
                sys.stderr.write(f"cleanup {cleanup!r} failed: {e!r}\n")
        if self.failed:
            self.dump_logs()
        if os.environ.get("PRINTRELAY_KEEP_TMP") == "1":
            sys.stderr.write(f"kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run(test):
    """Runs test(env) with a fresh Env; exits 0 on success, 1 (after dumping logs) on failure."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    env = Env(name)

    def on_term(signum, _frame):
        env.failed = True
        sys.stderr.write(f"{name}: killed by signal {signum} (timeout?)\n")
        env.close()
        os._exit(2)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    atexit.register(env.close)
    started = time.monotonic()
    try:
        test(env)
    except BaseException as e:
        env.failed = True
        if isinstance(e, TestFailure):
            msg = f"FAIL {name}: {e}"
        else:
            msg = f"FAIL {name}: unexpected {type(e).__name__}: {e}\n{traceback.format_exc()}"
        sys.stderr.write(msg + "\n")
        env.close()
        sys.stderr.write(msg.splitlines()[0] + "\n")  # repeat after the logs, where it is seen
        sys.exit(1)
    env.close()
    print(f"PASS {name} ({time.monotonic() - started:.1f} s)")
    sys.exit(0)


def run_in_own_network(test):
    """Runs test(env) like run(), inside a network namespace of its own (`unshare --net`, which
    ends with the process): its loopback is private, so shape_loopback() slows only this test's
    links. unshare execs the interpreter again in place (same pid: CTest's signals still reach
    the test). Where namespaces cannot be made (not root) it prints "SKIPPED: ..." and exits 77,
    which CTest reports as skipped; with PRINTRELAY_REQUIRE_NETNS=1 (CI) it fails instead."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    path += [d for d in ("/usr/sbin", "/sbin") if d not in path]
    os.environ["PATH"] = os.pathsep.join(path)
    if os.environ.get("PRINTRELAY_OWN_NETNS") != "1":
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
        if probe.returncode != 0 or not shutil.which("tc"):
            reason = probe.stderr.strip() or "tc (iproute2) is missing"
            name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
            if os.environ.get("PRINTRELAY_REQUIRE_NETNS") == "1":
                sys.stderr.write(f"FAIL {name}: cannot make a network namespace: {reason} "
                                 "(PRINTRELAY_REQUIRE_NETNS=1)\n")
                sys.exit(1)
            print(f"SKIPPED: cannot make a network namespace: {reason} (needs root)")
            sys.exit(77)
        os.environ["PRINTRELAY_OWN_NETNS"] = "1"
        sys.stdout.flush()
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)
    # An Ethernet-sized MTU: tc's token bucket then meters WAN-sized packets, not 64 KiB ones.
    for cmd in (["ip", "link", "set", "lo", "mtu", "1500"], ["ip", "link", "set", "lo", "up"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}")
    run(test)


def shape_loopback(from_port, rate_kbit):
    """Limits what is sent from TCP port `from_port` on this namespace's loopback to `rate_kbit`
    kbit/s (a token bucket), as a WAN link from the server on that port would; everything else
    goes unshaped. Only inside run_in_own_network()."""
    check(os.environ.get("PRINTRELAY_OWN_NETNS") == "1", "shape_loopback outside a test namespace")
    # HTB: this kernel has tbf and htb but not prio; class 1:10 (everything else) is not held.
    cmds = [["tc", "qdisc", "replace", "dev", "lo", "root", "handle", "1:", "htb", "default", "10"],
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate",
             "10gbit"],
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate",
             f"{rate_kbit}kbit", "ceil", f"{rate_kbit}kbit"],
            ["tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
             "u32", "match", "ip", "sport", str(from_port), "0xffff", "flowid", "1:20"]]
    for cmd in cmds:
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}")
