#!/usr/bin/env python3
"""Hostile-input suite for placementd (issue 6). Python stdlib only, loopback only.

    python3 Tests/fuzz/hostile_test.py .build/debug [--keep] [--timing-samples N]

Starts its own daemon on a fresh embedded cluster (a new directory under /tmp), seeds one posting
with a selected student, then sends every case below. For every case it checks:

  * no 5xx other than the documented 503s (none are expected here), and no crash: the daemon
    process is alive and answers /healthz after every class;
  * every error body is {"error":{"code","message",...}} with a code from the contract's list
    (and, where the case names one, the expected status, code and field);
  * nothing was recorded by an erroring request: the ledger's event count (the admin feed, paged)
    equals the seed plus the events of the requests that got 201, after every POST case, and
    `placementctl status` agrees at the end;
  * the daemon's log holds no "internal error" line.

Exits 0 when all hold, 1 with a list of violations otherwise. Prints a table: class x cases x
observed statuses.
"""

import argparse
import base64
import glob
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contract import SPEC_CODES, STATUS_OF_CODE  # noqa: E402
MIB = 1 << 20
SEED_POSTING = "p-fuzz-1"
SEED_STUDENT = "s-fuzz-1"
SEED_COMPANY = "c-fuzz-1"
HOLE = "@@HOLE@@"  # a JSON string replaced by a literal number (a pattern no UUID or id contains)
IDLE_TIMEOUT = 10  # the daemon's --idle-timeout here (default 30 s): the hardening class waits it out
WAITS_PER_KEY = 64  # the daemon's cap on one key's concurrent min_position waits
NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))


class Reply:
    def __init__(self, status, headers, body, note=""):
        self.status = status        # int, or None when the connection died without an answer
        self.headers = headers      # dict, lower-case names
        self.body = body            # bytes
        self.note = note

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception:
            return None

    def code(self):
        j = self.json()
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("code")
        return None

    def field(self):
        j = self.json()
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("field")
        return None

    def label(self):
        if self.status is None:
            return "closed"
        c = self.code()
        return f"{self.status}" + (f" {c}" if c else "")


# ---------------------------------------------------------------------------------------------
# Raw HTTP over a socket (so malformed requests can be sent)


def read_response(sock, timeout=15.0, head_request=False):
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\r\n\r\n" not in data:
            if time.monotonic() > deadline:
                return Reply(None, {}, data, "timeout before headers")
            chunk = sock.recv(65536)
            if not chunk:
                if not data:
                    return Reply(None, {}, b"", "connection closed without a response")
                return Reply(None, {}, data, "connection closed inside headers")
            data += chunk
    except (socket.timeout, TimeoutError):
        return Reply(None, {}, data, "timeout before headers")
    except (ConnectionResetError, BrokenPipeError, OSError) as e:
        return Reply(None, {}, data, f"connection error: {e}")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return Reply(None, {}, data, "not an HTTP response")
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.setdefault(k.strip().lower().decode("latin-1"), v.strip().decode("latin-1"))
    body = rest
    try:
        if head_request or status in (204, 304) or 100 <= status < 200:
            return Reply(status, headers, b"")
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(body) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            body = body[:n]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            buf = body
            out = b""
            while True:
                while b"\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return Reply(status, headers, out, "chunked response cut short")
                    buf += chunk
                size_line, _, buf = buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return Reply(status, headers, out + buf, "chunked response cut short")
                    buf += chunk
                if size == 0:
                    break
                out += buf[:size]
                buf = buf[size + 2:]
            body = out
        else:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
    except (socket.timeout, TimeoutError):
        return Reply(status, headers, body, "timeout in body")
    except (ConnectionResetError, OSError):
        pass
    return Reply(status, headers, body)


