#!/usr/bin/env python3
"""Proof under faults (issue 6): the ledger's guarantees while the daemon and its database fail.

Usage:

    python3 Tests/faults/fault_test.py .build/debug [--only 1,5] [--soak SECONDS] [--keep] [--seed N]

Starts a real placementd on a fresh embedded PostgreSQL cluster under /tmp, drives concurrent
loopback clients, injects faults and then checks the log and the projections:

  1. kill -9 of the daemon at random moments under load (several rounds); clients retry every
     unacknowledged request with the same event ids.
  2. PostgreSQL fast shutdown under load (pg_ctl stop -m fast as the cluster's user), restarted
     after a few seconds the way the daemon starts it: clients must get 503 `unavailable` with
     Retry-After meanwhile, and the daemon must serve again without a restart.
  3. The connection pool flooded: 200 concurrent connections, most of them reads with
     min_position far ahead (each waits up to 5 s), beside appends and /healthz probes.
  4. Slow clients: slowloris headers, byte-by-byte bodies, pipelining clients that never read.
  5. A network partition between the daemon and PostgreSQL: the cluster is restarted listening on
     loopback TCP too, the daemon is restarted with --database-url through a proxy of this script
     (`CutLink`), and the proxy black-holes the link under load for --partition-seconds (8, longer
     than the daemon's 5 s database deadline) without closing a socket, then heals it. During the
     cut /healthz must answer 200 and appends, /readyz, a feed read and /v1/me 503 `unavailable`
     with Retry-After (/v1/me may answer from the key cache), each within the deadline + 2 s (the
     answers are printed when that fails); after the heal the daemon must serve again by
     itself within 30 s (time to the first acknowledged append and to full recovery measured);
     every multi-event request is in the log whole, in one transaction, or not at all.
     --partition-long adds a cut of --partition-long-seconds (35). Afterwards the daemon is back on
     the embedded default over the unix socket.
  6. Failover: the cluster is restarted on loopback TCP with synchronous replication to a standby
     made here (pg_basebackup, streaming, listed in synchronous_standby_names); the daemon is given
     both hosts in one URL (target_session_attrs=read-write). Under --failover-clients (24) retrying
     writers and a feed follower, the primary's postmaster is killed with kill -9 and the standby is
     promoted --failover-promote-after (1) s later; the daemon must find the new primary by itself.
     Measured: time without acknowledged appends, time to recover; checked: no acknowledged event
     lost or doubled, the follower's feed has no gap or repeat across the failover, and
     `verify --digest` of the last seal taken before the kill passes on the promoted standby, which
     then becomes the ledger's cluster for the checks that follow.
  7. The live feed (GET /v1/events/live, Server-Sent Events): a follower from position 0 hangs up
     every 1-4 s and reconnects with Last-Event-ID, under 24 writers and a PostgreSQL restart;
     what it received must equal the log, in order, none missed or repeated.

After each scenario: every acknowledged event is in `placementctl export` exactly once with the
position, version and hash it was acknowledged with; positions increase; stream versions are
contiguous; the HTTP feed equals the export; `placementctl verify` exits 0. At the end the
projections (API lists and reports, and `placementctl report ... --format json`) equal a model
computed here from the exported log, equal a throwaway build at the head position, and are
unchanged by `placementctl replay --all`.

Python 3 standard library only; loopback traffic only. Exits 1 naming every broken guarantee,
2 when the environment is unusable. Prints a summary table of counts at the end.
"""
import argparse
import collections
import datetime
import fcntl
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

FAILURES = []
FAIL_LOCK = threading.Lock()
T0 = time.monotonic()


def log(message):
    print(f"[{time.monotonic() - T0:7.1f}s] {message}", flush=True)