def raw(port, payload, timeout=15.0, shut_write=False, chunks=None, pause=0.0):
    """Sends bytes as they are and reads one response. `chunks` sends pieces with `pause` between.
    The bytes are sent from a thread while this one reads, so an early answer (a 413 before the
    body is read) is read before the server's close can reset the connection."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        return Reply(None, {}, b"", f"connect failed: {e}")
    pieces = chunks if chunks is not None else [payload]

    def send():
        try:
            for piece in pieces:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered early and closed

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        return read_response(sock, timeout)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # unblocks a sender the server stopped reading from
        except OSError:
            pass
        sender.join(timeout)
        sock.close()


def request_bytes(method, path, headers=None, body=b"", content_length=True, host=True):
    lines = [f"{method} {path} HTTP/1.1".encode("latin-1") if isinstance(path, str) else method.encode() + b" " + path + b" HTTP/1.1"]
    hs = list(headers or [])
    if host:
        hs.insert(0, (b"Host", b"127.0.0.1"))
    if content_length and body is not None and not any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in hs):
        hs.append((b"Content-Length", str(len(body)).encode()))
    hs.append((b"Connection", b"close"))
    for k, v in hs:
        lines.append(k + b": " + v)
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def b(s):
    return s if isinstance(s, bytes) else s.encode("utf-8")


# ---------------------------------------------------------------------------------------------


class Suite:
    def __init__(self, bindir, timing_samples, keep):
        self.bindir = os.path.abspath(bindir)
        self.placementd = os.path.join(self.bindir, "placementd")
        self.placementctl = os.path.join(self.bindir, "placementctl")
        for exe in (self.placementd, self.placementctl):
            if not os.access(exe, os.X_OK):
                sys.exit(f"hostile_test: {exe} is not an executable; build first (swift build) and pass the bin dir")
        self.timing_samples = timing_samples
        self.keep = keep
        self.violations = []
        self.table = {}          # class -> {"cases": n, "statuses": {label: n}}
        self.notes = []
        self.proc = None
        self.expected_events = 0
        self.current_class = None
        self.details = []
        self.decoder_rejections = []
        self.details_path = None

    # --- daemon ------------------------------------------------------------------------------

    def free_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def start(self):
        # The embedded cluster runs as `postgres` when we are root: it must be able to enter the
        # directory's parents, so the directory lives directly under /tmp and the daemon creates it.
        self.data_dir = os.path.join("/tmp", f"fuzz-hostile-{uuid.uuid4().hex[:10]}")
        self.port = self.free_port()
        self.log_path = self.data_dir + ".log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.placementd, "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}", "--log-level", "info",
             "--idle-timeout", str(IDLE_TIMEOUT)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"hostile_test: placementd exited with {self.proc.returncode} while starting; log: {self.log_path}")
            try:
                r = self.get("/readyz", key=None)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        sys.exit(f"hostile_test: placementd did not become ready in 180 s; log: {self.log_path}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def ctl(self, *args, check=True):
        out = subprocess.run([self.placementctl, *args, "--data-dir", self.data_dir], capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise RuntimeError(f"placementctl {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
        return out

    def create_key(self, role, org=None):
        args = ["keys", "create", "--role", role] + (["--org", org] if org else [])
        out = self.ctl(*args)
        secret = out.stdout.splitlines()[0].strip()
        self.secrets_seen = getattr(self, "secrets_seen", set()) | {secret.split("_")[-1]}
        return secret

    # --- plain requests -----------------------------------------------------------------------

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, key="platform", headers=None):
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + (self.keys[key] if key in getattr(self, "keys", {}) else key)
        if body is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        except (http.client.HTTPException, OSError) as e:
            return Reply(None, {}, b"", f"{type(e).__name__}: {e}")
        finally:
            c.close()

    def get(self, path, key="platform", headers=None):
        return self.request("GET", path, key=key, headers=headers)

    def post(self, body, key="platform", headers=None):
        return self.request("POST", "/v1/events", body=b(body), key=key, headers=headers)

    def count_events(self):
        total, after = 0, 0
        while True:
            r = self.get(f"/v1/events?after={after}&limit=1000", key="admin")
            if r.status != 200:
                raise RuntimeError(f"feed read failed: {r.label()} {r.body[:200]!r}")
            events = r.json()["events"]
            if not events:  # a page may end short of its limit (at 4 MiB): only an empty one ends the log
                return total
            total += len(events)
            after = events[-1]["position"]

    # --- checks -------------------------------------------------------------------------------

    def violation(self, case, message):
        self.violations.append(f"[{self.current_class}] {case}: {message}")

    def record(self, case, reply, expect=None, code=None, field=None, posted=False, recorded=0,
               allow_closed=False, protocol_ok=False, bodyless=False):
        """Checks one reply. expect: a status or a set; code/field: expected error code / field
        (a field may be a prefix match by ending with '*'). posted: a POST that may record;
        recorded: how many events it recorded when it succeeds (201)."""
        entry = self.table.setdefault(self.current_class, {"cases": 0, "statuses": {}})
        entry["cases"] += 1
        label = reply.label() if reply.status is not None else ("closed" if allow_closed else f"closed ({reply.note})")
        entry["statuses"][label] = entry["statuses"].get(label, 0) + 1
        now = time.monotonic()
        self.details.append((self.current_class, case, label, now - self.last_mark))
        self.last_mark = now
        if reply.status is None:
            if not allow_closed:
                self.violation(case, f"no HTTP response ({reply.note})")
        else:
            st = reply.status
            if st >= 500 and not (st == 503 and reply.code() in ("unavailable", "projection_lagging")):
                self.violation(case, f"server error {st}: {reply.body[:300]!r}")
            if st >= 400 and bodyless:
                # HEAD, and CONNECT (whose response body the HTTP encoder drops): the code is in X-Ledger-Error.
                if reply.headers.get("x-ledger-error") not in SPEC_CODES:
                    self.violation(case, f"bodyless {st} without a contract code in X-Ledger-Error: {reply.headers}")
            elif st >= 400:
                j = reply.json()
                shape_ok = (isinstance(j, dict) and set(j) == {"error"} and isinstance(j["error"], dict)
                            and isinstance(j["error"].get("code"), str) and isinstance(j["error"].get("message"), str)
                            and j["error"]["message"] != ""
                            and set(j["error"]) <= {"code", "message", "field", "event_index", "event_id"})
                if not shape_ok:
                    if protocol_ok and st == 400 and reply.body == b"":
                        # HTTP-level parse errors are answered by the server's HTTP decoder before
                        # any route runs: an empty 400 and a closed connection. Counted, reported.
                        self.decoder_rejections.append(f"{self.current_class}: {case}")
                    else:
                        self.violation(case, f"error body not in the contract's shape: {st} {reply.body[:300]!r}")
                else:
                    c = j["error"]["code"]
                    if c not in SPEC_CODES:
                        self.violation(case, f"error code {c!r} is not one of the contract's")
                    elif c in STATUS_OF_CODE and STATUS_OF_CODE[c] != st and not (st == 405 and c == "not_found"):
                        self.violation(case, f"code {c} answered with status {st} (contract: {STATUS_OF_CODE[c]})")
                    elif c not in STATUS_OF_CODE and st != 422:
                        self.violation(case, f"domain code {c} answered with status {st} (contract: 422)")
                    if st == 401 and "www-authenticate" not in reply.headers:
                        self.violation(case, "401 without WWW-Authenticate")
            if expect is not None:
                ok = st in expect if isinstance(expect, (set, tuple, list)) else st == expect
                if not ok:
                    self.violation(case, f"expected status {expect}, got {reply.label()}: {reply.body[:200]!r}")
            if code is not None and reply.code() is not None:
                codes = code if isinstance(code, (set, tuple, list)) else {code}
                if reply.code() not in codes:
                    self.violation(case, f"expected code {code}, got {reply.label()}: {reply.body[:200]!r}")
            if field is not None and st == 400:
                f = reply.field()
                if field.endswith("*"):
                    if not (isinstance(f, str) and f.startswith(field[:-1])):
                        self.violation(case, f"expected field {field}, got {f!r}: {reply.body[:200]!r}")
                elif f != field:
                    self.violation(case, f"expected field {field!r}, got {f!r}: {reply.body[:200]!r}")
        for secret in getattr(self, "secrets_seen", ()):
            if secret.encode() in reply.body:
                self.violation(case, "the response echoes an API key secret")
        if posted:
            if reply.status in (201,):
                self.expected_events += recorded
            self.check_count(case)

    def check_count(self, case):
        # The feed serves only the gap-free horizon: an event committed a moment ago may be held
        # back while an older transaction (a projection worker's, a seal's) is open. So a count
        # below the expectation is retried for up to 5 s; a count above it is a violation at once
        # (recorded by this case, or by one just before it whose event was still held back).
        deadline = time.monotonic() + 5
        while True:
            try:
                n = self.count_events()
            except Exception as e:
                self.violation(case, f"could not count events: {e}")
                return
            if n >= self.expected_events or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if n != self.expected_events:
            self.violation(case, f"event count is {n}, expected {self.expected_events}: "
                           + ("an erroring request recorded something" if n > self.expected_events else "an acknowledged event is missing"))
            self.expected_events = n

    def alive(self):
        if self.proc.poll() is not None:
            self.violation("daemon", f"placementd exited with {self.proc.returncode}")
            sys.exit(self.report())
        r = self.get("/healthz", key=None)
        if r.status != 200:
            self.violation("healthz", f"/healthz answered {r.label()} {r.note}")

    def begin(self, name):
        self.current_class = name
        self.table.setdefault(name, {"cases": 0, "statuses": {}})
        self.class_started = time.monotonic()
        self.last_mark = self.class_started

    def end(self):
        self.alive()
        self.check_count("end of class")
        self.table[self.current_class]["seconds"] = time.monotonic() - self.class_started

    # --- events -------------------------------------------------------------------------------

    def event(self, type_, data, posting=SEED_POSTING, **extra):
        e = {"id": str(uuid.uuid4()), "type": type_, "posting_id": posting, "occurred_at": NOW, "data": data}
        e.update(extra)
        return e

    def posted(self, posting, company=SEED_COMPANY, stipend=None):
        return self.event("posted", {"company_id": company, "title": "Fuzz posting", "openings": 5,
                                     "stipend": stipend or {"kind": "hourly", "rate_minor": 2000, "max_hours": 100, "currency": "USD"}},
                          posting=posting)

    def seed(self):
        batch = [
            self.posted(SEED_POSTING),
            self.event("applied", {"student_id": SEED_STUDENT, "university_id": "u-fuzz-1"}),
            self.event("selected", {"student_id": SEED_STUDENT}),
        ]
        r = self.post(json.dumps(batch))
        if r.status != 201:
            sys.exit(f"hostile_test: seeding failed: {r.label()} {r.body[:300]!r}")
        self.expected_events = 3
        self.head = max(e["position"] for e in r.json()["events"])

    # =========================================================================================
    # Classes

    def oversized(self):
        self.begin("oversized bodies")
        port = self.port
        auth = (b"Authorization", b("Bearer " + self.keys["platform"]))
        ctype = (b"Content-Type", b"application/json")
        one = json.dumps(self.event("closed", {"reason": "x"}))
        # 1 MiB + 1 of valid JSON (whitespace padding), announced by Content-Length.
        body = b(one) + b" " * (MIB + 1 - len(one))
        self.record("valid event padded to 1 MiB + 1 byte", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], body)),
                    413, "payload_too_large", posted=True)
        # Exactly 1 MiB is allowed in size (the event itself is then judged: closed on an open posting would
        # record, so use a broken event).
        bad = json.dumps(self.event("closed", {"reason": "x", "bogus": 1}))
        body = b(bad) + b" " * (MIB - len(bad))
        self.record("broken event padded to exactly 1 MiB", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], body)),
                    400, "invalid_field", field="data.bogus", posted=True)
        # A huge string field: 2 MiB title.
        e = self.posted("p-fuzz-big")
        e["data"]["title"] = "A" * (2 * MIB)
        self.record("2 MiB title", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], b(json.dumps(e)))),
                    413, "payload_too_large", posted=True)
        # 16 MiB with Content-Length: the server should refuse before reading it all.
        body = b"[" + b" " * (16 * MIB) + b"]"
        self.record("16 MiB body", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], body)), 413, "payload_too_large", posted=True)
        # Absurd Content-Length announced, little sent.
        for cl in (b"1099511627776", b"9223372036854775807"):
            req = request_bytes("POST", "/v1/events", [auth, ctype, (b"Content-Length", cl)], b"[", content_length=False)
            self.record(f"Content-Length {cl.decode()} with 1 byte sent", raw(port, req, timeout=10, shut_write=True),
                        {400, 413}, posted=True, allow_closed=True, protocol_ok=True)
        # Chunked body over 1 MiB (no Content-Length): 17 chunks of 64 KiB of spaces.
        chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
        req = request_bytes("POST", "/v1/events", [auth, ctype, (b"Transfer-Encoding", b"chunked")], None, content_length=False)
        payload = req + b"1\r\n[\r\n" + chunk * 17 + b"1\r\n]\r\n0\r\n\r\n"
        self.record("chunked body of 1.06 MiB", raw(port, payload), 413, "payload_too_large", posted=True)
        # More than 1,000 events (small ones, well under 1 MiB).
        events = [{"id": str(uuid.uuid4()), "type": "closed", "posting_id": SEED_POSTING, "occurred_at": NOW, "data": {}} for _ in range(1001)]
        body = json.dumps(events, separators=(",", ":"))
        assert len(body) < MIB
        self.record("1,001 events (%d bytes)" % len(body), self.post(body), 413, "payload_too_large", posted=True)
        events = [{}] * 5000
        self.record("5,000 empty objects", self.post(json.dumps(events)), {400, 413}, posted=True)
        self.record("300,000 tiny arrays (under 1 MiB)", self.post("[" + ",".join(["[]"] * 300_000) + "]"), {400, 413}, posted=True)
        e = self.event("closed", {"reason": "x"})
        e["k" * 500_000] = 1
        self.record("a 500 KB member name", self.post(json.dumps(e)), 400, "invalid_field", posted=True)
        # 1,000 events whose last one breaks a rule: atomic, nothing recorded.
        events = [self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 1, "work_date": "2026-03-02"}) for _ in range(999)]
        events.append(self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": -100000, "work_date": "2026-03-02", "reason": "x"}))
        self.record("1,000 events, the last one invalid", self.post(json.dumps(events)), 400, "invalid_field", field="data.minutes", posted=True)
        events[-1] = self.event("hours_logged", {"student_id": "s-nobody", "minutes": 1, "work_date": "2026-03-02"})
        r = self.post(json.dumps(events))
        self.record("1,000 events, the last one breaks a rule", r, 422, "not_selected", posted=True)
        j = r.json() or {}
        if j.get("error", {}).get("event_index") != 999:
            self.violation("1,000 events, the last one breaks a rule", f"event_index should be 999: {r.body[:200]!r}")
        # Oversized without a key: never read, 401 or 413, never recorded.
        body = b" " * (2 * MIB)
        self.record("2 MiB body without a key", raw(port, request_bytes("POST", "/v1/events", [ctype], body)), {401, 413}, posted=True)
        self.end()

    def nesting(self):
        self.begin("deep nesting")
        for depth in (100_000, 10_000, 1000, 33):
            self.record(f"{depth} x '['", self.post("[" * depth + "]" * depth), 400, "invalid_json", posted=True)
            self.record(f"{depth} x '[' unterminated", self.post("[" * depth), 400, "invalid_json", posted=True)
        self.record("50,000 x '{\"a\":'", self.post('{"a":' * 50_000 + "1" + "}" * 50_000), 400, "invalid_json", posted=True)
        self.record("100,000 x '{\"a\":' unterminated", self.post('{"a":' * 100_000), 400, "invalid_json", posted=True)
        # Nesting inside data at and beyond the parser's bound.
        for depth in (30, 40, 5000):
            inner = "[" * depth + "]" * depth
            body = json.dumps(self.event("closed", {"reason": "x"}))[:-1] + ',"extra":' + inner + "}"
            self.record(f"{depth}-deep array in an unknown envelope field", self.post(body), 400, {"invalid_json", "invalid_field"}, posted=True)
        # A deep cursor token.
        token = base64.urlsafe_b64encode(b"[" * 100_000).decode().rstrip("=")
        self.record("cursor decoding to 100,000 x '['", self.get("/v1/placements?cursor=" + token[:60000]), 400, "invalid_field", field="cursor")
        self.end()

    def utf8(self):
        self.begin("invalid UTF-8")
        base = json.dumps(self.event("closed", {"reason": "REASON"})).encode()
        bad_sequences = {
            "0xFF": b"\xff", "0xC0 0xAF (overlong /)": b"\xc0\xaf", "encoded surrogate ED A0 80": b"\xed\xa0\x80",
            "truncated 3-byte E2 82": b"\xe2\x82", "lone continuation 0x80": b"\x80", "F5 (beyond U+10FFFF)": b"\xf5\x80\x80\x80",
            "overlong NUL C0 80": b"\xc0\x80", "latin-1 e9": b"caf\xe9",
        }
        for name, seq in bad_sequences.items():
            self.record(f"in a string value: {name}", self.post(base.replace(b"REASON", seq)), 400, "invalid_json", posted=True)
            body = base.replace(b'"reason"', b'"rea' + seq + b'son"')
            self.record(f"in a key: {name}", self.post(body), 400, "invalid_json", posted=True)
        posted = json.dumps(self.posted("p-fuzz-utf")).encode()
        self.record("in posting_id: 0xFF", self.post(posted.replace(b"p-fuzz-utf", b"p-\xff")), 400, "invalid_json", posted=True)
        self.record("in title: truncated at end of body", self.post(posted.replace(b"Fuzz posting", b"Fuzz \xe2\x82")), 400, "invalid_json", posted=True)
        self.record("body ends inside a 4-byte sequence", self.post(b'{"id":"\xf0\x9f\x98'), 400, "invalid_json", posted=True)
        # Escapes that decode to something a database text column cannot hold or must not hold.
        escapes = {
            "lone high surrogate \\ud800": (b"\\ud800", "invalid_json", None),
            "lone low surrogate \\udc00": (b"\\udc00", "invalid_json", None),
            "reversed pair \\udc00\\ud800": (b"\\udc00\\ud800", "invalid_json", None),
            "NUL \\u0000 in reason": (b"a\\u0000b", "invalid_field", "data.reason"),
            "raw control char 0x01": (b"a\x01b", "invalid_json", None),
            "raw newline": (b"a\nb", "invalid_json", None),
            "bad escape \\x41": (b"\\x41", "invalid_json", None),
            "short escape \\u12": (b"\\u12", "invalid_json", None),
        }
        for name, (seq, code, field) in escapes.items():
            self.record(name, self.post(base.replace(b"REASON", seq)), 400, code, field=field, posted=True)
        for key in ("actor", "posting_id", "id"):
            e = self.event("closed", {"reason": "x"})
            e[key] = "a\u0000b"
            self.record(f"NUL in {key}", self.post(json.dumps(e)), 400, "invalid_field", field=key, posted=True)
        e = self.event("closed", {"reason": "x"})
        e["type"] = "cl\u043esed"  # Cyrillic o: a homoglyph of a real type
        self.record("homoglyph event type", self.post(json.dumps(e, ensure_ascii=False)), 400, "invalid_field", field="type", posted=True)
        e = self.event("closed", {"reason": "x"})
        self.record("UTF-8 BOM before the body", self.post(b"\xef\xbb\xbf" + json.dumps(e).encode()), 400, "invalid_json", posted=True)
        self.record("UTF-16 body", self.post(json.dumps(e).encode("utf-16")), 400, "invalid_json", posted=True)
        # Valid but unusual text: 4-byte characters and a valid surrogate pair in an optional text field.
        e = self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 5, "work_date": "2026-03-02", "note": "\U0001F600 \\ud83d\\ude00 ünï"})
        body = json.dumps(e, ensure_ascii=False).replace("\\\\ud83d\\\\ude00", "\\ud83d\\ude00")
        self.record("valid emoji and surrogate pair in note (accepted)", self.post(body), 201, posted=True, recorded=1)
        # In the read routes: percent-encoded invalid UTF-8 in path and query.
        self.record("path %FF", self.get("/v1/postings/%FF"), {400, 404})
        self.record("path %C0%AF", self.get("/v1/postings/p%C0%AF1"), {400, 404})
        self.record("query company_id=%FF", self.get("/v1/placements?company_id=%FF"), 400, "invalid_field", field="company_id")
        self.record("query status=%ED%A0%80", self.get("/v1/placements?status=%ED%A0%80"), 400, "invalid_field", field="status")
        self.end()

    def identifiers(self):
        self.begin("SQL-looking / bad identifiers")
        bad = ["p-1'; DROP TABLE events;--", "' OR '1'='1", "p-1\"", "p-1\\", "p 1", "-p", ".p", "_p", ":p", "p/1", "p%1",
               "p-1;", "a" * 129, "", "p\n1", "p\u00e91", "ｐ-1", "p-1--", "$1", "p-1)", "1 UNION SELECT secret_hash FROM api_keys"]
        bad = [x for x in bad if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", x)]
        for ident in bad:
            label = repr(ident if len(ident) < 40 else ident[:20] + "...")
            self.record(f"posting_id {label}", self.post(json.dumps(self.posted(ident))), 400, "invalid_field", field="posting_id", posted=True)
        for ident in bad[:8]:
            label = repr(ident)
            self.record(f"data.company_id {label}", self.post(json.dumps(self.posted("p-fuzz-sql", company=ident))), 400, "invalid_field",
                        field="data.company_id", posted=True)
            self.record(f"data.student_id {label}",
                        self.post(json.dumps(self.event("applied", {"student_id": ident, "university_id": "u-1"}))), 400,
                        "invalid_field", field="data.student_id", posted=True)
            self.record(f"data.university_id {label}",
                        self.post(json.dumps(self.event("applied", {"student_id": "s-x", "university_id": ident}))), 400,
                        "invalid_field", field="data.university_id", posted=True)
            self.record(f"data.payment_ref {label}",
                        self.post(json.dumps(self.event("paid", {"student_id": SEED_STUDENT, "amount_minor": 1, "currency": "USD", "payment_ref": ident}))),
                        400, "invalid_field", field="data.payment_ref", posted=True)
            q = urlquote(ident)
            if ident:
                self.record(f"GET /v1/postings/{label}", self.get("/v1/postings/" + q), {400, 404}, field="posting_id" if "/" not in ident else None)
                self.record(f"GET /v1/postings/{label}/events", self.get("/v1/postings/" + q + "/events"), {400, 404})
                self.record(f"GET /v1/placements/{label}/s", self.get("/v1/placements/" + q + "/s-1"), {400, 404})
                self.record(f"GET university report {label}", self.get("/v1/reports/universities/" + q), {400, 404})
                self.record(f"GET stipends {label}", self.get("/v1/reports/companies/" + q + "/stipends"), {400, 404})
            for param in ("company_id", "university_id", "student_id"):
                self.record(f"?{param}={label}", self.get(f"/v1/placements?{param}={q}"), 400, "invalid_field", field=param)
            self.record(f"payouts ?company_id={label}", self.get(f"/v1/reports/payouts?company_id={q}"), 400, "invalid_field", field="company_id")
        # Legal but odd identifiers are accepted and read back verbatim.
        odd = ["a:b.c-d", "A", "0", "z" * 128, "x..y", "a:-:.", "9_9", "p.-_:"]
        for ident in odd:
            r = self.post(json.dumps([self.posted(ident, company="c:odd.1-x"),
                                      self.event("applied", {"student_id": ident, "university_id": ident}, posting=ident)]))
            self.record(f"legal odd id {ident[:20]!r} appended", r, 201, posted=True, recorded=2)
            position = self.last_position(r)
            r = self.get(f"/v1/postings/{ident}?min_position={position}")
            self.record(f"legal odd id {ident[:20]!r} read back", r, 200)
            if r.status == 200 and (r.json() or {}).get("posting", {}).get("posting_id") != ident:
                self.violation(f"odd id {ident!r}", f"read back as {r.body[:200]!r}")
            if urlquote(ident) != ident:
                # What encodeURIComponent (the dashboard) and most HTTP clients send for ':'.
                r = self.get(f"/v1/postings/{urlquote(ident)}?min_position={position}")
                self.record(f"legal odd id {ident[:20]!r} read back percent-encoded ({urlquote(ident)[:24]})", r, 200)
        r = self.get(f"/v1/postings/{SEED_POSTING.replace('-', '%2D')}")
        self.record("seed posting with '-' percent-encoded (%2D, an unreserved character)", r, 200)
        self.record("payment_ref a:b.c-d (accepted)", self.post(json.dumps(self.event(
            "paid", {"student_id": SEED_STUDENT, "amount_minor": 1, "currency": "USD", "payment_ref": "a:b.c-d"}))), 201, posted=True, recorded=1)
        # The tables are all still there.
        r = self.get("/v1/placements?limit=1", key="admin")
        self.record("placements still readable", r, 200)
        self.end()

    def last_position(self, reply):
        try:
            return max(e["position"] for e in reply.json()["events"])
        except Exception:
            return 0

    def numbers(self):
        self.begin("huge numbers / overflow")
        literals = ["1e30", "9223372036854775808", "9223372036854775807", "-9223372036854775809", "18446744073709551616",
                    "-0", "1.0", "1e2", "1E2", "0.5", "0", "-1", "1000000001", '"100"', "true", "null", "0x10", "01", "+1",
                    "NaN", "Infinity", "-Infinity", "1e400", "1" * 400, "1.", ".5", "- 1", "1_000", "[1]", "{}"]
        for lit in literals:
            # paid.amount_minor (the seed placement: student selected, USD).
            body = json.dumps(self.event("paid", {"student_id": SEED_STUDENT, "amount_minor": HOLE, "currency": "USD", "payment_ref": "pay-" + uuid.uuid4().hex[:8]}))
            body = body.replace('"@@HOLE@@"', lit)
            syntactic = lit in ("0x10", "01", "+1", "NaN", "Infinity", "-Infinity", ".5", "- 1", "1_000")
            code = "invalid_json" if syntactic else {"invalid_json", "invalid_field"}
            field = None if syntactic else ("data.amount_minor" if lit != "null" else "data.amount_minor")
            self.record(f"paid.amount_minor = {lit[:24]}", self.post(body), 400, code, field=field, posted=True)
            # posted.stipend.amount_minor
            e = self.posted("p-fuzz-num-" + uuid.uuid4().hex[:6], stipend={"kind": "fixed", "amount_minor": HOLE, "currency": "USD"})
            body = json.dumps(e).replace('"@@HOLE@@"', lit)
            self.record(f"stipend.amount_minor = {lit[:24]}", self.post(body), 400, code,
                        field=None if syntactic else "data.stipend.amount_minor", posted=True)
        for name, path, lit in [("minutes", "data.minutes", "1e3"), ("minutes", "data.minutes", "2147483648"),
                                ("minutes", "data.minutes", "1441"), ("minutes", "data.minutes", "0"),
                                ("minutes", "data.minutes", "-9223372036854775808")]:
            body = json.dumps(self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": HOLE, "work_date": "2026-03-02", "reason": "r"}))
            self.record(f"minutes = {lit}", self.post(body.replace('"@@HOLE@@"', lit)), 400, {"invalid_json", "invalid_field"}, field=path, posted=True)
        for lit in ("-1", "1.5", "9223372036854775808", "1e1", '"0"'):
            body = json.dumps(self.posted("p-fuzz-ev-" + uuid.uuid4().hex[:6]) | {"expected_version": HOLE}).replace('"@@HOLE@@"', lit)
            self.record(f"expected_version = {lit}", self.post(body), 400, {"invalid_json", "invalid_field"}, field="expected_version", posted=True)
        e = self.posted("p-fuzz-open-" + uuid.uuid4().hex[:6])
        e["data"]["openings"] = 10 ** 30
        self.record("openings = 10^30", self.post(json.dumps(e)), 400, {"invalid_json", "invalid_field"}, field="data.openings", posted=True)
        e = self.posted("p-fuzz-hr-" + uuid.uuid4().hex[:6], stipend={"kind": "hourly", "rate_minor": 1_000_000_000, "max_hours": 2000, "currency": "USD"})
        r = self.post(json.dumps(e))
        self.record("hourly cap at the maxima (1e9 x 2000 = 2e12, fits) accepted", r, 201, posted=True, recorded=1)
        self.end()

    def duplicates(self):
        self.begin("duplicate JSON keys")
        ev = self.event("closed", {"reason": "x"})
        base = json.dumps(ev)
        cases = {
            "id twice": base.replace('"type"', f'"id": "{uuid.uuid4()}", "type"'),
            "type twice (same value)": base.replace('"posting_id"', '"type": "closed", "posting_id"'),
            "posting_id twice": base.replace('"occurred_at"', '"posting_id": "p-other", "occurred_at"'),
            "data twice": base[:-1] + ', "data": {"reason": "y"}}',
            "key twice inside data": base.replace('"reason": "x"', '"reason": "x", "reason": "y"'),
            "escaped duplicate \\u0069d": base.replace('"type"', f'"\\u0069d": "{uuid.uuid4()}", "type"'),
            "duplicate in stipend": json.dumps(self.posted("p-fuzz-dup")).replace('"currency": "USD"', '"currency": "USD", "currency": "EUR"'),
            "duplicate in the 2nd event of a batch": "[" + json.dumps(self.event("closed", {})) + "," + base.replace('"reason": "x"', '"reason": "x", "reason": "x"') + "]",
        }
        for name, body in cases.items():
            self.record(name, self.post(body), 400, "invalid_json", posted=True)
        e1 = self.event("closed", {})
        self.record("same event id twice in one batch", self.post(json.dumps([e1, e1])), 400, "invalid_field", field="id", posted=True)
        self.end()

    def headers(self):
        self.begin("header abuse")
        port = self.port
        key = b(self.keys["platform"])
        auth = (b"Authorization", b"Bearer " + key)
        ctype = (b"Content-Type", b"application/json")
        bad_body = b(json.dumps(self.event("closed", {"reason": "x", "bogus": True})))

        def good_body():
            return b(json.dumps(self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 1, "work_date": "2026-03-02"})))

        for size in (8 * 1024, 64 * 1024, 1024 * 1024):
            req = request_bytes("GET", "/v1/me", [auth, (b"X-Junk", b"a" * size)])
            self.record(f"one {size // 1024} KiB header", raw(port, req), {200, 400, 413, 431}, allow_closed=True, protocol_ok=True)
        for n in (200, 5000):
            req = request_bytes("GET", "/v1/me", [auth] + [(b"X-H%d" % i, b"v") for i in range(n)])
            self.record(f"{n} headers", raw(port, req), {200, 400, 431}, allow_closed=True, protocol_ok=True)
        for ct in [b"text/plain", b"application/xml", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
                   b"application/json; charset=latin-1", b"\xff\xfe", b"", b"application/json, application/json"]:
            req = request_bytes("POST", "/v1/events", [auth, (b"Content-Type", ct)], bad_body)
            self.record(f"Content-Type {ct[:30]!r} with a broken event", raw(port, req), {400, 415}, posted=True, protocol_ok=True)
        req = request_bytes("POST", "/v1/events", [auth], bad_body)
        self.record("no Content-Type, broken event", raw(port, req), {400, 415}, posted=True)
        r = raw(port, request_bytes("POST", "/v1/events", [auth, (b"Content-Type", b"text/plain")], good_body()))
        self.record("Content-Type text/plain with a valid event (observed)", r, {201, 415}, posted=True, recorded=1)
        self.notes.append(f"valid event sent as text/plain: {r.label()}")
        # Missing / empty bodies.
        self.record("POST with Content-Length: 0", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], b"")), 400, "invalid_json", posted=True)
        req = request_bytes("POST", "/v1/events", [auth, ctype], None, content_length=False)
        self.record("POST with no length and no body", raw(port, req), 400, "invalid_json", posted=True)
        self.record("POST body of whitespace", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], b" \r\n\t ")), 400, "invalid_json", posted=True)
        self.record("POST body 'null'", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], b"null")), 400, "invalid_json", posted=True)
        self.record("POST body '[]'", raw(port, request_bytes("POST", "/v1/events", [auth, ctype], b"[]")), 400, "invalid_field", posted=True)
        # Chunked weirdness.
        te = (b"Transfer-Encoding", b"chunked")
        gb = good_body()
        valid_chunked = b"%x\r\n" % len(gb) + gb + b"\r\n0\r\n\r\n"
        r = raw(port, request_bytes("POST", "/v1/events", [auth, ctype, te], None, content_length=False) + valid_chunked)
        self.record("valid chunked event (accepted)", r, 201, posted=True, recorded=1)
        gb = good_body()
        pieces = [gb[i:i + 1] for i in range(len(gb))]
        r = raw(port, request_bytes("POST", "/v1/events", [auth, ctype, te], None, content_length=False)
                + b"".join(b"1\r\n" + p + b"\r\n" for p in pieces) + b"0\r\n\r\n")
        self.record("valid event in 1-byte chunks (accepted)", r, 201, posted=True, recorded=1)
        gb = good_body()
        for name, tail in [
            ("chunk size 'zz'", b"zz\r\n" + gb + b"\r\n0\r\n\r\n"),
            ("chunk size 2^64-1", b"ffffffffffffffff\r\n" + gb + b"\r\n0\r\n\r\n"),
            ("chunk size -1", b"-1\r\n" + gb + b"\r\n0\r\n\r\n"),
            ("chunk shorter than announced, then close", b"%x\r\n" % (len(gb) + 50) + gb),
            ("no terminating 0 chunk, then close", b"%x\r\n" % len(gb) + gb + b"\r\n"),
            ("chunk extension junk", b"%x;\xff\xfe=\x00\r\n" % len(gb) + gb + b"\r\n0\r\n\r\n"),
            ("chunk data without CRLF", b"%x\r\n" % len(gb) + gb + b"XX0\r\n\r\n"),
        ]:
            req = request_bytes("POST", "/v1/events", [auth, ctype, te], None, content_length=False) + tail
            r = raw(port, req, timeout=10, shut_write=True)
            self.record(name, r, {400, 413}, posted=True, allow_closed=True, protocol_ok=True)
            self.misleading_413(name, r)
        gb = good_body()
        req = request_bytes("POST", "/v1/events", [auth, ctype, te, (b"Content-Length", b"5")], None, content_length=False) + \
            b"%x\r\n" % len(gb) + gb + b"\r\n0\r\n\r\n"
        r = raw(port, req, shut_write=True)
        self.record("chunked and Content-Length both (smuggling shape)", r, {201, 400}, posted=True, recorded=1, allow_closed=True, protocol_ok=True)
        self.notes.append(f"Transfer-Encoding: chunked + Content-Length: 5 with a valid event: {r.label()}")
        # Content-Length lies and nonsense.
        gb = good_body()
        for name, cl in [("Content-Length larger than the body, then close", str(len(gb) + 10).encode()),
                         ("Content-Length -1", b"-1"), ("Content-Length 'abc'", b"abc"),
                         ("Content-Length 2^64", b"18446744073709551616"), ("Content-Length 1e3", b"1e3"),
                         ("Content-Length ' 12 '", b" 12 ")]:
            req = request_bytes("POST", "/v1/events", [auth, ctype, (b"Content-Length", cl)], gb, content_length=False)
            r = raw(port, req, timeout=10, shut_write=True)
            self.record(name, r, {400, 413}, posted=True, allow_closed=True, protocol_ok=True)
            self.misleading_413(name, r)
        req = request_bytes("POST", "/v1/events", [auth, ctype, (b"Content-Length", str(len(gb)).encode()), (b"Content-Length", b"3")], gb,
                            content_length=False)
        self.record("two different Content-Lengths", raw(port, req, shut_write=True), {400}, posted=True, allow_closed=True, protocol_ok=True)
        gb = good_body()
        req = request_bytes("POST", "/v1/events", [auth, ctype, (b"Content-Length", str(len(gb) - 5).encode())], gb, content_length=False)
        self.record("Content-Length shorter than the body (truncated JSON)", raw(port, req, shut_write=True), 400, "invalid_json",
                    posted=True, allow_closed=True, protocol_ok=True)
        # Slow body: a valid event sent in 4 pieces 0.3 s apart is still one request.
        gb = good_body()
        req = request_bytes("POST", "/v1/events", [auth, ctype], gb)
        cut = len(req) - len(gb)
        pieces = [req[:cut]] + [gb[i:i + len(gb) // 4 + 1] for i in range(0, len(gb), len(gb) // 4 + 1)]
        self.record("valid event sent slowly in pieces (accepted)", raw(port, None, chunks=pieces, pause=0.3), 201, posted=True, recorded=1)
        # Authorization abuse.
        for name, value in [("UTF-8 in the key", b"Bearer plk_\xc3\xa9\xc3\xa9"), ("latin-1 0xFF in the key", b"Bearer \xff" + key[1:]),
                            ("NUL-free control 0x01", b"Bearer " + key + b"\x01"), ("UTF-8 in the scheme", b"B\xc3\xa9arer " + key),
                            ("10 KiB key", b"Bearer " + b"k" * 10240), ("only spaces", b"      "), ("Bearer and tabs", b"Bearer\t\t" + key)]:
            req = request_bytes("GET", "/v1/me", [(b"Authorization", value)])
            self.record(f"Authorization: {name}", raw(port, req), {400, 401}, "unauthorized", allow_closed=True, protocol_ok=True)
            req = request_bytes("POST", "/v1/events", [(b"Authorization", value), ctype], good_body())
            self.record(f"POST with Authorization: {name}", raw(port, req), {400, 401}, "unauthorized", posted=True, allow_closed=True,
                        protocol_ok=True)
        req = request_bytes("GET", "/v1/me", [(b"Authorization", b"Bearer x\r\nX-Injected: 1")])
        self.record("CRLF inside Authorization (header injection)", raw(port, req), 401, allow_closed=True, protocol_ok=True)
        # Malformed HTTP.
        for name, payload in [
            ("header without colon", b"GET /v1/me HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"),
            ("obsolete line folding", b"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n " + key + b"\r\n\r\n"),
            ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: x\n\n"),
            ("NUL in a header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
            ("space before colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
            ("garbage request line", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(64)) + b"\r\n\r\n"),
            ("method FOO", b"FOO /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            ("100 KiB URL", b"GET /v1/postings/" + b"a" * 102400 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            ("absolute-form URI", b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            ("asterisk-form GET", b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            ("no Host header, HTTP/1.1", b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"),
            ("Expect: 100-continue, oversized", request_bytes("POST", "/v1/events", [auth, ctype, (b"Expect", b"100-continue"),
                                                                                   (b"Content-Length", b"5000000")], None, content_length=False)),
        ]:
            self.record(name, raw(port, payload, timeout=10, shut_write=True), None, allow_closed=True, protocol_ok=True, posted=name.startswith("Expect"))
        # Pipelined: two requests on one connection, the first an error.
        req1 = request_bytes("POST", "/v1/events", [auth, ctype], bad_body).replace(b"Connection: close", b"Connection: keep-alive")
        req2 = request_bytes("GET", "/healthz")
        r = raw(port, req1 + req2, shut_write=True)
        self.record("pipelined error then healthz", r, 400, "invalid_field", posted=True)
        self.end()

    def misleading_413(self, name, reply):
        # A body of a few hundred bytes that ends early or has broken chunk framing is not too large.
        if reply.status == 413:
            self.notes.append(f"[{self.current_class}] {name}: 413 payload_too_large for a small body the server could not read "
                              "(misleading code; see docs/reliability.md)")

    def keys_revoked(self):
        self.begin("revoked and malformed keys")
        secret = self.create_key("company", SEED_COMPANY)
        key_id = secret.split("_")[1]
        r = self.get("/v1/me", key=secret)
        self.record("fresh company key works", r, 200)
        self.ctl("keys", "revoke", key_id)
        revoked_at = time.monotonic()
        first_401 = None
        while time.monotonic() - revoked_at < 3.0:
            r = self.get("/v1/me", key=secret)
            if r.status == 401:
                first_401 = time.monotonic() - revoked_at
                break
            time.sleep(0.02)
        if first_401 is None:
            self.violation("revoked key", "still accepted 3 s after `placementctl keys revoke`")
        else:
            self.revocation_seconds = first_401
            if first_401 > 1.25:
                self.violation("revoked key", f"refused only {first_401:.2f} s after revocation (contract: within a second)")
        for i in range(20):
            self.record("revoked key GET /v1/me", self.get("/v1/me", key=secret), 401, "unauthorized")
        e = self.event("closed", {"reason": "revoked"})
        self.record("revoked key POST (valid closed event)", self.post(json.dumps(e), key=secret), 401, "unauthorized", posted=True)
        self.record("revoked key GET stipends", self.get(f"/v1/reports/companies/{SEED_COMPANY}/stipends", key=secret), 401, "unauthorized")
        real = self.keys["platform"]
        kid, ksec = real.split("_")[1], real.split("_")[2]
        malformed = {
            "empty bearer": "", "plk_": "plk_", "missing secret": f"plk_{kid}_", "id 11 hex": f"plk_{kid[:11]}_{ksec}",
            "id 13 hex": f"plk_{kid}0_{ksec}", "secret 63 hex": f"plk_{kid}_{ksec[:63]}", "secret 65 hex": f"plk_{kid}_{ksec}0",
            "non-hex secret": f"plk_{kid}_{'g' * 64}", "uppercase secret": f"plk_{kid}_{ksec.upper()}" if ksec.upper() != ksec else f"plk_{kid}_{'G'*64}",
            "wrong prefix": f"pk_{kid}_{ksec}", "extra part": f"{real}_00", "unknown id": f"plk_{'0' * 12}_{ksec}",
            "right id wrong secret": f"plk_{kid}_{'0' * 64}", "trailing garbage": real + "x", "JWT-looking": "eyJhbGciOiJub25lIn0.e30.",
            "SQL in key": "plk_' OR 1=1 --_" + "0" * 64, "key twice": real + " " + real, "percent-encoded": real.replace("_", "%5F"),
        }
        for name, k in malformed.items():
            self.record(f"malformed key: {name}", self.get("/v1/me", key=None, headers={"Authorization": "Bearer " + k}), 401, "unauthorized")
        for name, h in {"no header": None, "Basic": "Basic " + base64.b64encode(b"a:b").decode(), "scheme only": "Bearer",
                        "lower-case scheme (accepted)": "bearer " + real, "token without scheme": real}.items():
            r = self.get("/v1/me", key=None, headers={"Authorization": h} if h else None)
            self.record(f"Authorization {name}", r, 200 if "accepted" in name else 401)
        e = self.event("closed", {"reason": "malformed"})
        self.record("POST with right id, wrong secret", self.post(json.dumps(e), key=f"plk_{kid}_{'0' * 64}"), 401, "unauthorized", posted=True)
        # Role abuse: a university key and an admin key may not append; a company key not another's posting.
        uni = self.create_key("university", "u-fuzz-1")
        self.record("university key POST", self.post(json.dumps(self.event("closed", {})), key=uni), 403, "forbidden", posted=True)
        self.record("admin key POST", self.post(json.dumps(self.event("closed", {})), key="admin"), 403, "forbidden", posted=True)
        other = self.create_key("company", "c-other")
        self.record("other company closes the seed posting", self.post(json.dumps(self.event("closed", {})), key=other), {403, 404}, posted=True)
        self.record("other company posts for the seed company",
                    self.post(json.dumps(self.posted("p-fuzz-steal", company=SEED_COMPANY)), key=other), 403, "forbidden", posted=True)
        self.record("other company reads seed stream", self.get(f"/v1/postings/{SEED_POSTING}/events", key=other), 404, "not_found")
        self.record("university reads global feed", self.get("/v1/events", key=uni), 403, "forbidden")
        self.end()

    def timing(self):
        self.begin("key-check timing")
        real = self.keys["platform"]
        kid, ksec = real.split("_")[1], real.split("_")[2]
        flip = "0" if ksec[-1] != "0" else "1"
        near = f"plk_{kid}_{ksec[:-1]}{flip}"                       # shares 63 of 64 secret hex digits
        far = f"plk_{kid}_" + "".join("0" if ch != "0" else "1" for ch in ksec)   # shares none
        unknown = f"plk_{'f' * 12}_{ksec}"                          # unknown id (cached "no such key")
        samples = {"near": [], "far": [], "unknown": []}
        conn = self.conn()
        order = ["near", "far", "unknown"]
        secrets = {"near": near, "far": far, "unknown": unknown}

        def one(which):
            t = time.perf_counter()
            conn.request("GET", "/v1/me", headers={"Authorization": "Bearer " + secrets[which]})
            r = conn.getresponse()
            r.read()
            return time.perf_counter() - t, r.status

        for _ in range(50):  # warm-up
            for w in order:
                one(w)
        statuses = {}
        for i in range(self.timing_samples):
            for w in (order if i % 2 == 0 else order[::-1]):
                dt, st = one(w)
                samples[w].append(dt)
                statuses[st] = statuses.get(st, 0) + 1
        conn.close()
        entry = self.table[self.current_class]
        entry["cases"] += sum(len(v) for v in samples.values())
        for st, n in statuses.items():
            entry["statuses"][str(st) + (" unauthorized" if st == 401 else "")] = n
            if st != 401:
                self.violation("timing", f"a wrong key got {st}")
        med = {w: statistics.median(v) * 1e6 for w, v in samples.items()}
        p90 = {w: sorted(v)[int(len(v) * 0.9)] * 1e6 for w, v in samples.items()}
        self.timing_result = (med, p90, self.timing_samples)
        # A leak would show up as the near-prefix key being consistently slower: require the
        # medians within 15 % or 50 us of each other (loopback noise on a shared 2-core machine).
        diff = abs(med["near"] - med["far"])
        if diff > max(50.0, 0.15 * min(med["near"], med["far"])):
            self.violation("timing", f"median latency near-prefix {med['near']:.0f} us vs no-prefix {med['far']:.0f} us differ by {diff:.0f} us")
        self.end()

    def paths(self):
        self.begin("path traversal / odd paths")
        cases = [
            "/v1/postings/../events", "/v1/postings/%2e%2e/events", "/v1/postings/..%2fevents", "/v1/postings/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/v1/../openapi.json", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/v1/events/../../etc/passwd", "//v1//events",
            "/v1/postings/p-fuzz-1%00", "/v1/postings/p-fuzz-1%00/events", "/v1/postings/%00", "/v1/postings/p%2Ffuzz", "/v1/postings/",
            "/v1/postings//events", "/v1/placements/a/b/c", "/v1/placements/p-fuzz-1/", "/v1/postings/p-fuzz-1;jsessionid=x",
            "/V1/EVENTS", "/v1/events/", "/v1/postings/..", "/v1/postings/.", "/v1/postings/%2e", "/v1/postings/\\..\\..\\etc\\passwd",
            "/v1/postings/" + "a" * 5000, "/v1/postings/" + "%41" * 3000, "/v1/reports/universities/../../v1/events",
            "/v1/reports/companies/c-fuzz-1/stipends/../../../../events", "/v1/me/..", "/v1/%76%31/me", "/v1/me%20", "/v1/me?", "/v1/me#frag",
            "/v1/postings/p-fuzz-1?min_position=0#x", "/v1/postings/%E2%80%AEp-1", "/v1/postings/p-fuzz-1%0d%0aX-Injected:%201",
            "/v1/placements/%2e%2e/%2e%2e", "/.placement-data/postgresql.conf", "/v1/postings/~root", "/v1/postings/p-fuzz-1/events/extra",
        ]
        for path in cases:
            r = raw(self.port, request_bytes("GET", path, [(b"Authorization", b("Bearer " + self.keys["platform"]))]))
            self.record(path[:60], r, {200, 400, 401, 404, 405}, allow_closed=False, protocol_ok=True)
            if r.status == 200 and (b"root:" in r.body or b"postgres" in r.body.lower() and b"listen_addresses" in r.body):
                self.violation(path, f"served a file: {r.body[:100]!r}")
            if r.status == 200 and path.startswith("/v1/postings/p-fuzz-1%00"):
                self.violation(path, "a NUL-suffixed id resolved to the real posting")
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "HEAD", "CONNECT"):
            for path in ("/v1/events", f"/v1/postings/{SEED_POSTING}", "/v1/events/1"):
                payload = request_bytes(method, path, [(b"Authorization", b("Bearer " + self.keys["platform"]))], b"" if method != "CONNECT" else b"")
                r = raw(self.port, payload, shut_write=method == "CONNECT") if method != "HEAD" else self._head(path)
                self.record(f"{method} {path}", r, {200, 400, 401, 404, 405}, posted=path == "/v1/events", allow_closed=method == "CONNECT",
                            protocol_ok=True, bodyless=method in ("HEAD", "CONNECT"))
        self.end()

    def _head(self, path):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            sock.sendall(request_bytes("HEAD", path, [(b"Authorization", b("Bearer " + self.keys["platform"]))], None, content_length=False))
            return read_response(sock, 10, head_request=True)
        finally:
            sock.close()

    def queries(self):
        self.begin("query parameter abuse")
        feed = [("limit", v) for v in ("-1", "0", "1001", "1e9", "1000000000", "1.5", "abc", "", "%00", "99999999999999999999", "%205", "0x10",
                                       "%2B5x", "9223372036854775808", "-9223372036854775809", "1%00")]
        feed += [("after", v) for v in ("abc", "-1", "1e3", "9223372036854775808", "", "0.0", "%FF", "1%20OR%201=1", "NaN")]
        for param, value in feed:
            self.record(f"feed {param}={value}", self.get(f"/v1/events?{param}={value}", key="admin"), 400, "invalid_field", field=param)
        self.record("feed limit=1&limit=abc (first wins or rejected)", self.get("/v1/events?limit=1&limit=abc", key="admin"), {200, 400})
        self.record("feed after=9223372036854775807 (empty page)", self.get("/v1/events?after=9223372036854775807", key="admin"), 200)
        self.record("feed limit=1000", self.get("/v1/events?limit=1000", key="admin"), 200)
        self.record("feed with 2,000 junk parameters", self.get("/v1/events?" + "&".join(f"x{i}=y" for i in range(2000)), key="admin"),
                    {200, 400, 414})
        for v in ("-1", "0", "1001", "1e9", "abc", "2.0"):
            self.record(f"placements limit={v}", self.get(f"/v1/placements?limit={v}"), 400, "invalid_field", field="limit")
        nul_cursor = base64.urlsafe_b64encode(json.dumps(["p-\u0000", "s"]).encode()).decode().rstrip("=")
        long_cursor = base64.urlsafe_b64encode(json.dumps(["p" * 50000, "s"]).encode()).decode().rstrip("=")
        cursors = {"garbage": "garbage!!", "not base64": "%%%%", "base64 of text": base64.b64encode(b"hello").decode(),
                   "base64 of an object": base64.urlsafe_b64encode(b'{"a":1}').decode(),
                   "three strings": base64.urlsafe_b64encode(b'["a","b","c"]').decode(),
                   "numbers": base64.urlsafe_b64encode(b'[1,2]').decode(), "empty": "",
                   "invalid UTF-8 inside": base64.urlsafe_b64encode(b'["\xff","s"]').decode(),
                   "SQL inside": base64.urlsafe_b64encode(json.dumps(["x') OR 1=1 --", "s"]).encode()).decode(),
                   "NUL inside (\\u0000)": nul_cursor, "50 KB id inside": long_cursor}
        for name, token in cursors.items():
            r = self.get(f"/v1/placements?cursor={token}")
            # A well-formed token of two strings is taken as a position (the SQL binds it): 200 or 400.
            lenient = name in ("SQL inside", "50 KB id inside")
            self.record(f"cursor {name}", r, {200, 400} if lenient else 400, "invalid_field", field="cursor")
        for param, value in [("status", "bogus"), ("status", "ACCEPTED"), ("status", ""), ("company_id", ""), ("student_id", "a" * 200)]:
            self.record(f"placements {param}={value[:20]}", self.get(f"/v1/placements?{param}={value}"), 400, "invalid_field", field=param)
        for path in ("/v1/reports/payouts", "/v1/reports/universities/u-fuzz-1"):
            for param, value in [("from", "garbage"), ("from", "2026-13-01T00:00:00Z"), ("from", "2026-01-01"), ("to", "2026-01-01T00:00:00"),
                                 ("from", "99999-01-01T00:00:00Z"), ("from", "0000-01-01T00:00:00Z"), ("to", "2026-02-30T00:00:00Z"),
                                 ("from", "2026-01-01T00:00:00.1234567Z"), ("from", "2026-01-01T24:00:00Z"),
                                 ("from", "0001-01-01T00:00:00%2B23:59"), ("to", "9999-12-31T23:59:59-23:59")]:
                self.record(f"{path.split('/')[3]} {param}={value}", self.get(f"{path}?{param}={value}"), 400, "invalid_field", field=param)
            self.record(f"{path.split('/')[3]} to before from", self.get(f"{path}?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"), 400,
                        "invalid_field", field="to")
            self.record(f"{path.split('/')[3]} extreme but valid range",
                        self.get(f"{path}?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999Z"), 200)
        for value in ("xml", "CSV", "", "csv%00"):
            self.record(f"payouts format={value}", self.get(f"/v1/reports/payouts?format={value}"), 400, "invalid_field", field="format")
            self.record(f"stipends format={value}", self.get(f"/v1/reports/companies/{SEED_COMPANY}/stipends?format={value}"), 400,
                        "invalid_field", field="format")
        for value in ("-1", "abc", "1e3", "9223372036854775808"):
            self.record(f"min_position={value}", self.get(f"/v1/postings/{SEED_POSTING}?min_position={value}"), 400, "invalid_field",
                        field="min_position")
        r = self.get(f"/v1/postings/{SEED_POSTING}?min_position=9223372036854775807")
        self.record("min_position=2^63-1 (no append has it: 503 projection_lagging at once)", r, 503, "projection_lagging")
        if r.status == 503 and "beyond every position" not in ((r.json() or {}).get("error") or {}).get("message", ""):
            self.violation("min_position=2^63-1", f"waited instead of answering at once: {r.body[:200]!r}")
        if r.status == 503 and "retry-after" not in r.headers:
            self.violation("min_position=2^63-1", "503 without Retry-After")
        self.record("query with broken percent-encoding %zz", self.get("/v1/placements?company_id=%zz"), 400, "invalid_field", field="company_id")
        self.record("query key with invalid UTF-8 %FF=1", self.get("/v1/placements?%FF=1"), {200, 400})
        self.record("query of 60 KB", self.get("/v1/placements?company_id=" + "a" * 60000), {400, 414, 431}, protocol_ok=True)
        self.end()

    # =========================================================================================

    # --- issue 15: what a hostile tenant, a stolen password or a local user could do -------------

    def psql_holding(self, sql):
        """A psql session (as the cluster's owner, over the embedded cluster's socket) that has run
        `sql` inside an open transaction and keeps it open until `.stdin.close()`."""
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) or [shutil.which("psql")]
        sock = os.path.join(self.data_dir, "run")
        p = subprocess.Popen([psql[-1], "-X", "-q", "-At", "-h", sock, "-U", "postgres", "-d", "placement", "-v", "ON_ERROR_STOP=1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        p.stdin.write(f"BEGIN;\n{sql};\n\\echo held\n")
        p.stdin.flush()
        seen = []
        while not seen or seen[-1].strip() != "held":
            line = p.stdout.readline()
            if not line or len(seen) > 20:
                raise RuntimeError(f"psql could not run {sql!r}: {''.join(seen)}")
            seen.append(line)
        return p

    def hardening(self):
        self.begin("hardening (issue 15)")
        # 1. Text limits count bytes: one letter and 500,000 combining accents is one character.
        e = self.posted("p-fuzz-accents")
        e["data"]["title"] = "a" + "\u0301" * 500_000
        body = json.dumps(e, ensure_ascii=False).encode()
        assert len(body) < MIB
        self.record("title of 1 character and 1 MB (combining accents)", self.post(body), 400, "invalid_field",
                    field="data.title", posted=True)
        e = self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 5, "work_date": "2026-03-02",
                                        "note": "\U0001F600" * 2000 + "\u0301"})
        self.record("note of 2,000 characters and 8,002 bytes", self.post(json.dumps(e, ensure_ascii=False)), 400,
                    "invalid_field", field="data.note", posted=True)
        e = self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 5, "work_date": "2026-03-02",
                                        "note": "\U0001F600" * 2000})
        self.record("note of 2,000 emoji, 8,000 bytes (accepted)", self.post(json.dumps(e, ensure_ascii=False)), 201,
                    posted=True, recorded=1)
        # 1. Internal batches are sized by bytes too: 660 events of 8,000-byte notes (5.3 MB) come
        #    back from the feed in pages of about 4 MiB however large the limit, and paging reads all.
        before = self.last_position(self.get("/v1/events?after=0&limit=1000", key="admin"))
        while True:
            page = self.get(f"/v1/events?after={before}&limit=1000", key="admin")
            if not (page.json() or {}).get("events"):
                break
            before = self.last_position(page)
        for _ in range(6):
            batch = [self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 1, "work_date": "2026-03-03",
                                                 "note": "\U0001F600" * 2000}) for _ in range(110)]
            self.record("110 events of 8,000-byte notes", self.post(json.dumps(batch, ensure_ascii=False)), 201, posted=True, recorded=110)
        after, seen, largest = before, 0, 0
        while True:
            page = self.get(f"/v1/events?after={after}&limit=1000", key="admin")
            events = (page.json() or {}).get("events") or []
            if not events:
                break
            largest = max(largest, len(page.body))
            seen += len(events)
            after = self.last_position(page)
        self.notes.append(f"660 events of 8 KB notes: the feed's largest page was {largest / MIB:.2f} MiB")
        if seen != 660 or largest > 4.5 * MIB:  # 4 MiB of rows and one event, a little more as JSON
            self.violation("feed pages of large events", f"read {seen} of 660 events, largest page {largest} bytes (bar: 4.5 MiB)")
        # 2. The daemon's role may not create schemas (a look-alike of the owner's would come first
        #    on a default search_path); only the projections' own, through the owner's function.
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) or [shutil.which("psql")]
        for sql in ('CREATE SCHEMA "postgres"', "SELECT placement_create_schema('postgres')"):
            out = subprocess.run([psql[-1], "-X", "-At", "-h", os.path.join(self.data_dir, "run"), "-U", "placement_app", "-d", "placement",
                                  "-c", sql], capture_output=True, text=True, timeout=60)
            if out.returncode == 0 or "permission denied" not in out.stderr and "not a projection schema" not in out.stderr:
                self.violation(f"the daemon's role ran {sql}", f"exit {out.returncode}: {out.stdout[-200:]} {out.stderr[-300:]}")
        # 6. A company's event on another company's posting is refused before any lock: answered
        #    while another transaction holds that posting's turn.
        other = self.create_key("company", "c-fuzz-other")
        holder = self.psql_holding(f"SELECT pg_advisory_xact_lock(1347, hashtext('{SEED_POSTING}'))")
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                c.request("POST", "/v1/events", body=json.dumps(self.event("closed", {})),
                          headers={"Authorization": "Bearer " + other, "Content-Type": "application/json"})
                r = c.getresponse()
                reply = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
            except (http.client.HTTPException, OSError) as ex:
                reply = Reply(None, {}, b"", f"no answer while the posting's turn was held: {ex}")
            finally:
                c.close()
            self.record("another company's posting while its stream is held", reply, 403, "forbidden", posted=True)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        # 4. Unknown keys from one address: once its failures outrun the limit they are refused
        #    without a database lookup; the real key keeps working from the same address.
        throttled = 0
        for i in range(120):
            fake = "plk_" + uuid.uuid4().hex[:12] + "_" + uuid.uuid4().hex + uuid.uuid4().hex
            r = self.get("/v1/me", key=fake)
            if i % 40 == 0:
                self.record(f"unknown key #{i}", r, 401, "unauthorized")
            if r.status == 401 and "too many failed authentications" in ((r.json() or {}).get("error") or {}).get("message", ""):
                throttled += 1
            if i % 30 == 0:
                self.record(f"the real key beside the unknown ones (#{i})", self.get("/v1/me"), 200)
        if throttled == 0:
            self.violation("120 unknown keys from one address", "none was refused without a lookup")
        self.notes.append(f"120 unknown keys from one address: {throttled} refused without a database lookup")
        # 10. nosniff on every response: success, error, unknown route, the dashboard.
        for name, reply in (("GET /healthz", self.get("/healthz", key=None)), ("GET /v1/me without a key", self.get("/v1/me", key=None)),
                            ("POST invalid JSON", self.post("{")), ("GET /nowhere", self.get("/nowhere")), ("GET /", self.get("/", key=None))):
            self.record(f"X-Content-Type-Options on {name}", reply, None, posted=name.startswith("POST"))
            if reply.headers.get("x-content-type-options") != "nosniff":
                self.violation(name, f"no X-Content-Type-Options: nosniff: {reply.headers}")
        # 10. --demo refuses an external database (it would load a made-up history and keys of every role).
        out = subprocess.run([self.placementd, "--demo", "--database-url", "postgres://u@127.0.0.1:1/ledger"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode == 0 or "embedded cluster only" not in out.stderr:
            self.violation("--demo with --database-url", f"exit {out.returncode}: {out.stderr[-300:]}")
        # 9. Database TLS cannot be stripped: a server on a non-loopback address that answers the
        #    TLS request with "no" never gets a cleartext startup message (with user and database).
        addresses = [a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split() if ":" not in a]
        if not addresses:
            self.violation("TLS stripping", "this host has no non-loopback IPv4 address to test with")
        else:
            listener = socket.socket()
            listener.bind((addresses[0], 0))
            listener.listen(4)
            listener.settimeout(60)
            seen = []

            def stripper():
                try:
                    while True:
                        conn, _ = listener.accept()
                        conn.settimeout(10)
                        request = conn.recv(8)
                        seen.append(("ssl request" if request[4:8] == b"\x04\xd2\x16\x2f" else "other", request))
                        conn.sendall(b"N")
                        after = conn.recv(4096)
                        if after:
                            seen.append(("cleartext after N", after))
                        conn.close()
                except OSError:
                    pass

            t = threading.Thread(target=stripper, daemon=True)
            t.start()
            host, port = listener.getsockname()
            out = subprocess.run([self.placementctl, "status", "--database-url", f"postgres://placement@{host}:{port}/ledger"],
                                 capture_output=True, text=True, timeout=120)
            listener.close()
            t.join(timeout=15)
            cleartext = [data for kind, data in seen if kind != "ssl request"]
            if out.returncode == 0 or cleartext or not seen:
                self.violation("database TLS stripped on the path", f"exit {out.returncode}; the fake server saw {seen!r}: {out.stderr[-300:]}")
            self.notes.append(f"a TLS-stripping server at {host}: {len(seen)} TLS request(s), no cleartext startup; placementctl exit {out.returncode}")
        # 10. Tenant text in the CLI's tables: a leading = is neutralised and control characters
        #     never reach the terminal.
        e = self.posted("p-fuzz-formula")
        e["data"]["title"] = "=HYPERLINK(\"http://x.example\")\u001b[2J"
        self.record("a title that is a formula with an escape sequence", self.post(json.dumps(e)), 201, posted=True, recorded=1)
        table = self.ctl("report", "postings").stdout
        line = next((l for l in table.splitlines() if "p-fuzz-formula" in l), "")
        if "\x1b" in table or "'=HYPERLINK" not in line:
            self.violation("placementctl report postings", f"the formula title is shown as {line!r}")
        # 8. The embedded cluster's files: private directories, socket and lock files.
        for path, allowed in ((os.path.join(self.data_dir, "run"), 0o700), (os.path.join(self.data_dir, "run", ".s.PGSQL.5432"), 0o700),
                              (os.path.join(self.data_dir, ".users"), 0o600), (self.data_dir, 0o711)):
            mode = os.stat(path).st_mode & 0o777
            if mode & ~allowed:
                self.violation(f"mode of {path}", f"{oct(mode)} gives others more than {oct(allowed)}")
        if os.geteuid() == 0:
            # A data directory whose socket falls back to a predictable /tmp name, created first by
            # another user: placementctl must refuse it, not put the owner's socket there.
            long_dir = os.path.join("/tmp", "fuzz-hostile-" + "d" * 90 + uuid.uuid4().hex[:8])
            h = 1469598103934665603
            for byte in long_dir.encode():
                h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
            trap = f"/tmp/placement-{h:x}"
            os.makedirs(trap, exist_ok=True)
            os.chown(trap, 65534, 65534)  # nobody
            os.chmod(trap, 0o777)
            try:
                out = subprocess.run([self.placementctl, "migrate", "--data-dir", long_dir], capture_output=True, text=True, timeout=180)
                if out.returncode == 0 or "belongs to another user" not in (out.stdout + out.stderr):
                    self.violation("socket directory planted by another user", f"exit {out.returncode}: {(out.stdout + out.stderr)[-400:]}")
                if os.path.exists(os.path.join(trap, ".s.PGSQL.5432")):
                    self.violation("socket directory planted by another user", "the server put its socket there")
            finally:
                shutil.rmtree(trap, ignore_errors=True)
                shutil.rmtree(long_dir, ignore_errors=True)
        # 3 and 5. Appends while 500 min_position waiters and 2,000 idle connections are held.
        #    The waiters ask for a position that exists but is not yet gap-free (an older
        #    transaction holds the horizon back), so each waits its full 5 s; ten keys hold 50
        #    each, and an eleventh sends more than the per-key cap (the rest are refused at once).
        wait_keys = [(f"u-wait-{i}", self.create_key("university", f"u-wait-{i}")) for i in range(11)]
        holder = self.psql_holding("SELECT txid_current()")
        waiters, target = [], 0
        try:
            r = self.post(json.dumps(self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 1, "work_date": "2026-03-02"})))
            # Not yet in the gap-free feed the count reads: counted once the holder has ended.
            self.record("append behind an open transaction", r, 201)
            target = self.last_position(r)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if soft < 3000:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
            idle = []
            try:
                for _ in range(2000):
                    idle.append(socket.create_connection(("127.0.0.1", self.port), timeout=10))
            except OSError as ex:
                self.violation("2,000 idle connections", f"only {len(idle)} opened: {ex}")
            for n, (org, secret) in enumerate(wait_keys):
                request = request_bytes("GET", f"/v1/reports/universities/{org}?min_position={target}",
                                        [(b"Authorization", b"Bearer " + secret.encode())])
                for _ in range(50 if n < 10 else WAITS_PER_KEY + 40):
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    sock.sendall(request)
                    waiters.append((n, sock))
            time.sleep(0.5)  # every waiter's request has reached the daemon
            ok, latencies, posted = 0, [], 0
            for i in range(100):
                t = time.monotonic()
                r = self.post(json.dumps(self.event("hours_logged", {"student_id": SEED_STUDENT, "minutes": 1, "work_date": "2026-03-02"})))
                latencies.append(time.monotonic() - t)
                posted += 1
                if r.status == 201:
                    ok += 1
                    self.expected_events += 1
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        if target:
            self.expected_events += 1
        answers = {}
        for n, sock in waiters:
            reply = read_response(sock, timeout=20)
            sock.close()
            message = ((reply.json() or {}).get("error") or {}).get("message", "") if reply.status != 200 else ""
            kind = "over the cap" if "reads waiting" in message else f"{reply.status} {reply.code() or ''}".strip()
            answers[kind] = answers.get(kind, 0) + 1
            if reply.status not in (200, 503) or (reply.status == 503 and reply.code() != "projection_lagging"):
                self.record(f"min_position waiter of key {n}", reply, 503, "projection_lagging")
        self.notes.append(f"{len(waiters)} min_position waiters: " + ", ".join(f"{v} {k}" for k, v in sorted(answers.items())))
        if answers.get("over the cap", 0) != 40:
            self.violation("min_position waiters per key", f"expected 40 refused over the cap of {WAITS_PER_KEY}: {answers}")
        latencies.sort()
        p99 = latencies[int(0.99 * len(latencies)) - 1]
        self.notes.append(f"beside {len(idle)} idle connections and {len(waiters)} min_position waiters: "
                          f"{ok}/{posted} appends succeeded, median {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
        if ok < 0.95 * posted or p99 > 1.0:
            self.violation("appends beside 2,000 idle connections and 500 waiters",
                           f"{ok} of {posted} succeeded, p99 {p99 * 1000:.0f} ms (bars: 95 %, 1 s)")
        deadline = time.monotonic() + 3 * IDLE_TIMEOUT
        open_ones = list(idle)
        while open_ones and time.monotonic() < deadline:
            still = []
            for sock in open_ones:
                sock.settimeout(0.01)
                try:
                    if sock.recv(1) != b"":
                        still.append(sock)
                except (socket.timeout, BlockingIOError):
                    still.append(sock)
                except OSError:
                    pass
            open_ones = still
            time.sleep(0.5)
        if open_ones:
            self.violation("idle timeout", f"{len(open_ones)} of {len(idle)} idle connections still open after {3 * IDLE_TIMEOUT} s")
        for sock in idle:
            sock.close()
        self.check_count("after the idle connections")
        self.end()

    def run(self):
        t0 = time.monotonic()
        self.start()
        try:
            self.keys = {"platform": self.create_key("platform"), "admin": self.create_key("admin")}
            self.seed()
            self.current_class = "setup"
            self.check_count("after seeding")
            steps = (self.oversized, self.nesting, self.utf8, self.identifiers, self.numbers, self.duplicates, self.headers,
                     self.keys_revoked, self.timing, self.paths, self.queries, self.hardening)
            for step in steps:
                if not self.only or step.__name__ in self.only:
                    step()
            # Final cross-checks: the CLI's count, and the daemon's log.
            self.current_class = "final"
            out = self.ctl("status")
            m = re.search(r"events:\s+(\d+)", out.stdout)
            if not m or int(m.group(1)) != self.expected_events:
                self.violation("placementctl status", f"reports {m.group(1) if m else '?'} events, expected {self.expected_events}")
            self.final_events = int(m.group(1)) if m else None
            verify = self.ctl("verify", "--deep", check=False)
            if verify.returncode != 0 or "OK (deep)" not in verify.stdout:
                self.violation("placementctl verify --deep", f"exit {verify.returncode}: {verify.stdout[-300:]} {verify.stderr[-300:]}")
            self.alive()
        finally:
            self.stop()
        with open(self.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        internal = [line for line in log.splitlines() if "internal error" in line]
        for line in internal[:10]:
            self.violation("daemon log", line[:400])
        secrets = [k.split("_")[2] for k in self.keys.values()]
        if any(s in log for s in secrets):
            self.violation("daemon log", "an API key secret appears in the log")
        self.elapsed = time.monotonic() - t0
        code = self.report()
        if code == 0 and not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            os.unlink(self.log_path)
        else:
            print(f"data dir kept: {self.data_dir}; daemon log: {self.log_path}")
        return code

    def report(self):
        print()
        print(f"{'class':34} {'cases':>6}  {'secs':>5}  observed statuses")
        print("-" * 110)
        total = 0
        for name, entry in self.table.items():
            if name in ("setup", "final") and entry["cases"] == 0:
                continue
            total += entry["cases"]
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(entry["statuses"].items()))
            print(f"{name:34} {entry['cases']:>6}  {entry.get('seconds', 0):5.1f}  {statuses}")
        print("-" * 110)
        print(f"{'total':34} {total:>6}")
        if hasattr(self, "timing_result"):
            med, p90, n = self.timing_result
            print(f"key-check timing, {n} samples each, median (p90) us: wrong secret sharing 63/64 hex digits "
                  f"{med['near']:.0f} ({p90['near']:.0f}); sharing none {med['far']:.0f} ({p90['far']:.0f}); unknown key id "
                  f"{med['unknown']:.0f} ({p90['unknown']:.0f})")
        if hasattr(self, "revocation_seconds"):
            print(f"revoked key refused {self.revocation_seconds:.2f} s after `placementctl keys revoke` returned")
        print(f"events recorded: {self.expected_events} (seed 3 + accepted cases); placementctl status: {getattr(self, 'final_events', '?')}")
        if self.decoder_rejections:
            print(f"note: {len(self.decoder_rejections)} malformed requests were refused by the HTTP decoder before any route "
                  "(400, empty body, connection closed): " + "; ".join(c.split(": ", 1)[1] for c in self.decoder_rejections))
        for note in sorted(set(self.notes)):
            print("note:", note)
        if self.details_path:
            with open(self.details_path, "w") as f:
                for cls, case, label, secs in self.details:
                    f.write(f"{cls}\t{case}\t{label}\t{secs:.3f}s\n")
            print(f"every case and its status: {self.details_path}")
        if hasattr(self, "elapsed"):
            print(f"elapsed: {self.elapsed:.0f} s")
        if self.violations:
            print(f"\nFAIL: {len(self.violations)} violation(s):")
            for v in self.violations:
                print("  -", v)
            return 1
        print("\nOK: no 5xx, no crash, every error in the contract's shape, nothing recorded by an erroring request")
        return 0


def urlquote(s):
    from urllib.parse import quote
    return quote(s, safe="")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bindir", help="directory holding placementd and placementctl, e.g. .build/debug")
    p.add_argument("--timing-samples", type=int, default=500, help="requests per wrong-key kind in the timing class (500)")
    p.add_argument("--keep", action="store_true", help="keep the data directory and log")
    p.add_argument("--details", metavar="FILE", help="write every case (class, case, observed status) to FILE as TSV")
    p.add_argument("--only", action="append", metavar="CLASS", help="run only this class (e.g. hardening); repeatable")
    args = p.parse_args()
    suite = Suite(args.bindir, args.timing_samples, args.keep)
    suite.details_path = args.details
    suite.only = set(args.only or [])
    sys.exit(suite.run())


if __name__ == "__main__":
    main()