def fail(message):
    with FAIL_LOCK:
        FAILURES.append(message)
        n = len(FAILURES)
    if n <= 30:
        print(f"FAIL: {message}", file=sys.stderr, flush=True)
    elif n == 31:
        print("FAIL: (more failures: see the list at the end)", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Processes


class Ledger:
    """The daemon, its data directory and the CLI."""

    def __init__(self, bindir, data, port):
        self.placementd = os.path.join(bindir, "placementd")
        self.placementctl = os.path.join(bindir, "placementctl")
        for binary in (self.placementd, self.placementctl):
            if not os.access(binary, os.X_OK):
                raise SystemExit(f"error: {binary} is not an executable; build first (swift build) and pass the bin dir")
        self.data = data
        self.port = port
        self.process = None
        self.log_path = os.path.join(data, "placementd.log")
        self.peak_rss = 0
        self.rss_samples = []
        self.starts = 0
        self.stop_seconds = []
        self.daemon_args = []  # extra placementd flags (scenario 5: --database-url through its proxy)
        self.pg_port = None  # the cluster's TCP port while it listens on loopback (scenario 5), else None
        self._sampler_stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    # The embedded cluster's layout (Sources/LedgerStore/EmbeddedCluster.swift): DIR/pg is PGDATA,
    # DIR/run holds the unix socket and postgresql.log; the server runs as `postgres` when root.
    @property
    def pgdata(self):
        return os.path.join(self.data, "pg")

    @property
    def run_dir(self):
        return os.path.join(self.data, "run")

    def pg_bin(self):
        explicit = os.environ.get("PLACEMENT_PG_BIN")
        if explicit:
            return explicit
        roots = []
        for root in ("/usr/lib/postgresql", "/usr/local/lib/postgresql"):
            try:
                roots += [(int(v), f"{root}/{v}/bin") for v in os.listdir(root) if v.isdigit() and int(v) >= 15]
            except OSError:
                pass
        if not roots:
            found = shutil.which("pg_ctl")
            if found:
                return os.path.dirname(found)
            raise SystemExit("error: no PostgreSQL 15+ server binaries (apt-get install postgresql-15)")
        return max(roots)[1]

    def as_server_user(self, argv):
        if os.getuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def pg_ctl(self, *args, timeout=90):
        argv = self.as_server_user([os.path.join(self.pg_bin(), "pg_ctl"), "-D", self.pgdata, *args])
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def pg_stop(self):
        return self.pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def pg_start(self, tcp_port=None, extra=""):
        # The same options EmbeddedCluster.launch passes (durable: fsync stays on). With `tcp_port`
        # the server also listens on 127.0.0.1 at that port; the port names the unix socket too
        # (.s.PGSQL.<port>), so the embedded default (placementctl) cannot reach it meanwhile.
        listen = f"-c listen_addresses=127.0.0.1 -p {tcp_port}" if tcp_port else "-c listen_addresses=''"
        options = (f"{listen} -k '{self.run_dir}' -c max_connections=200"
                   " -c unix_socket_permissions=0777 -c idle_in_transaction_session_timeout=60s" + (" " + extra if extra else ""))
        result = self.pg_ctl("-l", os.path.join(self.run_dir, "postgresql.log"), "-w", "-t", "60", "-o", options, "start")
        self.pg_port = tcp_port if result.returncode == 0 else self.pg_port
        return result

    def psql(self, sql, timeout=20):
        """One query as the cluster's owner over the unix socket (rows as lists of strings), or None."""
        argv = self.as_server_user([os.path.join(self.pg_bin(), "psql"), "-h", self.run_dir, "-p", str(self.pg_port or 5432),
                                    "-U", "postgres", "-d", "placement", "-AtX", "-F", "\t", "-c", sql])
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0:
            return None
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def app_sessions(self):
        """The daemon role's server sessions: {(client, state): count}, client 'tcp' or 'socket'."""
        rows = self.psql("SELECT CASE WHEN client_addr IS NULL THEN 'socket' ELSE 'tcp' END, coalesce(state, '?'), count(*) "
                         "FROM pg_stat_activity WHERE usename = 'placement_app' GROUP BY 1, 2 ORDER BY 1, 2")
        return None if rows is None else {(r[0], r[1]): int(r[2]) for r in rows}

    def pg_running(self):
        return self.pg_ctl("status").returncode == 0

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.pgdata, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def ctl(self, *args, check=True, timeout=600):
        argv = [self.placementctl, *args, "--data-dir", self.data]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise SystemExit(f"error: {' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        return result

    def start(self, timeout=180):
        started = time.monotonic()
        with open(self.log_path, "ab") as out:
            out.write(f"\n==== start {self.starts} at {iso(time.time())} {' '.join(self.daemon_args)}\n".encode())
            self.process = subprocess.Popen(
                [self.placementd, "--data-dir", self.data, "--listen", f"127.0.0.1:{self.port}",
                 "--log-level", "warning", "--seal-interval", "2", *self.daemon_args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        self.starts += 1
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"error: placementd exited {self.process.returncode} while starting; see {self.log_path}")
            try:
                status, _, _ = http_once("GET", self.port, "/readyz", timeout=2)
                if status == 200:
                    return time.monotonic() - started
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise SystemExit(f"error: placementd not ready after {timeout} s; see {self.log_path}")

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill9(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout=60):
        """SIGTERM; True when the daemon stopped by itself within `timeout` (else it is killed).
        The daemon stops the embedded cluster as its last user, and PostgreSQL's shutdown
        checkpoint writes every dirty buffer first: on a slow disk that alone can take many
        seconds (the daemon gives `pg_ctl stop` 60)."""
        if self.alive():
            started = time.monotonic()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                fail(f"placementd did not stop within {timeout} s of SIGTERM (killed with SIGKILL)\n"
                     + self.stuck_report())
                self.kill9()
                return False
            self.stop_seconds.append(time.monotonic() - started)
        return True

    def last_checkpoint(self):
        """PostgreSQL's own account of its last checkpoint (log_checkpoints is on by default)."""
        try:
            with open(os.path.join(self.run_dir, "postgresql.log"), errors="replace") as f:
                lines = [l.strip() for l in f if "checkpoint complete" in l]
        except OSError:
            lines = []
        return ("last checkpoint: " + lines[-1].split("checkpoint complete: ", 1)[-1]) if lines else "no checkpoint logged"

    def stuck_report(self):
        """What a daemon that does not stop is doing: its threads, its children, PostgreSQL's
        processes and the ends of both logs."""
        pid = self.process.pid
        lines = []
        try:
            for tid in sorted(os.listdir(f"/proc/{pid}/task")):
                try:
                    with open(f"/proc/{pid}/task/{tid}/comm") as f:
                        comm = f.read().strip()
                    with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                        wchan = f.read().strip()
                    with open(f"/proc/{pid}/task/{tid}/stat") as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                    lines.append(f"    thread {tid} {comm}: state {state}, wchan {wchan}")
                except OSError:
                    pass
        except OSError as error:
            lines.append(f"    (threads unreadable: {error})")
        ps = subprocess.run(["ps", "-eo", "pid,ppid,etimes,stat,args", "--forest"], capture_output=True, text=True)
        related = [l for l in ps.stdout.splitlines() if "postgres" in l or "pg_ctl" in l or str(pid) in l]
        lines.append("    processes:")
        lines += ["      " + l for l in related[:40]]
        for title, path in (("daemon log", self.log_path), ("postgresql.log", os.path.join(self.run_dir, "postgresql.log"))):
            try:
                with open(path, errors="replace") as f:
                    tail = f.read()[-3000:].splitlines()[-25:]
            except OSError:
                tail = ["(unreadable)"]
            lines.append(f"    end of the {title}:")
            lines += ["      " + l for l in tail]
        return "\n".join(lines)

    def rss_kib(self):
        if not self.alive():
            return None
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def _sample_rss(self):
        while not self._sampler_stop.wait(1.0):
            rss = self.rss_kib()
            if rss:
                self.peak_rss = max(self.peak_rss, rss)

    def close(self, keep):
        self._sampler_stop.set()
        self.stop()
        if self.pg_running():  # the daemon stops the cluster as its last user; make sure
            self.pg_stop()
        shutil.rmtree(os.path.join(self.data, "bin"), ignore_errors=True)
        if not keep:
            shutil.rmtree(self.data, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# HTTP


def http_once(method, port, path, body=None, key=None, timeout=30, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return request(conn, method, path, body, key, headers)
    finally:
        conn.close()


def request(conn, method, path, body=None, key=None, headers=None):
    h = dict(headers or {})
    if key:
        h["Authorization"] = f"Bearer {key}"
    if body is not None:
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=h)
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def error_code(data):
    try:
        return json.loads(data)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class Stats:
    """Counts of one scenario."""

    def __init__(self, name):
        self.name = name
        self.c = collections.Counter()
        self.lock = threading.Lock()
        self.acked_ids = set()
        self.sent_ids = set()
        self.duration = 0.0
        self.notes = []
        self.batches = None  # a list to record the event ids of every multi-event request in

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n


class World:
    """Shared state of the run: the ledger, keys, what every client sent and was acknowledged."""

    def __init__(self, ledger, key, run_tag, seed):
        self.ledger = ledger
        self.key = key
        self.tag = run_tag
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.sent = {}  # event id -> envelope as sent
        self.receipts = {}  # event id -> receipt of the (first) 2xx answer
        self.replays = {}  # event id -> receipt of a later 2xx (must equal the first)
        self.acked_at = {}  # event id -> monotonic time its first 2xx arrived
        self.stuck = threading.Event()  # set while a detected daemon fault is being worked around
        self.outages = []  # [start, end] monotonic windows in which a 503 answer is legitimate (end None: ongoing)
        self.pg_down_window = None  # (stopped_at, start_begun_at) monotonic, while PostgreSQL is down
        self.responses = []  # (send, receive, status) of appends during scenario 2
        self.record_times = False
        self.clock = time.time() - 6 * 3600
        self.postings = 0

    def in_outage(self, received_at):
        with self.lock:
            return any(start <= received_at and (end is None or received_at <= end) for start, end in self.outages)

    def occurred(self):
        # An hour ago: always in the past however long the run (more than 5 minutes ahead is refused).
        return iso(time.time() - 3600)

    def next_posting(self, client):
        with self.lock:
            self.postings += 1
            return f"p-{self.tag}-{client}-{self.postings}"


def envelope(world, kind, posting, data, expected_version=None):
    event = {"id": str(uuid.uuid4()), "type": kind, "posting_id": posting, "occurred_at": world.occurred(), "data": data}
    if expected_version is not None:
        event["expected_version"] = expected_version
    return event


RATE_MINOR = 1200
MAX_HOURS = 100
COMPANIES = [f"c-{i}" for i in range(1, 5)]
UNIVERSITIES = [f"u-{i}" for i in range(1, 4)]


class Client:
    """One loopback client: posts postings and walks a placement through its life, one request at a
    time, retrying every unacknowledged request unchanged (same ids) until it gets an answer."""

    def __init__(self, world, stats, index, stop, rate=None, give_up_after=180, outage_ok=False, in_doubt_ok=False):
        self.world = world
        self.stats = stats
        self.index = index
        self.stop = stop
        self.rate = rate  # requests per second, or None for as fast as answers come
        self.give_up_after = give_up_after
        self.outage_ok = outage_ok  # 503 unavailable is expected in this scenario (an outage, an overload)
        # A 503 may answer a request whose commit the daemon sent but never heard back about (a cut
        # link): its retry is then answered 200 with the original receipt (the README's contract).
        self.in_doubt_ok = in_doubt_ok
        self.conn = None
        self.latencies = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.company = COMPANIES[index % len(COMPANIES)]
        self.university = UNIVERSITIES[index % len(UNIVERSITIES)]
        self.requests_done = 0
        self.in_flight = False

    def start(self):
        self.thread.start()
        return self

    def join(self, timeout=None):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def run(self):
        try:
            while not self.stop.is_set():
                self.cycle()
        except Exception as e:  # a bug of this script must not pass silently
            fail(f"[{self.stats.name}] client {self.index} crashed: {e!r}")
        finally:
            if self.conn:
                self.conn.close()

    def cycle(self):
        w = self.world
        posting = w.next_posting(self.index)
        student = f"s-{posting[2:]}"
        stipend = {"kind": "hourly", "rate_minor": RATE_MINOR, "max_hours": MAX_HOURS, "currency": "USD"}
        # An atomic batch: the posting, an application and the selection.
        batch = [
            envelope(w, "posted", posting, {"company_id": self.company, "title": f"Project {posting}", "openings": 2, "stipend": stipend}, 0),
            envelope(w, "applied", posting, {"student_id": student, "university_id": self.university}),
            envelope(w, "selected", posting, {"student_id": student}),
        ]
        steps = [batch]
        version = 3
        for _ in range(3):
            minutes = w.rng.randint(15, 240)
            steps.append(envelope(w, "hours_logged", posting, {"student_id": student, "minutes": minutes, "work_date": w.occurred()[:10]}, version))
            version += 1
        steps.append(envelope(w, "paid", posting, {"student_id": student, "amount_minor": w.rng.randint(100, 5000), "currency": "USD",
                                                   "payment_ref": f"ref-{uuid.uuid4().hex[:16]}"}, version))
        version += 1
        steps.append(envelope(w, "delivered", posting, {"student_id": student, "summary": "done"}, version))
        version += 1
        steps.append(envelope(w, "reviewed", posting, {"student_id": student, "accepted": True, "rating": w.rng.randint(1, 5)}, version))
        for step in steps:
            if not self.submit(step):
                return
            if self.stop.is_set():
                return

    def connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.world.ledger.port, timeout=30)
        return self.conn

    def submit(self, body):
        """Sends one request until it is acknowledged; False when the cycle must stop."""
        w, st = self.world, self.stats
        events = body if isinstance(body, list) else [body]
        with w.lock:
            for e in events:
                w.sent[e["id"]] = e
        with st.lock:
            st.sent_ids.update(e["id"] for e in events)
            if st.batches is not None and len(events) > 1:
                st.batches.append([e["id"] for e in events])
        payload = json.dumps(body).encode()
        attempts = []  # "noresp" or "503" for each failed attempt
        first = time.monotonic()
        while True:
            if self.rate:
                time.sleep(max(0.0, 1.0 / self.rate - 0.0))
            if time.monotonic() - first > self.give_up_after:
                fail(f"[{st.name}] request with event {events[0]['id']} not acknowledged within {self.give_up_after} s "
                     f"(attempts: {attempts[-5:]})")
                st.add("unresolved")
                return False
            sent_at = time.monotonic()
            st.add("requests")
            self.in_flight = True
            try:
                status, headers, data = request(self.connection(), "POST", "/v1/events", payload, w.key)
            except ConnectionRefusedError:
                self.in_flight = False
                self.conn = None
                st.add("refused")  # nothing listening: the request never reached a daemon
                time.sleep(0.1)
                continue
            except (OSError, http.client.HTTPException) as e:
                self.in_flight = False
                if self.conn:
                    self.conn.close()
                self.conn = None
                attempts.append("noresp")
                st.add("timeouts" if isinstance(e, socket.timeout) else "no_response")
                time.sleep(0.1)
                continue
            self.in_flight = False
            received_at = time.monotonic()
            if w.record_times:
                with w.lock:
                    w.responses.append((sent_at, received_at, status))
            if status in (200, 201):
                self.latencies.append(received_at - sent_at)
                self.requests_done += 1
                self.acknowledged(events, status, data, attempts)
                return True
            code = error_code(data)
            if status == 503:
                if "retry-after" not in headers or code != "unavailable":
                    fail(f"[{st.name}] 503 without Retry-After or with code {code!r} (headers {headers})")
                if w.in_outage(received_at):
                    st.add("503_during_outage")
                elif w.stuck.is_set():
                    st.add("503_while_daemon_stuck")
                elif self.outage_ok:
                    st.add("503_overload")
                else:
                    st.add("5xx_valid_outside_outage")
                    fail(f"[{st.name}] 503 {code} on a valid append outside any outage: {data[:300]!r}")
                attempts.append("503")
                time.sleep(0.3)
                continue
            if status >= 500:
                if w.stuck.is_set():
                    st.add("5xx_while_daemon_stuck")
                    attempts.append("5xx")
                    time.sleep(0.3)
                    continue
                st.add("5xx_other_during_outage" if w.in_outage(received_at) else "5xx_valid_outside_outage")
                fail(f"[{st.name}] {status} on a valid append: {data[:300]!r}")
                attempts.append("5xx")
                time.sleep(0.3)
                continue
            # 4xx on valid input: the retry of an acknowledged-or-not request must never be refused.
            st.add("4xx_on_valid")
            fail(f"[{st.name}] {status} {code} on a valid append (attempts before: {attempts}): {data[:300]!r}")
            time.sleep(1)
            return False

    def acknowledged(self, events, status, data, attempts):
        w, st = self.world, self.stats
        try:
            receipts = json.loads(data)["events"]
        except (ValueError, KeyError):
            fail(f"[{st.name}] {status} without an events array: {data[:200]!r}")
            return
        if [r.get("id") for r in receipts] != [e["id"] for e in events]:
            fail(f"[{st.name}] receipt ids {[r.get('id') for r in receipts]} differ from the request's")
        st.add("acked_requests")
        st.add("events_acked", len(events))
        if status == 200:
            if not attempts:
                fail(f"[{st.name}] first attempt of fresh ids answered 200 (replay) for {events[0]['id']}")
            elif "noresp" in attempts:
                st.add("acks_lost_recovered_by_retry")  # recorded before the crash, answer lost: idempotency
            elif self.in_doubt_ok and set(attempts) == {"503"}:
                # The daemon gave up at its deadline on a request whose commit was on its way (held
                # by the cut link, delivered at the heal): recorded once, the retry got its receipt.
                st.add("503_in_doubt_then_200")
            else:
                # Every earlier attempt got an explicit error response, yet the events were recorded.
                st.add("error_then_recorded")
                fail(f"[{st.name}] events {events[0]['id']}… were recorded by a request answered {attempts}: "
                     "the contract says nothing is recorded by a request that gets an error")
        elif "noresp" in attempts:
            st.add("inflight_not_recorded_resent")
        with w.lock, st.lock:
            for r in receipts:
                if r.get("id") in w.receipts:
                    w.replays[r["id"]] = r
                else:
                    w.receipts[r.get("id")] = r
                    w.acked_at[r.get("id")] = time.monotonic()
                st.acked_ids.add(r.get("id"))


def run_clients(world, stats, count, stop, **kw):
    return [Client(world, stats, i, stop, **kw).start() for i in range(count)]


def stop_clients(clients, stop, stats, timeout=200):
    stop.set()
    deadline = time.monotonic() + timeout
    for c in clients:
        if not c.join(max(0.1, deadline - time.monotonic())):
            fail(f"[{stats.name}] a client did not finish its last request within {timeout} s")


# ---------------------------------------------------------------------------------------------
# Checks


def export_log(world):
    result = world.ledger.ctl("export")
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return events


def check_log(world, stats_list, label):
    """The log holds every acknowledged event exactly once, as acknowledged; order and chains hold."""
    started = time.monotonic()
    events = export_log(world)
    ids = collections.Counter(e["id"] for e in events)
    duplicated = sum(n - 1 for n in ids.values() if n > 1)
    if duplicated:
        fail(f"[{label}] {duplicated} event ids appear more than once in the log")
    by_id = {e["id"]: e for e in events}
    positions = [e["position"] for e in events]
    if any(b <= a for a, b in zip(positions, positions[1:])):
        fail(f"[{label}] export positions are not strictly increasing")
    versions = collections.defaultdict(list)
    for e in events:
        versions[e["posting_id"]].append(e["version"])
    broken = [p for p, v in versions.items() if v != list(range(1, len(v) + 1))]
    if broken:
        fail(f"[{label}] {len(broken)} streams with non-contiguous versions, e.g. {broken[0]}: {versions[broken[0]]}")
    with world.lock:
        receipts = dict(world.receipts)
        replays = dict(world.replays)
        sent = dict(world.sent)
    mismatched = 0
    for eid, r in receipts.items():
        e = by_id.get(eid)
        if e and (e["position"], e["version"], e["hash"]) != (r.get("position"), r.get("version"), r.get("hash")):
            mismatched += 1
            if mismatched <= 3:
                fail(f"[{label}] event {eid} is in the log at position {e['position']} version {e['version']}, "
                     f"acknowledged as {r.get('position')} / {r.get('version')}")
    for eid, r in replays.items():
        first = receipts[eid]
        if (first.get("position"), first.get("hash")) != (r.get("position"), r.get("hash")):
            fail(f"[{label}] a retry of {eid} returned {r} instead of the original receipt {first}")
    changed = 0
    for eid, e in by_id.items():
        s = sent.get(eid)
        if s is None:
            continue
        for field in ("type", "posting_id", "data", "occurred_at"):
            if canonical(e.get(field)) != canonical(s.get(field)):
                changed += 1
                break
    if changed:
        fail(f"[{label}] {changed} events in the log differ from what was sent")
    foreign = [eid for eid in by_id if eid not in sent]
    if foreign:
        fail(f"[{label}] {len(foreign)} events in the log were never sent by a client, e.g. {foreign[0]}")
    for st in stats_list:
        lost = [eid for eid in st.acked_ids if eid not in by_id]
        st.c["events_found"] = sum(1 for eid in st.acked_ids if eid in by_id)
        st.c["events_lost"] = len(lost)
        st.c["events_duplicated"] = sum(ids[eid] - 1 for eid in st.sent_ids if ids.get(eid, 0) > 1)
        unacked_recorded = [eid for eid in st.sent_ids if eid not in st.acked_ids and eid in by_id]
        st.c["sent_unacked_in_log"] = len(unacked_recorded)
        if lost:
            fail(f"[{st.name}] {len(lost)} acknowledged events are missing from the log, e.g. {lost[0]}")
    # The HTTP feed is the same sequence.
    feed = []
    after = 0
    conn = http.client.HTTPConnection("127.0.0.1", world.ledger.port, timeout=60)
    while True:
        status, _, data = request(conn, "GET", f"/v1/events?after={after}&limit=1000", key=world.key)
        if status != 200:
            fail(f"[{label}] feed answered {status}: {data[:200]!r}")
            break
        page = json.loads(data)["events"]
        if not page:
            break
        feed += [(e["id"], e["position"]) for e in page]
        after = page[-1]["position"]
    conn.close()
    if feed != [(e["id"], e["position"]) for e in events]:
        fail(f"[{label}] GET /v1/events ({len(feed)} events) differs from placementctl export ({len(events)} events)")
    verify = world.ledger.ctl("verify", check=False)
    if verify.returncode != 0:
        fail(f"[{label}] placementctl verify exited {verify.returncode}: {(verify.stdout + verify.stderr).strip()[-500:]}")
    log(f"check [{label}]: {len(events)} events in the log, {len(receipts)} acknowledged, duplicates {duplicated}, "
        f"verify exit {verify.returncode} ({time.monotonic() - started:.1f} s)")
    return events


def expected_model(events):
    """Placements, company stipends, payouts and university figures computed from the log."""
    postings = {}
    placements = {}
    applications = collections.Counter()
    payments = []
    for e in events:
        d, p = e["data"], e["posting_id"]
        t = e["type"]
        if t == "posted":
            postings[p] = d
        elif t == "applied":
            applications[d["university_id"]] += 1
            placements.setdefault((p, d["student_id"]), {"university_id": d["university_id"], "selected": False})
        elif t == "selected":
            row = placements[(p, d["student_id"])]
            row.update(selected=True, minutes=0, paid=0, payments=0, status="in_progress", rating=None)
        elif t == "hours_logged":
            placements[(p, d["student_id"])]["minutes"] += d["minutes"]
        elif t == "paid":
            row = placements[(p, d["student_id"])]
            row["paid"] += d["amount_minor"]
            row["payments"] += 1
            payments.append(d["amount_minor"])
        elif t == "delivered":
            placements[(p, d["student_id"])]["status"] = "delivered"
        elif t == "reviewed":
            row = placements[(p, d["student_id"])]
            row["status"] = "accepted" if d["accepted"] else "revision_requested"
            row["rating"] = d["rating"]
    rows = {}
    for (p, s), r in placements.items():
        if not r["selected"]:
            continue
        st = postings[p]["stipend"]
        billable = min(r["minutes"], st["max_hours"] * 60)
        earned = (st["rate_minor"] * billable + 30) // 60
        rows[(p, s)] = {
            "company_id": postings[p]["company_id"], "university_id": r["university_id"], "status": r["status"],
            "minutes_logged": r["minutes"], "cap_minor": st["rate_minor"] * st["max_hours"], "earned_minor": earned,
            "paid_minor": r["paid"], "balance_minor": earned - r["paid"], "rating": r["rating"], "payments": r["payments"],
        }
    return rows, applications, payments


class Unusable(Exception):
    pass


def snapshot(world, head):
    """The API's projections at `head` (read-your-writes): all placements, stipends, payouts, universities."""
    conn = http.client.HTTPConnection("127.0.0.1", world.ledger.port, timeout=60)

    def get(path):
        sep = "&" if "?" in path else "?"
        for _ in range(30):
            status, _, data = request(conn, "GET", f"{path}{sep}min_position={head}", key=world.key)
            if status == 503 and error_code(data) == "projection_lagging":
                continue
            if status != 200:
                raise Unusable(f"GET {path} answered {status}: {data[:300]!r}")
            return json.loads(data)
        raise Unusable(f"the projections never reached position {head} (GET {path} kept answering projection_lagging)")

    placements = []
    cursor = None
    while True:
        page = get("/v1/placements?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        placements += page["placements"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    snap = {
        "placements": placements,
        "stipends": {c: get(f"/v1/reports/companies/{c}/stipends") for c in COMPANIES},
        "universities": {u: get(f"/v1/reports/universities/{u}") for u in UNIVERSITIES},
        "payouts": get("/v1/reports/payouts"),
    }
    conn.close()
    return snap


def compare_model(snap, events, label):
    rows, applications, payments = expected_model(events)
    got = {(r["posting_id"], r["student_id"]): r for r in snap["placements"]}
    if len(got) != len(snap["placements"]):
        fail(f"[{label}] GET /v1/placements lists a placement twice")
    if set(got) != set(rows):
        fail(f"[{label}] placements listed {len(got)}, the log has {len(rows)} "
             f"(missing {list(set(rows) - set(got))[:2]}, extra {list(set(got) - set(rows))[:2]})")
    wrong = 0
    fields = ("company_id", "university_id", "status", "minutes_logged", "cap_minor", "earned_minor", "paid_minor",
              "balance_minor", "rating")
    for key, want in rows.items():
        have = got.get(key)
        if have is None:
            continue
        diff = [(f, have.get(f), want[f]) for f in fields if have.get(f) != want[f]]
        if diff:
            wrong += 1
            if wrong <= 3:
                fail(f"[{label}] placement {key}: projection vs log {diff}")
    for company in COMPANIES:
        mine = [r for r in rows.values() if r["company_id"] == company]
        want = {"currency": "USD", "placements": len(mine), "cap_minor": sum(r["cap_minor"] for r in mine),
                "earned_minor": sum(r["earned_minor"] for r in mine), "paid_minor": sum(r["paid_minor"] for r in mine),
                "balance_minor": sum(r["balance_minor"] for r in mine), "payments": sum(r["payments"] for r in mine),
                "reversals": 0}
        have = snap["stipends"][company]["by_currency"]
        if mine and have != [want]:
            wrong += 1
            fail(f"[{label}] stipends of {company}: {have} vs the log's {want}")
        open_balances = len(snap["stipends"][company]["open_balances"])
        if open_balances != sum(1 for r in mine if r["balance_minor"] != 0):
            fail(f"[{label}] open balances of {company}: {open_balances} listed")
    for university in UNIVERSITIES:
        mine = [r for r in rows.values() if r["university_id"] == university]
        o = snap["universities"][university]["overall"]
        want = {"applicants": applications[university], "placed": len(mine),
                "accepted": sum(1 for r in mine if r["status"] == "accepted"),
                "minutes_logged": sum(r["minutes_logged"] for r in mine)}
        have = {k: o.get(k) for k in want}
        if have != want:
            wrong += 1
            fail(f"[{label}] university {university}: {have} vs the log's {want}")
    totals = snap["payouts"]["totals"]
    want_totals = [{"currency": "USD", "payments": len(payments), "paid_minor": sum(payments), "reversed_minor": 0,
                    "net_minor": sum(payments)}] if payments else []
    if totals != want_totals or len(snap["payouts"]["items"]) != len(payments):
        wrong += 1
        fail(f"[{label}] payouts totals {totals} ({len(snap['payouts']['items'])} items) vs the log's {want_totals}")
    return wrong


def snapshot_or_fail(world, head, stats, counter, label):
    """The projections' snapshot at `head`, or None after counting and reporting why it is unusable."""
    try:
        return snapshot(world, head)
    except Unusable as e:
        stats.c[counter] += 1
        fail(f"{label}: {e}")
        return None


def check_projections(world, events, stats):
    """Projections equal the log (no double counting), a build at the head, and a rebuild from 0."""
    started = time.monotonic()
    head = events[-1]["position"] if events else 0
    before = snapshot_or_fail(world, head, stats, "projection_mismatches_vs_log", "projections")
    if before is None:
        return
    wrong = compare_model(before, events, "projections vs log")
    stats.c["projection_mismatches_vs_log"] = wrong
    kinds = ("postings", "placements", "universities", "stipends", "payouts")
    live = {k: world.ledger.ctl("report", k, "--format", "json").stdout for k in kinds}
    at_head = {k: world.ledger.ctl("report", k, "--format", "json", "--position", str(head)).stdout for k in kinds}
    for k in kinds:
        if json.loads(live[k]) != json.loads(at_head[k]):
            stats.c["report_mismatches"] += 1
            fail(f"placementctl report {k}: the live projection differs from a build from the log at position {head}")
    replay = world.ledger.ctl("replay", "--all")
    log("replay --all: " + " | ".join(replay.stdout.strip().splitlines()))
    after = snapshot_or_fail(world, head, stats, "replay_mismatches", "projections after replay --all")
    if after is None:
        return
    for part in before:
        if canonical(before[part]) != canonical(after[part]):
            stats.c["replay_mismatches"] += 1
            fail(f"{part}: the projections after `placementctl replay --all` differ from the live ones before it")
    replayed = {k: world.ledger.ctl("report", k, "--format", "json").stdout for k in kinds}
    for k in kinds:
        if json.loads(live[k]) != json.loads(replayed[k]):
            stats.c["replay_mismatches"] += 1
            fail(f"placementctl report {k}: differs after replay --all")
    stats.c["placements_compared"] = len(before["placements"])
    log(f"projections: {len(before['placements'])} placements, {len(COMPANIES)} companies, {len(UNIVERSITIES)} universities "
        f"and payouts equal the log, the head build and the rebuild ({time.monotonic() - started:.1f} s)")


# ---------------------------------------------------------------------------------------------
# Scenarios


def scenario_kill9(world, args):
    st = Stats("1 kill -9 daemon")
    ledger = world.ledger
    started = time.monotonic()
    stop = threading.Event()
    clients = run_clients(world, st, args.clients, stop)
    reused = 0
    restart_times = []
    for round_ in range(args.kill_rounds):
        time.sleep(world.rng.uniform(1.0, 5.0))
        pm_before = ledger.postmaster_pid()
        in_flight = sum(1 for c in clients if c.in_flight)
        ledger.kill9()
        st.add("kills")
        down_for = world.rng.choice([0.0, 0.2, 1.0, 2.0])
        time.sleep(down_for)
        if not ledger.pg_running():
            fail("PostgreSQL did not survive a kill -9 of the daemon")
        ready = ledger.start()
        restart_times.append(ready)
        pm_after = ledger.postmaster_pid()
        if pm_before and pm_before == pm_after:
            reused += 1
        log(f"kill -9 round {round_ + 1}/{args.kill_rounds}: {in_flight} requests in flight at the kill, down {down_for:.1f} s, "
            f"ready again in {ready:.2f} s, postmaster {pm_before} -> {pm_after}")
    time.sleep(2)
    stop_clients(clients, stop, st)
    st.c["rounds"] = args.kill_rounds
    st.c["postgres_reused"] = reused
    if reused != args.kill_rounds:
        st.notes.append(f"postmaster reused in {reused}/{args.kill_rounds} restarts")
    st.notes.append(f"daemon restart to /readyz 200: max {max(restart_times):.2f} s")
    st.duration = time.monotonic() - started
    return st


def projection_positions(world):
    status, _, data = http_once("GET", world.ledger.port, "/v1/projections", key=world.key, timeout=15)
    if status != 200:
        return None
    return {p["name"]: p["position"] for p in json.loads(data)["projections"]}


def wait_recovered(world, st, timeout):
    """Appends are acknowledged again and every projection reaches the newest acknowledged position."""
    deadline = time.monotonic() + timeout
    acked = st.c["acked_requests"]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if st.c["acked_requests"] - acked < 10:
            continue
        with world.lock:
            target = max((r.get("position", 0) for r in world.receipts.values()), default=0)
        while time.monotonic() < deadline:
            positions = projection_positions(world)
            if positions and min(positions.values()) >= target:
                return True, ""
            time.sleep(0.5)
        return False, f"projections stopped following the log: at {positions}, acknowledged events up to {target}"
    return False, f"only {st.c['acked_requests'] - acked} appends acknowledged in {timeout} s"


def scenario_pg_restart(world, args):
    st = Stats("2 PostgreSQL restart")
    ledger = world.ledger
    started = time.monotonic()
    stop = threading.Event()
    clients = run_clients(world, st, args.clients, stop)
    recoveries = []
    world.record_times = True
    for round_ in range(args.pg_rounds):
        time.sleep(world.rng.uniform(2.0, 4.0))
        stop_began = time.monotonic()
        window = [stop_began, None]
        with world.lock:
            world.outages.append(window)
        result = ledger.pg_stop()
        stopped = time.monotonic()
        if result.returncode != 0:
            raise SystemExit(f"error: pg_ctl stop failed: {result.stdout}{result.stderr}")
        st.add("pg_stops")
        down = world.rng.uniform(2.0, 5.0)
        time.sleep(down / 2)
        for path in ("/readyz", "/healthz"):
            try:
                status, headers, data = http_once("GET", ledger.port, path, timeout=15)
            except (OSError, http.client.HTTPException) as e:
                fail(f"GET {path} with PostgreSQL down got no answer ({e!r}); daemon alive: {ledger.alive()}")
                continue
            if path == "/readyz" and (status != 503 or error_code(data) != "unavailable" or "retry-after" not in headers):
                fail(f"/readyz with PostgreSQL down answered {status} {data[:200]!r}")
            if path == "/healthz" and status != 200:
                fail(f"/healthz with PostgreSQL down answered {status} (the daemon itself is alive)")
        if not ledger.alive():
            st.add("daemon_crashed")
            fail(f"placementd exited with {ledger.process.returncode} while PostgreSQL was down; see {ledger.log_path}")
        time.sleep(down / 2)
        start_began = time.monotonic()
        with world.lock:
            world.pg_down_window = (stopped, start_began)
        result = ledger.pg_start()
        if result.returncode != 0:
            raise SystemExit(f"error: pg_ctl start failed: {result.stdout}{result.stderr}")
        pg_up = time.monotonic()
        # The daemon must serve again by itself: the first acknowledged append after the start.
        before = st.c["acked_requests"]
        deadline = pg_up + 60
        while st.c["acked_requests"] == before and time.monotonic() < deadline:
            time.sleep(0.05)
        recovery = time.monotonic() - pg_up if st.c["acked_requests"] > before else float("inf")
        # Serving again means: appends keep being acknowledged and the projections follow the log.
        healthy, why = wait_recovered(world, st, timeout=30)
        # Requests already waiting (up to the daemon's 5 s database deadline) may still answer 503.
        with world.lock:
            window[1] = time.monotonic() + 6.0
        if not healthy:
            st.add("daemon_stuck_after_pg_restart")
            fail(f"PostgreSQL restart round {round_ + 1}: the daemon did not recover by itself within 30 s of PostgreSQL "
                 f"coming back ({why}); restarting the daemon to go on")
            world.stuck.set()
            clean = ledger.stop(timeout=15)
            ledger.start()
            world.stuck.clear()
            st.notes.append(f"round {round_ + 1}: stuck ({why}); SIGTERM {'stopped it' if clean else 'did not stop it'}")
        recoveries.append(recovery)
        if not ledger.alive():
            fail(f"placementd exited ({ledger.process.returncode}) while PostgreSQL was restarted; see {ledger.log_path}")
            ledger.start()
        with world.lock:
            during = [(s, r, code) for s, r, code in world.responses if s > stopped and r < start_began]
            world.responses.clear()
        ok_while_down = [code for _, _, code in during if 200 <= code < 300]
        st.add("2xx_while_pg_down", len(ok_while_down))
        if ok_while_down:
            fail(f"{len(ok_while_down)} appends were acknowledged while PostgreSQL was stopped")
        log(f"PostgreSQL restart round {round_ + 1}/{args.pg_rounds}: stop took {stopped - stop_began:.2f} s, down {down:.1f} s, "
            f"{len(during)} answers while down ({sum(1 for *_, c in during if c == 503)} x 503), "
            f"first ack {recovery:.2f} s after start")
    world.record_times = False
    time.sleep(2)
    stop_clients(clients, stop, st)
    st.c["rounds"] = args.pg_rounds
    st.notes.append(f"first acknowledged append after PostgreSQL start: max {max(recoveries):.2f} s")
    st.duration = time.monotonic() - started
    return st


def scenario_pool(world, args, head_hint):
    st = Stats("3 pool flood")
    ledger = world.ledger
    started = time.monotonic()
    stop = threading.Event()
    n_total = args.flood
    n_lag, n_app, n_health, n_read = n_total * 55 // 100, n_total * 30 // 100, n_total * 5 // 100, 0
    n_read = n_total - n_lag - n_app - n_health
    far = head_hint + 10 ** 9
    health_latency = []
    read_latency = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_lag + n_health + n_read + 1)

    def lagging():
        conn = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=60)
        barrier.wait()
        while not stop.is_set():
            t = time.monotonic()
            try:
                status, headers, data = request(conn, "GET", f"/v1/placements?limit=5&min_position={far}", key=world.key)
            except (OSError, http.client.HTTPException) as e:
                st.add("lagging_no_response")
                fail(f"[pool] a min_position read got no answer: {e!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=60)
                time.sleep(0.5)
                continue
            code = error_code(data)
            st.add("lagging_reads")
            if status == 503 and code in ("projection_lagging", "unavailable") and "retry-after" in headers:
                st.add(f"lagging_503_{code}")
                with lock:
                    read_latency.append(time.monotonic() - t)
            else:
                st.add("5xx_valid_outside_outage" if status >= 500 else "lagging_unexpected")
                fail(f"[pool] a min_position read far ahead answered {status} {code} {headers.get('retry-after')}")
        conn.close()

    def health():
        conn = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=30)
        barrier.wait()
        while not stop.is_set():
            t = time.monotonic()
            try:
                status, _, _ = request(conn, "GET", "/healthz")
            except (OSError, http.client.HTTPException) as e:
                fail(f"[pool] /healthz got no answer: {e!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=30)
                continue
            with lock:
                health_latency.append(time.monotonic() - t)
            st.add("healthz")
            if status != 200:
                fail(f"[pool] /healthz answered {status}")
            time.sleep(0.2)
        conn.close()

    def reader():
        conn = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=60)
        barrier.wait()
        while not stop.is_set():
            try:
                status, headers, data = request(conn, "GET", "/v1/reports/payouts", key=world.key)
            except (OSError, http.client.HTTPException) as e:
                fail(f"[pool] a plain read got no answer: {e!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=60)
                continue
            st.add("plain_reads")
            if status == 503 and error_code(data) == "unavailable" and "retry-after" in headers:
                st.add("plain_reads_503_unavailable")
            elif status != 200:
                st.add("5xx_valid_outside_outage" if status >= 500 else "plain_reads_unexpected")
                fail(f"[pool] GET /v1/reports/payouts answered {status} {data[:200]!r}")
            time.sleep(0.1)
        conn.close()

    threads = [threading.Thread(target=f, daemon=True) for f, n in ((lagging, n_lag), (health, n_health), (reader, n_read))
               for _ in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(1.0)  # the lagging reads hold the pool now
    appenders = run_clients(world, st, n_app, stop, outage_ok=True, give_up_after=120)
    time.sleep(args.flood_seconds)
    stop.set()
    stop_clients(appenders, stop, st)
    for t in threads:
        t.join(30)
    if not ledger.alive():
        fail("[pool] placementd died under the flood")
        ledger.start()
    health_latency.sort()
    st.c["rounds"] = 1
    st.c["concurrent_connections"] = n_lag + n_app + n_health + n_read
    if health_latency:
        worst = health_latency[-1]
        st.notes.append(f"{n_lag} min_position readers, {n_app} appenders, {n_read} plain readers, {n_health} /healthz probes; "
                        f"/healthz p50 {health_latency[len(health_latency) // 2] * 1000:.0f} ms, max {worst * 1000:.0f} ms")
        if worst > 5:
            fail(f"[pool] /healthz took {worst:.1f} s under the flood")
    if read_latency:
        read_latency.sort()
        st.notes.append(f"min_position reads answered 503 after p50 {read_latency[len(read_latency) // 2]:.1f} s, "
                        f"max {read_latency[-1]:.1f} s")
    lat = sorted(x for c in appenders for x in c.latencies)
    if lat:
        st.notes.append(f"acknowledged append latency p50 {lat[len(lat) // 2] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    st.duration = time.monotonic() - started
    return st


def measure_throughput(world, st, seconds, clients=4):
    stop = threading.Event()
    cs = run_clients(world, st, clients, stop)
    time.sleep(seconds)
    done = sum(c.requests_done for c in cs)
    stop_clients(cs, stop, st)
    lat = sorted(x for c in cs for x in c.latencies)
    return done / seconds, (lat[len(lat) * 99 // 100] if lat else 0)


def scenario_slow(world, args):
    st = Stats("4 slow clients")
    ledger = world.ledger
    started = time.monotonic()
    base_rate, base_p99 = measure_throughput(world, st, args.slow_seconds)
    rss_before = ledger.rss_kib()
    stop = threading.Event()
    sockets = []
    partial_ids = []
    port = ledger.port

    def slowloris(i):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        sockets.append(s)
        head = f"GET /v1/placements?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {world.key}\r\n"
        try:
            for ch in head:
                if stop.is_set():
                    return
                s.send(ch.encode())
                time.sleep(0.2)
            n = 0
            while not stop.is_set():  # headers that never end
                s.send(f"X-Slow-{n}: {'a' * 3}\r\n".encode()[n % 12:n % 12 + 1] or b"a")
                n += 1
                time.sleep(0.3)
        except OSError:
            st.add("slow_closed_by_server")

    def slow_body(i):
        event = envelope(world, "posted", f"p-{world.tag}-slow-{i}",
                         {"company_id": "c-1", "title": "slow", "openings": 1,
                          "stipend": {"kind": "fixed", "amount_minor": 100, "currency": "USD"}}, 0)
        partial_ids.append(event["id"])
        body = json.dumps(event).encode()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        sockets.append(s)
        try:
            s.send(f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {world.key}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            for b in body[:-1]:  # never the last byte: the request stays incomplete
                if stop.is_set():
                    return
                s.send(bytes([b]))
                time.sleep(0.1)
        except OSError:
            st.add("slow_closed_by_server")

    def non_reader(i):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        sockets.append(s)
        req = (f"GET /v1/events?after=0&limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {world.key}\r\n\r\n").encode()
        sent = 0
        try:
            while not stop.is_set() and sent < args.pipelined:
                s.send(req)
                sent += 1
            st.add("pipelined_requests_unread", sent)
        except OSError:
            st.add("pipelined_requests_unread", sent)
        stop.wait()

    threads = []
    for i in range(args.slowloris):
        threads.append(threading.Thread(target=slowloris, args=(i,), daemon=True))
    for i in range(args.slow_bodies):
        threads.append(threading.Thread(target=slow_body, args=(i,), daemon=True))
    for i in range(args.non_readers):
        threads.append(threading.Thread(target=non_reader, args=(i,), daemon=True))
    for t in threads:
        t.start()
    time.sleep(3)
    slow_rate, slow_p99 = measure_throughput(world, st, args.slow_seconds)
    rss_during = ledger.rss_kib()
    status, _, _ = http_once("GET", port, "/healthz", timeout=10)
    if status != 200:
        fail(f"[slow] /healthz answered {status} beside the slow clients")
    stop.set()
    for t in threads:
        t.join(15)
    for s in sockets:
        try:
            s.close()
        except OSError:
            pass
    time.sleep(1)
    if not ledger.alive():
        fail("[slow] placementd died beside slow clients")
        ledger.start()
    after_rate, _ = measure_throughput(world, st, 5)
    rss_after = ledger.rss_kib()
    st.c["rounds"] = 1
    st.c["slow_connections"] = args.slowloris + args.slow_bodies + args.non_readers
    st.partial_ids = partial_ids
    st.notes.append(f"throughput of 4 clients: {base_rate:.0f} req/s alone, {slow_rate:.0f} req/s beside "
                    f"{args.slowloris} slowloris + {args.slow_bodies} slow bodies + {args.non_readers} non-readers "
                    f"({args.pipelined} pipelined feed pages each), {after_rate:.0f} req/s after; p99 {base_p99 * 1000:.0f} -> "
                    f"{slow_p99 * 1000:.0f} ms; RSS {rss_before // 1024 if rss_before else '?'} -> "
                    f"{rss_during // 1024 if rss_during else '?'} -> {rss_after // 1024 if rss_after else '?'} MiB")
    if slow_rate < 0.5 * base_rate:
        fail(f"[slow] throughput fell from {base_rate:.0f} to {slow_rate:.0f} requests/s beside slow clients")
    st.duration = time.monotonic() - started
    return st


# ---------------------------------------------------------------------------------------------
# Network partition (scenario 5)


class CutLink:
    """A TCP proxy on loopback between the daemon and PostgreSQL whose link can be cut and healed.

    Cut: nothing is forwarded in either direction and no socket is closed, as with a cut cable.
    Each direction of a connection is one thread that reads, then writes; during a cut it stops
    reading, so what the endpoints send waits in the kernel's socket buffers, and bytes it had
    already read wait in the thread. The heal forwards all of it in order, as TCP's
    retransmissions deliver what was sent into a cut cable once it is mended. (A user-space proxy
    cannot stop its own kernel from acknowledging segments: the endpoints see a peer that has
    gone silent, never unacknowledged data, so their keepalives and tcp_user_timeout find nothing
    wrong however long the cut.)

    A connection opened during a cut is accepted (the kernel completes the handshake of a listening
    socket whatever the proxy does; refusing it would be a reset, which a cut cable never sends)
    and reaches nothing: the proxy connects to the server only at the heal, so the server sees no
    new session while the link is down.
    """

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.sockets = set()
        self.c = collections.Counter()  # accepted, accepted_during_cut, upstream_failed, bytes_up, bytes_down
        self.holding = 0  # directions holding bytes they read (now)
        self.held_at_heal = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def cut(self):
        self.flowing.clear()

    def heal(self):
        with self.lock:
            self.held_at_heal = self.holding
        self.flowing.set()

    def close(self):
        self.closed.set()
        self.flowing.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            sockets = list(self.sockets)
        for s in sockets:
            self._close(s)

    def _close(self, s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass
        with self.lock:
            self.sockets.discard(s)

    def _wait_flowing(self):
        while not self.flowing.wait(0.5):
            pass
        return not self.closed.is_set()

    def _accept_loop(self):
        while not self.closed.is_set():
            try:
                down, _ = self.listener.accept()
            except OSError:
                if self.closed.is_set():
                    return
                time.sleep(0.05)
                continue
            with self.lock:
                self.c["accepted"] += 1
                if not self.flowing.is_set():
                    self.c["accepted_during_cut"] += 1
                self.sockets.add(down)
            threading.Thread(target=self._serve, args=(down,), daemon=True).start()

    def _serve(self, down):
        if not self._wait_flowing():  # opened during a cut: nothing reaches the server until the heal
            self._close(down)
            return
        try:
            up = socket.create_connection(self.upstream, timeout=10)
            up.settimeout(None)
        except OSError:
            with self.lock:
                self.c["upstream_failed"] += 1
            self._close(down)
            return
        with self.lock:
            self.sockets.add(up)
        done = [0]

        def pump(src, dst, counter):
            try:
                while True:
                    if not self._wait_flowing():  # cut: read nothing, the bytes wait in the kernel
                        break
                    data = src.recv(65536)
                    if not data:
                        dst.shutdown(socket.SHUT_WR)  # a half-close is forwarded like data, in order
                        break
                    view = memoryview(data)
                    while view:
                        if not self.flowing.is_set():  # read just before the cut: held until the heal
                            with self.lock:
                                self.holding += 1
                            ok = self._wait_flowing()
                            with self.lock:
                                self.holding -= 1
                            if not ok:
                                raise OSError("proxy closed")
                        n = dst.send(view)
                        view = view[n:]
                    with self.lock:
                        self.c[counter] += len(data)
            except OSError:
                self._close(src)
                self._close(dst)
                return
            with self.lock:
                done[0] += 1
                both = done[0] == 2
            if both:
                self._close(src)
                self._close(dst)

        threading.Thread(target=pump, args=(up, down, "bytes_down"), daemon=True).start()
        pump(down, up, "bytes_up")


DB_DEADLINE = 5.0  # the daemon's database deadline per request (Sources/LedgerHTTP/Routes.swift)
ANSWER_SLACK = 2.0  # what an answer may take beyond it


class CutProbes:
    """/healthz, /readyz, a feed read and GET /v1/me (the key lookup alone once the key cache's 1 s
    has passed), each in a loop of its own, from the cut until stopped."""

    def __init__(self, world):
        self.world = world
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = []  # (probe, sent, received, status, code, has_retry_after); status None: no answer
        self.threads = [threading.Thread(target=self.loop, args=(probe, path, key, pause), daemon=True)
                        for probe, path, key, pause in (("healthz", "/healthz", None, 0.3), ("readyz", "/readyz", None, 0.3),
                                                        ("feed", "/v1/events?after=0&limit=1", world.key, 0.3),
                                                        ("me", "/v1/me", world.key, 1.2))]
        for t in self.threads:
            t.start()

    def loop(self, probe, path, key, pause):
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                status, headers, data = http_once("GET", self.world.ledger.port, path, key=key, timeout=30)
                answer = (probe, sent, time.monotonic(), status, error_code(data), "retry-after" in headers)
            except (OSError, http.client.HTTPException) as e:
                answer = (probe, sent, time.monotonic(), None, repr(e), False)
            with self.lock:
                self.answers.append(answer)
            self.stop.wait(pause)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(40)


def daemon_log_tail(ledger, lines=15):
    try:
        with open(ledger.log_path, errors="replace") as f:
            tail = f.read()[-6000:].splitlines()[-lines:]
    except OSError:
        tail = ["(unreadable)"]
    return "\n".join("      " + l for l in tail)


def sessions_text(sessions):
    if sessions is None:
        return "?"
    return ", ".join(f"{n} {state} ({client})" for (client, state), n in sorted(sessions.items())) or "none"


def partition_round(world, st, link, seconds, label, timeline=False):
    """Cuts the link for `seconds` under load, heals it and measures; returns a dict of figures."""
    ledger = world.ledger
    time.sleep(world.rng.uniform(1.0, 3.0))
    bound = DB_DEADLINE + ANSWER_SLACK
    before = ledger.app_sessions()
    with world.lock:
        world.responses.clear()
    world.record_times = True
    link.cut()
    cut_at = time.monotonic()
    window = [cut_at, None]
    with world.lock:
        world.outages.append(window)
    st.add("cuts")
    probes = CutProbes(world)
    time.sleep(max(0.0, seconds - 1.5))
    during = ledger.app_sessions()  # over the unix socket: the cut is only the proxy's
    time.sleep(max(0.0, cut_at + seconds - time.monotonic()))
    if not ledger.alive():
        st.add("daemon_crashed")
        fail(f"[partition {label}] placementd exited with {ledger.process.returncode} during the cut; log:\n{daemon_log_tail(ledger)}")
    link.heal()
    heal_at = time.monotonic()
    acked_at_heal = st.c["acked_requests"]
    # The daemon must serve again by itself: the first acknowledged append after the heal, then
    # appends keep being acknowledged and the projections follow the log (wait_recovered).
    while st.c["acked_requests"] == acked_at_heal and time.monotonic() < heal_at + 30:
        time.sleep(0.02)
    first_ack = time.monotonic() - heal_at if st.c["acked_requests"] > acked_at_heal else None
    healthy, why = wait_recovered(world, st, timeout=max(1.0, heal_at + 30 - time.monotonic()))
    recovered = time.monotonic() - heal_at if healthy else None
    # Requests already waiting (up to the daemon's database deadline) may still answer 503.
    with world.lock:
        window[1] = time.monotonic() + DB_DEADLINE + 1.0
    probes.finish()
    after = ledger.app_sessions()
    world.record_times = False
    with world.lock:
        responses = list(world.responses)
        world.responses.clear()

    failures_before = len(FAILURES)
    # Answers whose request overlapped the cut: every one within the deadline (+ slack).
    overlapping = [(s, r, code) for s, r, code in responses if s < heal_at and r > cut_at]
    in_cut = [(s, r, code) for s, r, code in responses if cut_at <= s and r <= heal_at]
    by_status = collections.Counter(code for _, r, code in responses if cut_at <= r <= heal_at)
    ok_in_cut = [1 for _, _, code in in_cut if 200 <= code < 300]
    st.add("2xx_while_cut", len(ok_in_cut))
    if ok_in_cut:
        fail(f"[partition {label}] {len(ok_in_cut)} appends sent after the cut were acknowledged before the heal: "
             "nothing could reach PostgreSQL")
    append_worst = max((r - s for s, r, _ in overlapping), default=0.0)
    if append_worst > bound:
        late = [(s, r, code) for s, r, code in overlapping if r - s > bound]
        fail(f"[partition {label}] {len(late)} of {len(overlapping)} appends overlapping the cut were answered after more than "
             f"the {DB_DEADLINE:.0f} s database deadline + {ANSWER_SLACK:.0f} s (slowest {append_worst:.1f} s; answers "
             f"{dict(collections.Counter(code for *_, code in late))}); timeline below, daemon log:\n{daemon_log_tail(ledger)}")
    probe_worst = {}
    probe_status = collections.Counter()
    readyz_back = None
    for probe, s, r, status, code, retry in probes.answers:
        if status is None:
            st.add("probe_no_answer")
            fail(f"[partition {label}] GET {probe} sent {s - cut_at:+.1f} s after the cut got no answer in {r - s:.1f} s ({code})")
            continue
        if s < heal_at and r > cut_at:
            probe_worst[probe] = max(probe_worst.get(probe, 0.0), r - s)
        if probe == "readyz" and status == 200 and s >= heal_at and readyz_back is None:
            readyz_back = r - heal_at
        if cut_at <= r <= heal_at:
            probe_status[f"{probe} {status}"] += 1
        if probe == "healthz" and status != 200:
            fail(f"[partition {label}] /healthz answered {status} (the daemon itself is alive)")
        if probe != "healthz" and cut_at <= s and r <= heal_at:  # asked and answered within the cut
            if probe == "me" and status == 200:
                continue  # the key was still in the daemon's cache (1 s)
            if status != 503 or code != "unavailable" or not retry:
                fail(f"[partition {label}] {probe} during the cut answered {status} {code} "
                     f"{'with' if retry else 'without'} Retry-After (want 503 unavailable with Retry-After)")
    for probe, worst in sorted(probe_worst.items()):
        if worst > bound:
            fail(f"[partition {label}] GET {probe} overlapping the cut was answered after {worst:.1f} s, beyond the "
                 f"{DB_DEADLINE:.0f} s database deadline + {ANSWER_SLACK:.0f} s")
    for probe in ("readyz", "feed", "me"):
        if probe_worst.get(probe, 0.0) <= bound and not any(
                p == probe and cut_at <= s and r <= heal_at for p, s, r, *_ in probes.answers):
            fail(f"[partition {label}] no GET {probe} was asked and answered within the {seconds:.0f} s cut")
    if len(FAILURES) > failures_before or timeline:
        # What was answered when, in seconds from the cut; /healthz answers left out.
        rows = [(s, r, "append", str(code)) for s, r, code in overlapping]
        rows += [(s, r, probe, f"{status} {code or ''}".strip()) for probe, s, r, status, code, _ in probes.answers
                 if probe != "healthz" and s < heal_at and (r > cut_at or status is None)]
        rows.sort()
        lines = [f"    sent {s - cut_at:+6.2f} answered {r - cut_at:+6.2f} ({r - s:5.2f} s) {what:7} {answer}"
                 for s, r, what, answer in rows[:40]]
        log(f"partition {label}: requests overlapping the cut (seconds from the cut; heal at +{heal_at - cut_at:.2f}):\n"
            + "\n".join(lines))
    if first_ack is None or not healthy:
        st.add("daemon_stuck_after_heal")
        fail(f"[partition {label}] the daemon did not serve again by itself within 30 s of the heal "
             f"(first ack: {'none' if first_ack is None else f'{first_ack:.2f} s'}; {why}); log:\n{daemon_log_tail(ledger)}")
    figures = {
        "label": label, "cut_s": heal_at - cut_at, "answers": dict(by_status), "probes": dict(probe_status),
        "append_worst_s": append_worst, "probe_worst_s": probe_worst, "first_ack_s": first_ack, "recovered_s": recovered,
        "readyz_back_s": readyz_back, "held_at_heal": link.held_at_heal, "sessions": (before, during, after),
    }
    log(f"partition {label}: cut {figures['cut_s']:.1f} s; answers to appends during it {dict(by_status)}; "
        f"probes {dict(probe_status)}; slowest append overlapping it {append_worst:.2f} s, probes "
        f"{ {p: round(w, 2) for p, w in probe_worst.items()} }; heal → first ack "
        f"{'-' if first_ack is None else f'{first_ack:.2f} s'}, /readyz 200 {'-' if readyz_back is None else f'{readyz_back:.2f} s'}, "
        f"recovered {'-' if recovered is None else f'{recovered:.2f} s'}; daemon's server sessions before "
        f"[{sessions_text(before)}], at the end of the cut [{sessions_text(during)}], after [{sessions_text(after)}]")
    return figures


def scenario_partition(world, args):
    st = Stats("5 network partition")
    st.batches = []
    ledger = world.ledger
    started = time.monotonic()
    if not tcp_trust_rule(ledger, "partition"):
        return st
    users_lock = hold_cluster_share(ledger)
    link = None
    stop = threading.Event()
    clients = []
    rounds = []
    try:
        ledger.stop()
        if ledger.pg_running():
            ledger.pg_stop()
        result = ledger.pg_start(tcp_port=free_port())
        if result.returncode != 0:
            raise SystemExit(f"error: pg_ctl start with TCP failed: {result.stdout}{result.stderr}")
        link = CutLink(ledger.pg_port)
        # The embedded cluster's database and the daemon's role (Sources/LedgerStore/EmbeddedCluster.swift);
        # the schema is current, so the daemon migrates nothing; seals keep their embedded key.
        ledger.daemon_args = ["--database-url", f"postgresql://placement_app@127.0.0.1:{link.port}/placement?sslmode=disable",
                              "--seal-keys", os.path.join(ledger.data, "seal-keys")]
        ready = ledger.start()
        clients = run_clients(world, st, args.clients, stop, in_doubt_ok=True)
        deadline = time.monotonic() + 30
        while st.c["acked_requests"] < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        sessions = ledger.app_sessions() or {}
        tcp = sum(n for (client, _), n in sessions.items() if client == "tcp")
        log(f"partition: PostgreSQL on 127.0.0.1:{ledger.pg_port}, proxy on :{link.port}, daemon ready in {ready:.2f} s "
            f"through it; {st.c['acked_requests']} appends acknowledged, daemon's sessions [{sessions_text(sessions)}]")
        if st.c["acked_requests"] < 20 or not link.c["bytes_up"] or not tcp:
            fail(f"[partition] the daemon does not work through the proxy: {st.c['acked_requests']} appends acknowledged "
                 f"in 30 s, proxy {dict(link.c)}, sessions [{sessions_text(sessions)}]")
            return st
        cuts = [("short", args.partition_seconds)]
        if args.partition_long:
            cuts.append(("long", args.partition_long_seconds))
        for label, seconds in cuts:
            rounds.append(partition_round(world, st, link, seconds, label, args.partition_timeline))
        time.sleep(2)
    finally:
        stop_clients(clients, stop, st)
        if link:
            link.heal()
        stop_url_daemon(ledger, st, "partition")
        if link:
            st.notes.append(f"proxy: {link.c['accepted']} connections accepted ({link.c['accepted_during_cut']} during a cut), "
                            f"{link.c['bytes_up'] // 1024} KiB to PostgreSQL, {link.c['bytes_down'] // 1024} KiB back")
            link.close()
        ledger.pg_stop()
        back_to_embedded(ledger, users_lock)
    for k in ("no_response", "timeouts"):
        if st.c[k]:
            fail(f"[partition] {st.c[k]} appends got no HTTP answer ({k}): a request hung past the client's 30 s")
    st.c["rounds"] = len(rounds)
    if st.c["503_in_doubt_then_200"]:
        st.notes.append(f"{st.c['503_in_doubt_then_200']} requests answered 503 were recorded all the same (their retry got "
                        "200 with the original receipt): a group transaction given up by the daemon went on when the link "
                        "came back")
    for f in rounds:
        st.notes.append(
            f"{f['label']} cut {f['cut_s']:.1f} s: appends answered during it {f['answers'] or 'none'}, probes "
            f"{f['probes']}; slowest answer to a request overlapping the cut: append {f['append_worst_s']:.2f} s, "
            + ", ".join(f"{p} {w:.2f} s" for p, w in sorted(f["probe_worst_s"].items()))
            + f" (bound {DB_DEADLINE + ANSWER_SLACK:.0f} s); after the heal: first ack "
            f"{'-' if f['first_ack_s'] is None else format(f['first_ack_s'], '.2f')} s, /readyz 200 "
            f"{'-' if f['readyz_back_s'] is None else format(f['readyz_back_s'], '.2f')} s, recovered (10 acks, projections "
            f"at the head) {'-' if f['recovered_s'] is None else format(f['recovered_s'], '.2f')} s; "
            f"{f['held_at_heal']} directions held bytes read before the cut")
        before, during, after = f["sessions"]
        st.notes.append(f"    daemon's server sessions before [{sessions_text(before)}], end of cut [{sessions_text(during)}], "
                        f"after [{sessions_text(after)}]")
    st.duration = time.monotonic() - started
    return st


# ---------------------------------------------------------------------------------------------
# Failover (scenario 6)

class FeedFollower:
    """Follows GET /v1/events?after=P through the failover, as an integration would: every event it
    is given, in order; a page that fails is asked for again."""

    def __init__(self, world):
        self.world = world
        self.seen = []  # (id, position)
        self.errors = collections.Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        after = 0
        while not self.stop.is_set():
            try:
                status, _, data = http_once("GET", self.world.ledger.port, f"/v1/events?after={after}&limit=1000",
                                            key=self.world.key, timeout=30)
            except (OSError, http.client.HTTPException):
                self.errors["no answer"] += 1
                time.sleep(0.2)
                continue
            if status != 200:
                self.errors[status] += 1
                time.sleep(0.2)
                continue
            page = json.loads(data)["events"]
            self.seen += [(e["id"], e["position"]) for e in page]
            if page:
                after = page[-1]["position"]
            else:
                time.sleep(0.1)

    def finish(self):
        self.stop.set()
        self.thread.join(60)


def server_user_ids():
    import pwd
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def start_standby(ledger, directory, port):
    """A streaming replica of the ledger's cluster (pg_basebackup -R over its unix socket), on
    127.0.0.1:`port`; its cluster_name is the name the primary's synchronous_standby_names lists."""
    os.mkdir(directory, 0o700)
    if os.getuid() == 0:
        os.chown(directory, *server_user_ids())
    backup = subprocess.run(ledger.as_server_user([
        os.path.join(ledger.pg_bin(), "pg_basebackup"), "-h", ledger.run_dir, "-p", str(ledger.pg_port), "-U", "postgres",
        "-D", directory, "-R", "-X", "stream", "-c", "fast"]), capture_output=True, text=True, timeout=300)
    if backup.returncode != 0:
        raise SystemExit(f"error: pg_basebackup for the standby failed: {backup.stdout}{backup.stderr}")
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k '{directory}' -c unix_socket_permissions=0777"
               " -c hot_standby=on -c max_connections=200 -c cluster_name=ledger_standby")
    started = subprocess.run(ledger.as_server_user([
        os.path.join(ledger.pg_bin(), "pg_ctl"), "-D", directory, "-l", os.path.join(directory, "standby.log"),
        "-w", "-t", "60", "-o", options, "start"]), capture_output=True, text=True, timeout=90)
    if started.returncode != 0:
        raise SystemExit(f"error: the standby did not start: {started.stdout}{started.stderr}")


def scenario_failover(world, args):
    st = Stats("6 failover")
    st.batches = []
    ledger = world.ledger
    started = time.monotonic()
    if not tcp_trust_rule(ledger, "failover"):
        return st
    users_lock = hold_cluster_share(ledger)
    standby_dir = os.path.join(ledger.data, "standby")
    standby_port = free_port()
    stop = threading.Event()
    clients = []
    follower = None
    figures = {}
    seal = None
    try:
        ledger.stop()
        if ledger.pg_running():
            ledger.pg_stop()
        # Synchronous replication from the command line, not the configuration files: the standby
        # copies those, and a promoted standby that waited for a standby of its own would stall.
        result = ledger.pg_start(tcp_port=free_port(), extra="-c synchronous_standby_names=ledger_standby")
        if result.returncode != 0:
            raise SystemExit(f"error: pg_ctl start with TCP failed: {result.stdout}{result.stderr}")
        primary_port = ledger.pg_port
        start_standby(ledger, standby_dir, standby_port)
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline:
            rows = ledger.psql("SELECT sync_state FROM pg_stat_replication") or []
            state = rows[0][0] if rows else None
            if state == "sync":
                break
            time.sleep(0.2)
        if state != "sync":
            fail(f"[failover] the standby is not a synchronous standby after 60 s (sync_state {state!r})")
            return st
        ledger.daemon_args = ["--database-url",
                              f"postgresql://placement_app@127.0.0.1:{primary_port},127.0.0.1:{standby_port}/placement"
                              "?sslmode=disable&target_session_attrs=read-write",
                              "--seal-keys", os.path.join(ledger.data, "seal-keys")]
        ready = ledger.start()
        follower = FeedFollower(world)
        clients = run_clients(world, st, args.failover_clients, stop, in_doubt_ok=True)
        deadline = time.monotonic() + 60
        while st.c["acked_requests"] < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        # The last seal before the failover, as an auditor keeps it (`placementctl digest`, here
        # through the same two-host URL): verify --digest must prove it on the promoted standby.
        deadline = time.monotonic() + 30
        url = ledger.daemon_args[1].replace("placement_app@", "postgres@")
        while seal is None and time.monotonic() < deadline:
            digest = ledger.ctl("digest", "--database-url", url, check=False)
            if digest.returncode == 0 and digest.stdout.strip():
                seal = {"digest": digest.stdout.strip(), "note": digest.stderr.strip()}
            else:
                time.sleep(0.5)
        if st.c["acked_requests"] < 200 or seal is None:
            fail(f"[failover] no load or no seal before the failover: {st.c['acked_requests']} appends acknowledged, seal {seal}")
            return st
        log(f"failover: primary 127.0.0.1:{primary_port} with synchronous standby 127.0.0.1:{standby_port}; daemon ready in "
            f"{ready:.2f} s on both hosts; {st.c['acked_requests']} appends acknowledged, {args.failover_clients} writers; "
            f"the last seal before the kill: {seal['note']}")
        with world.lock:
            world.responses.clear()
        world.record_times = True
        pid = ledger.postmaster_pid()
        kill_at = time.monotonic()
        window = [kill_at, None]
        with world.lock:
            world.outages.append(window)
        os.kill(pid, signal.SIGKILL)
        acked_at_kill = st.c["acked_requests"]
        time.sleep(args.failover_promote_after)
        promote = subprocess.run(ledger.as_server_user([
            os.path.join(ledger.pg_bin(), "pg_ctl"), "-D", standby_dir, "-w", "-t", "60", "promote"]),
            capture_output=True, text=True, timeout=90)
        promoted_at = time.monotonic()
        if promote.returncode != 0:
            fail(f"[failover] pg_ctl promote failed: {promote.stdout}{promote.stderr}")
            return st
        recovered, why = wait_recovered(world, st, 60)
        recovered_at = time.monotonic()
        if not recovered:
            fail(f"[failover] the daemon did not serve again on the promoted standby: {why}; log:\n{daemon_log_tail(ledger)}")
        window[1] = recovered_at
        time.sleep(3)  # and on under load
        readyz, _, _ = http_once("GET", ledger.port, "/readyz", timeout=10)
        if readyz != 200:
            fail(f"[failover] /readyz answers {readyz} after the failover")
        world.record_times = False
        with world.lock:
            responses = list(world.responses)
        # Answers already on their way at the kill do not count: the first append sent after it.
        after = sorted(r for sent, r, code in responses if code in (200, 201) and sent > kill_at)
        figures = {
            "promote_s": promoted_at - kill_at,
            "first_ack_s": (after[0] - kill_at) if after else None,
            "first_ack_after_promote_s": (after[0] - promoted_at) if after else None,
            "recovered_s": recovered_at - kill_at,
            "acked_before": acked_at_kill,
            "answers_503": sum(1 for s_, r, code in responses if code == 503),
        }
    finally:
        stop_clients(clients, stop, st)
        if follower:
            follower.finish()
        stop_url_daemon(ledger, st, "failover")
        # The promoted standby becomes the ledger's cluster; the old primary, killed, is discarded
        # (it must never come back as a primary: its last transactions may not be on the standby).
        if os.path.isdir(standby_dir):
            subprocess.run(ledger.as_server_user([os.path.join(ledger.pg_bin(), "pg_ctl"), "-D", standby_dir, "-m", "fast",
                                                  "-w", "-t", "60", "stop"]), capture_output=True, text=True, timeout=90)
            if "promote_s" in figures:
                shutil.rmtree(ledger.pgdata)
                os.rename(standby_dir, ledger.pgdata)
            else:
                if ledger.pg_running():
                    ledger.pg_stop()
                shutil.rmtree(standby_dir, ignore_errors=True)
        back_to_embedded(ledger, users_lock)
    if seal is not None and "promote_s" in figures:
        verify = ledger.ctl("verify", "--digest", seal["digest"], check=False)
        st.c["verify_digest_exit"] = verify.returncode
        if verify.returncode != 0:
            fail(f"[failover] verify --digest of the seal taken before the failover exited {verify.returncode}: "
                 f"{(verify.stdout + verify.stderr).strip()[-500:]}")
        events = export_log(world)
        at = {eid: pos for eid, pos in ((e["id"], e["position"]) for e in events)}
        seen = follower.seen if follower else []
        last = seen[-1][1] if seen else 0
        expected = [(e["id"], e["position"]) for e in events if e["position"] <= last]
        st.c["feed_followed"] = len(seen)
        if seen != expected:
            missing = len(set(expected) - set(seen))
            extra = [x for x in seen if at.get(x[0]) != x[1]]
            fail(f"[failover] the feed follower's {len(seen)} events differ from the log's {len(expected)} up to position "
                 f"{last}: {missing} missed, {len(extra)} not in the log as given")
        st.notes.append(
            f"killed the primary (kill -9) under {args.failover_clients} writers after {figures['acked_before']} acknowledged "
            f"appends; promoted the standby {figures['promote_s']:.2f} s later; first append acknowledged "
            f"{'-' if figures['first_ack_s'] is None else format(figures['first_ack_s'], '.2f')} s after the kill "
            f"({'-' if figures['first_ack_after_promote_s'] is None else format(figures['first_ack_after_promote_s'], '.2f')} s "
            f"after the promotion), recovered (10 acks, projections at the head) {figures['recovered_s']:.2f} s after the kill; "
            f"{figures['answers_503']} appends answered 503 meanwhile")
        st.notes.append(
            f"    the feed follower read {len(seen)} events across the failover, "
            f"none missed or repeated (errors while it followed: {dict(follower.errors) or 'none'}); "
            f"verify --digest of the last seal before the kill ({seal['note']}): exit {verify.returncode}")
    for k in ("no_response", "timeouts"):
        if st.c[k]:
            st.notes.append(f"{st.c[k]} appends got no HTTP answer ({k}) and were retried")
    st.duration = time.monotonic() - started
    return st


# ---------------------------------------------------------------------------------------------
# Live feed (scenario 7)

class LiveFollower:
    """Follows GET /v1/events/live as a Server-Sent Events client: from position 0, hanging up
    every 1-4 s and reconnecting with Last-Event-ID, as a flaky network or a restarting consumer
    would; any error or closed stream is followed by a reconnect."""

    def __init__(self, world):
        self.world = world
        self.after = 0
        self.received = []  # (id, position) in the order received
        self.arrived = {}  # event id -> monotonic time it arrived
        self.live_since = None  # when the first connection had caught up with the history
        self.repeated = 0
        self.connects = 0
        self.answers = collections.Counter()
        self.notices = collections.Counter()
        self.heartbeats = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        rng = random.Random(self.world.rng.random())
        while not self.stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.world.ledger.port, timeout=30)
            try:
                conn.request("GET", "/v1/events/live", headers={"Authorization": f"Bearer {self.world.key}",
                                                                "Last-Event-ID": str(self.after)})
                resp = conn.getresponse()
                self.answers[resp.status] += 1
                if resp.status != 200:
                    resp.read()
                    time.sleep(0.3)
                    continue
                self.connects += 1
                hang_up = time.monotonic() + rng.uniform(1.0, 4.0)
                event, ident, data = None, None, None
                while not self.stop.is_set() and time.monotonic() < hang_up:
                    line = resp.fp.readline()
                    if not line:
                        break
                    line = line.decode().rstrip("\n")
                    if line.startswith(":"):
                        self.heartbeats += 1
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("id: "):
                        ident = int(line[4:])
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and data is not None:
                        if event == "ledger_event":
                            if ident <= self.after:
                                self.repeated += 1
                            else:
                                eid = json.loads(data)["id"]
                                self.received.append((eid, ident))
                                self.arrived[eid] = time.monotonic()
                                self.after = ident
                        else:
                            self.notices[event] += 1
                            if event == "live" and self.live_since is None:
                                self.live_since = time.monotonic()
                        event, ident, data = None, None, None
            except (OSError, http.client.HTTPException):
                self.answers["no answer"] += 1
                time.sleep(0.2)
            finally:
                conn.close()

    def finish(self):
        self.stop.set()
        self.thread.join(60)


def scenario_live(world, args):
    st = Stats("7 live feed")
    ledger = world.ledger
    started = time.monotonic()
    stop = threading.Event()
    follower = LiveFollower(world)
    clients = run_clients(world, st, args.failover_clients, stop)
    time.sleep(4)
    window = [time.monotonic(), None]
    with world.lock:
        world.outages.append(window)
    result = ledger.pg_stop()
    if result.returncode != 0:
        raise SystemExit(f"error: pg_ctl stop failed: {result.stdout}{result.stderr}")
    time.sleep(3)
    result = ledger.pg_start()
    if result.returncode != 0:
        raise SystemExit(f"error: pg_ctl start failed: {result.stdout}{result.stderr}")
    healthy, why = wait_recovered(world, st, timeout=60)
    if not healthy:
        fail(f"[live feed] the daemon did not recover from the PostgreSQL restart: {why}")
    with world.lock:
        window[1] = time.monotonic() + 6.0
    time.sleep(4)
    stop_clients(clients, stop, st)
    events = export_log(world)
    head = events[-1]["position"] if events else 0
    deadline = time.monotonic() + 60
    while follower.after < head and time.monotonic() < deadline:
        time.sleep(0.2)
    follower.finish()
    expected = [(e["id"], e["position"]) for e in events]
    st.c["live_events"] = len(follower.received)
    st.c["live_repeated"] = follower.repeated
    if follower.received != expected:
        got = set(follower.received)
        missing = [x for x in expected if x not in got]
        fail(f"[live feed] the SSE follower received {len(follower.received)} events, the log holds {len(expected)}: "
             f"{len(missing)} missed (e.g. {missing[:2]}), order or content differs: {follower.received[:1]} vs {expected[:1]}")
    if follower.repeated:
        fail(f"[live feed] {follower.repeated} events were sent again after the position given in Last-Event-ID")
    # Lag: from an append's acknowledgement to its event's arrival on the stream (0 when the event
    # arrived first), for appends acknowledged once the follower had caught up with the history
    # and outside the restart's window.
    with world.lock:
        acked = dict(world.acked_at)
    since = max(started, follower.live_since or float("inf"))
    lags = sorted(max(0.0, follower.arrived[eid] - at) for eid, at in acked.items()
                  if eid in follower.arrived and at > since and not world.in_outage(at))
    if lags:
        st.notes.append(f"live lag (acknowledgement to arrival) over {len(lags)} events: p50 "
                        f"{lags[len(lags) // 2] * 1000:.1f} ms, p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms, "
                        f"max {lags[-1] * 1000:.1f} ms (the follower's hang-ups included)")
    st.notes.append(
        f"an SSE follower from position 0 hung up every 1-4 s and resumed with Last-Event-ID ({follower.connects} "
        f"connections) under {args.failover_clients} writers and a PostgreSQL restart: {len(follower.received)} events "
        f"received, equal to the log, none repeated; answers {dict(follower.answers)}, notices {dict(follower.notices)}, "
        f"{follower.heartbeats} heartbeats")
    st.duration = time.monotonic() - started
    return st


def tcp_trust_rule(ledger, label):
    """Whether the cluster lets the daemon log in over loopback TCP (its pg_hba.conf); fails if not."""
    hba = os.path.join(ledger.pgdata, "pg_hba.conf")
    try:
        with open(hba) as f:
            rules = [line.split() for line in f if line.strip() and not line.lstrip().startswith("#")]
    except OSError as e:
        fail(f"[{label}] cannot read {hba}: {e}")
        return False
    if ["host", "all", "all", "127.0.0.1/32", "trust"] not in rules:
        fail(f"[{label}] {hba} has no `host all all 127.0.0.1/32 trust` rule: the daemon could not log in over TCP "
             f"(rules: {rules})")
        return False
    return True


def stop_url_daemon(ledger, st, label):
    """Stops the daemon a scenario started on a database URL (noting a crash) and forgets the URL."""
    if ledger.process is not None and not ledger.alive():
        st.add("daemon_crashed")
        fail(f"[{label}] placementd exited with {ledger.process.returncode}; log:\n{daemon_log_tail(ledger)}")
    ledger.stop()
    ledger.daemon_args = []


def back_to_embedded(ledger, users_lock):
    """The cluster on its unix socket only, the daemon on the embedded default again (for the checks
    that follow), and the share of the cluster `hold_cluster_share` took given back."""
    ledger.pg_port = None
    if not ledger.pg_running():
        result = ledger.pg_start()
        if result.returncode != 0:
            raise SystemExit(f"error: pg_ctl start failed: {result.stdout}{result.stderr}")
    ledger.start()
    fcntl.flock(users_lock, fcntl.LOCK_UN)
    os.close(users_lock)


def hold_cluster_share(ledger):
    """While the daemon uses a URL it holds no share of the embedded cluster (DIR/.users): hold one,
    so that nothing run meanwhile takes itself for the cluster's last user and stops it."""
    users_lock = os.open(os.path.join(ledger.data, ".users"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(users_lock, fcntl.LOCK_SH)
    return users_lock


def check_batches(stats, events):
    """Every multi-event request is in the log whole or not at all, and in one transaction."""
    by_id = {e["id"]: e for e in events}
    partial = split = whole = 0
    for ids in stats.batches or []:
        present = [by_id[i] for i in ids if i in by_id]
        if not present:
            continue
        if len(present) != len(ids):
            partial += 1
            if partial <= 3:
                fail(f"[{stats.name}] a {len(ids)}-event request is half-recorded: {len(present)} of its events in the log "
                     f"(ids {ids})")
            continue
        whole += 1
        if len({e["position"] >> 16 for e in present}) != 1:
            split += 1
            if split <= 3:
                fail(f"[{stats.name}] a batch was recorded by more than one transaction: positions {[e['position'] for e in present]}")
    stats.c["batches_whole"] = whole
    stats.c["batches_half_recorded"] = partial
    stats.c["batches_split"] = split


def scenario_soak(world, args):
    st = Stats("soak")
    ledger = world.ledger
    started = time.monotonic()
    stop = threading.Event()
    per_client = args.soak_rate / args.soak_clients
    clients = run_clients(world, st, args.soak_clients, stop, rate=per_client)
    samples = []
    end = started + args.soak
    last_report = started
    while time.monotonic() < end:
        rss = ledger.rss_kib()
        samples.append((time.monotonic() - started, rss, st.c["events_acked"]))
        if time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            log(f"soak: {int(time.monotonic() - started)} s, RSS {rss // 1024 if rss else '?'} MiB, {st.c['events_acked']} events")
        time.sleep(args.soak_sample)
    events_during = st.c["events_acked"]
    requests_during = st.c["acked_requests"]
    stop_clients(clients, stop, st)
    if not ledger.alive():
        fail("[soak] placementd died during the soak")
    rss = [r for _, r, _ in samples if r]
    elapsed = time.monotonic() - started
    st.c["rounds"] = 1
    lat = sorted(x for c in clients for x in c.latencies)
    st.soak = {
        "seconds": round(elapsed), "samples": len(rss), "rss_start_mib": round(rss[0] / 1024, 1), "rss_peak_mib": round(max(rss) / 1024, 1),
        "rss_end_mib": round(rss[-1] / 1024, 1), "events_per_s": round(events_during / args.soak, 1),
        "requests_per_s": round(requests_during / args.soak, 1),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None, "p99_ms": round(lat[len(lat) * 99 // 100] * 1000, 1) if lat else None,
        "rss_series_mib": [(round(t), round(r / 1024, 1)) for t, r, _ in samples[:: max(1, len(samples) // 12)] if r],
    }
    st.notes.append("soak: " + ", ".join(f"{k} {v}" for k, v in st.soak.items() if k != "rss_series_mib"))
    st.notes.append(f"soak RSS over time (s, MiB): {st.soak['rss_series_mib']}")
    st.duration = elapsed
    return st


# ---------------------------------------------------------------------------------------------


def summary(stats_list, ledger, elapsed):
    columns = [
        ("rounds", "rounds"), ("dur s", None), ("requests", "requests"), ("acked", "events_acked"), ("found", "events_found"),
        ("lost", "events_lost"), ("dup", "events_duplicated"), ("5xx valid", "5xx_valid_outside_outage"),
        ("503 outage", "503_during_outage"), ("503 overload", "503_overload"), ("no resp", "no_response"),
        ("ack lost→200", "acks_lost_recovered_by_retry"), ("err→recorded", "error_then_recorded"),
        ("2xx pg down", "2xx_while_pg_down"), ("4xx valid", "4xx_on_valid"),
    ]
    name_w = max(len(s.name) for s in stats_list) + 1
    header = "scenario".ljust(name_w) + " ".join(h.rjust(max(len(h), 7)) for h, _ in columns)
    print("\n" + header)
    print("-" * len(header))
    total = collections.Counter()
    for s in stats_list:
        cells = []
        for h, k in columns:
            v = f"{s.duration:.0f}" if k is None else str(s.c.get(k, 0))
            if k:
                total[k] += s.c.get(k, 0)
            cells.append(v.rjust(max(len(h), 7)))
        print(s.name.ljust(name_w) + " ".join(cells))
    print("-" * len(header))
    print("total".ljust(name_w) + " ".join(
        (f"{sum(s.duration for s in stats_list):.0f}" if k is None else str(total[k])).rjust(max(len(h), 7)) for h, k in columns))
    print()
    for s in stats_list:
        extra = {k: v for k, v in s.c.items() if k not in {c for _, c in columns} and v}
        print(f"{s.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(extra.items())))
        for n in s.notes:
            print(f"    {n}")
    print(f"\ndaemon starts {ledger.starts}, peak RSS of any daemon process {ledger.peak_rss / 1024:.1f} MiB, "
          f"wall time {elapsed:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bindir", help="directory holding placementd and placementctl, e.g. .build/debug")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in scenarios 1 and 2 (8)")
    parser.add_argument("--kill-rounds", type=int, default=8, help="kill -9 rounds (8)")
    parser.add_argument("--pg-rounds", type=int, default=3, help="PostgreSQL restart rounds (3)")
    parser.add_argument("--flood", type=int, default=200, help="concurrent connections of the pool flood (200)")
    parser.add_argument("--flood-seconds", type=float, default=15, help="length of the pool flood (15)")
    parser.add_argument("--slowloris", type=int, default=8)
    parser.add_argument("--slow-bodies", type=int, default=4)
    parser.add_argument("--non-readers", type=int, default=4)
    parser.add_argument("--pipelined", type=int, default=100, help="feed requests each non-reader pipelines (100)")
    parser.add_argument("--slow-seconds", type=float, default=10, help="throughput measuring window (10)")
    parser.add_argument("--soak", type=int, default=0, metavar="SECONDS", help="then soak at steady load for SECONDS (off)")
    parser.add_argument("--soak-rate", type=float, default=100, help="soak load in requests/s (100)")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument("--soak-sample", type=float, default=5, help="seconds between RSS samples (5)")
    parser.add_argument("--partition-seconds", type=float, default=8,
                        help="length of scenario 5's cut, longer than the daemon's 5 s database deadline (8)")
    parser.add_argument("--partition-long", action="store_true",
                        help="scenario 5 also cuts for --partition-long-seconds, past the server's tcp_user_timeout (off)")
    parser.add_argument("--partition-long-seconds", type=float, default=35, help="length of the long cut (35)")
    parser.add_argument("--partition-timeline", action="store_true",
                        help="print every answer to a request overlapping a cut (printed anyway when a check fails)")
    parser.add_argument("--failover-clients", type=int, default=24, help="retrying writers in scenario 6 (24)")
    parser.add_argument("--failover-promote-after", type=float, default=1.0,
                        help="seconds from killing the primary to promoting the standby in scenario 6 (1)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="scenarios to run, e.g. 1,3 (all)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (its path is printed)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    data = tempfile.mkdtemp(prefix="plf-", dir="/tmp")
    os.chmod(data, 0o755)
    # Private copies of the binaries: a rebuild in the bin dir during the run must not swap them
    # under a restart.
    bindir = os.path.join(data, "bin")
    os.mkdir(bindir)
    for name in ("placementd", "placementctl"):
        source = os.path.join(os.path.abspath(args.bindir), name)
        if not os.access(source, os.X_OK):
            shutil.rmtree(data, ignore_errors=True)
            raise SystemExit(f"error: {source} is not an executable; build first (swift build) and pass the bin dir")
        shutil.copy2(source, os.path.join(bindir, name))
    ledger = Ledger(bindir, data, free_port())
    log(f"seed {seed}, data dir {data}, port {ledger.port}")
    started = time.monotonic()
    stats_list = []
    try:
        key_out = ledger.ctl("keys", "create", "--role", "platform")
        key = key_out.stdout.splitlines()[0].strip()
        world = World(ledger, key, uuid.uuid4().hex[:6], seed)
        ready = ledger.start()
        log(f"placementd ready in {ready:.2f} s (pid {ledger.process.pid}, postmaster {ledger.postmaster_pid()})")
        if "1" in only:
            stats_list.append(scenario_kill9(world, args))
            check_log(world, stats_list, "after kill -9")
        if "2" in only:
            stats_list.append(scenario_pg_restart(world, args))
            check_log(world, stats_list, "after PostgreSQL restarts")
        if "3" in only:
            head = max((r.get("position", 0) for r in world.receipts.values()), default=0)
            stats_list.append(scenario_pool(world, args, head))
            check_log(world, stats_list, "after the pool flood")
        if "4" in only:
            stats_list.append(scenario_slow(world, args))
        if "5" in only:
            stats_list.append(scenario_partition(world, args))
        if "6" in only:
            stats_list.append(scenario_failover(world, args))
            check_log(world, stats_list, "after the failover")
        if "7" in only:
            stats_list.append(scenario_live(world, args))
            check_log(world, stats_list, "after the live feed")
        if args.soak:
            stats_list.append(scenario_soak(world, args))
        if not stats_list:
            raise SystemExit("error: no scenario selected")
        events = check_log(world, stats_list, "final")
        for s in stats_list:
            for eid in getattr(s, "partial_ids", []):
                if any(e["id"] == eid for e in events):
                    s.c["incomplete_request_recorded"] += 1
                    fail(f"[{s.name}] the event of an incomplete (never finished) request was recorded")
            if s.batches is not None:
                check_batches(s, events)
        final = Stats("projections")
        check_projections(world, events, final)
        for k in ("projection_mismatches_vs_log", "report_mismatches", "replay_mismatches"):
            stats_list[0].c[k] = final.c[k]
        stats_list[0].notes.append(f"final projection check: {final.c['placements_compared']} placements compared")
    finally:
        elapsed = time.monotonic() - started
        if stats_list:
            summary(stats_list, ledger, elapsed)
        keep = args.keep or bool(FAILURES)
        ledger.close(keep)
        if ledger.stop_seconds:
            print(f"placementd stopped after SIGTERM within {max(ledger.stop_seconds):.2f} s "
                  f"(longest of {len(ledger.stop_seconds)}); {ledger.last_checkpoint()}")
        if keep:
            print(f"data dir kept (daemon log: {ledger.log_path}): {data}")
    if FAILURES:
        print(f"\nFAILED: {len(FAILURES)} broken guarantee(s) or check(s):", file=sys.stderr)
        for f in FAILURES[:50]:
            print(f"  - {f}", file=sys.stderr)
        sys.exit(1)
    print("\nPASS: no acknowledged event lost, none duplicated, no 5xx on valid input outside an outage, "
          "verify clean, projections equal the log and a rebuild")


if __name__ == "__main__":
    main()
