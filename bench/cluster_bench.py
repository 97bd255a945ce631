#!/usr/bin/env python3
"""Whole-system benchmark of cluster mode: trials/s embedded vs workers, dispatch overhead per
trial, and recovery times after each kind of kill. Standard library only (Python 3.11).

Usage:
  bench/cluster_bench.py [--quick] [--trials 24] [--seed 7] [--repeats 1]
                         [--configs embedded,embedded-t2,w1s2,w2s1,w2s2] [--recoveries worker,coordinator,nats]
                         [--bin PATH] [--plugins DIR] [--csv FILE --target COL] [--out FILE.json]

  --bin      the microlearn binary   [default: $CARGO_TARGET_DIR/release/microlearn]
  --plugins  the built first-party plugins [default: $CARGO_TARGET_DIR/microlearn-plugins]
             (CARGO_TARGET_DIR defaults to ~/.cache/microlearn/target, else ./target)
  --quick    10 trials, 1 repeat, configurations embedded,w1s2,w2s1: a few minutes

Needs PostgreSQL 13+ on 127.0.0.1:5432 with trust auth for user postgres (--pg to change; the
benchmark creates one database per configuration and drops it at the end) and nats-server 2.9+
(/usr/sbin/nats-server; one private server with JetStream per configuration, on a free port and
a temporary store directory). Nothing is built: build the release binary and the plugins first
(cargo build --release -p microlearn; scripts/build-plugins.sh).

What runs
---------
The same pipeline request everywhere: the CSV (default tests/data/telco_churn.train.csv, target
churn), `max_trials` N (--trials), a fixed `seed`, `threads` 1 and a budget far larger than the
search needs (--budget, default 1800 s), so the search ends on its trial count. A seeded search
with a trial count is reproducible: it proposes the same trials (number, kind, parameters,
score) on any machine and any cluster, keeping at most about four trials in flight. Each
configuration is a fresh process set, data directory, database and NATS server:

  embedded     `microlearn serve` alone (sled in its data directory), trials on its own threads;
               with threads 1 it runs one trial at a time. This is the baseline of every ratio.
  embedded-t2  the same with `threads` 2 (two trials at a time: both cores, like the clusters)
  w1s2         an API node (`serve` with MICROLEARN_META/BLOBS/QUEUE) + 1 `worker --slots 2`
  w2s1         an API node + 2 workers `--slots 1`
  w2s2         an API node + 2 workers `--slots 2` (4 trial slots on 2 cores: oversubscribed)

In a cluster the worker that pulls the pipeline coordinates it (holds its lease) and publishes
each trial rung to the JetStream trials stream; any worker with a free slot runs it and writes
the result to the PostgreSQL ledger. The coordinator keeps as many rungs in flight as the
cluster announces slots. Every process gets its own data directory and one shared warm
compiled-plugin cache (MICROLEARN_CACHE_DIR, filled once with `plugin list`), so no start pays
for compiling the WebAssembly components.

What each number means
----------------------
trials/s        trials recorded / the optimizing stage's wall time, from its stage_started and
                stage_finished events (GET /v1/pipelines/ID/events). The stage also holds the
                search's setup (validation folds, the context blob a cluster's workers read).
                "span trials/s" uses first trial start to last trial end instead.
× embedded      trials/s divided by the embedded (threads 1) run's.
same sequence   whether (number, kind, params, score) of every trial equals the embedded run's.
paired overhead since the sequences are equal, trial n of a cluster run is paired with trial n
                of the embedded run: duration_secs(cluster) - duration_secs(embedded), p50/p99
                over the trials (with ~24 trials p99 is about the largest). It includes the
                contention noise of running two fits at once on two cores (and the embedded
                threads-1 run has none), so it is also given against embedded-t2, which runs two
                trials at a time like the clusters.
ledger latencies the direct measure: while a cluster pipeline runs the script reads the rung
                ledger (ml_records tree trial_rungs; removed when the pipeline ends) with each
                rung job's worker-side started_at_ms / finished_at_ms and per-unit fit_secs.
                queue = rung 0 started on a worker - trial started on the coordinator (publish,
                JetStream delivery, the worker's ledger checks); pickup = trial end on the
                coordinator - its last rung finished on the worker (wake-up or 500 ms ledger poll,
                reading the predictions blobs); dispatch/trial = queue + pickup, a lower bound
                of the per-trial overhead (a gap between two rungs of one trial also holds the
                ASHA promotion wait, which embedded trials have too, so gaps are listed apart);
                worker non-fit = a rung's worker time minus its units' fit seconds (scoring,
                storing predictions, ledger writes; scoring happens embedded too).
recovery        each kind on a fresh cluster of 2 workers --slots 1 running the same seeded
                pipeline; the kill comes once --kill-after trials are recorded; a replacement
                worker is started right after each worker kill. Times are seconds from the kill:
  worker        SIGKILL a worker that is not the coordinator while both workers run a rung job
                (the ledger shows two jobs delivered and unrecorded). "job redelivered" = the
                interrupted job's second delivery started (JetStream ACK_WAIT is 10 s);
                "interrupted trial recorded" = that trial appeared in the store.
  coordinator   SIGKILL the worker holding the pipeline's lease (ml_records tree pipeline_leases,
                {"node": "node-<pid>-<hex>"}: the pid names the process). "lease taken over" =
                another node holds the lease (15 s TTL); "next trial recorded" = the first trial
                not recorded before the kill appeared.
  nats          kill -9 nats-server and start it again on the same port and store directory
                (at once, or after --nats-down seconds).
                "next trial recorded" (jobs already running finish and go to PostgreSQL, so it
                can be quick); "first job started after" = the first rung a worker started after
                the kill, i.e. dispatch through NATS works again.
  all kinds     "other trials at the normal rate again": trial n's completion time (from its
                optimizing start) is compared with the undisturbed w2s1 run's; the delay settles
                at the time the kill cost. Reported: from the kill to the first completion from
                which every later delay stays within max(1.5 s, the undisturbed median gap
                between completions) of the final delay (the median over the last third of
                trials); the trials whose jobs were redelivered are left out (they are timed on
                their own above). "–" when the search ended before the pace settled.
                "search time added" = optimizing seconds minus the undisturbed w2s1 run's.
                Each is the median over --repeats runs. Every recovery run also checks that
                every trial number is recorded once and that the sequence equals embedded's.

Output: a markdown table on stdout and every raw number (trials, events, ledger snapshots,
kill times, load averages before and after each run) in a JSON file (--out, default
bench/results/cluster-<date>.json). The 1-minute load average before and after each run, and
the share of the CPUs busy just before it (from /proc/stat, none of this script's processes
running), and the CPU time other processes used during each run (the machine's busy time from
/proc/stat minus this script's and its children's), are kept: on a shared 2-core machine
another job's load skews every number.
--wait-idle 0.75 waits (up to --wait-max s) before each run until 75% of the CPUs are idle.

On 8 cores or several machines
------------------------------
This script puts everything on one machine: with 2 cores, 2 slots already use every core, so
beyond that more slots only add contention (w2s2) and PostgreSQL, NATS, the API node and the
coordinator compete with the fits. A meaningful scaling run needs more cores than trial slots:
on 8 cores, say 3 workers × 2 slots (the coordinator and services keep ~2 cores); across
machines, one or more workers per machine (`--slots` = its cores), PostgreSQL on its own
machine (every rung result and trial is a round trip to it), NATS beside it, API nodes behind
a real load balancer, and the blob store on shared storage or S3 (each worker fetches the
search's context blob once). The reproducible mode keeps only about 4 trials in flight, so for
scaling beyond 4 slots run without max_trials (a budget-bound search, whose sequence then
differs) or use larger trial counts with the same caveat. Expected: throughput grows roughly
with total slots until the coordinator (one thread per slot, ledger polls) or PostgreSQL
becomes the bottleneck; the dispatch overhead stays roughly constant in absolute milliseconds
per rung (a publish, a delivery, a ledger write and read), so its share shrinks as trials get
longer (bigger data, more folds); recovery times stay set by ACK_WAIT (10 s), the lease TTL
(15 s) and NATS's restart, not by the cluster's size.
"""

import argparse
import atexit
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADMIN = "mlk_cluster_bench_admin_key_00000"
STREAM = "BENCH_PIPELINES"

CONFIGS = {
    "embedded": {"label": "embedded (threads 1)", "workers": 0, "slots": 0, "threads": 1},
    "embedded-t2": {"label": "embedded (threads 2)", "workers": 0, "slots": 0, "threads": 2},
    "w1s2": {"label": "cluster: 1 worker × 2 slots", "workers": 1, "slots": 2, "threads": 1},
    "w2s1": {"label": "cluster: 2 workers × 1 slot", "workers": 2, "slots": 1, "threads": 1},
    "w2s2": {"label": "cluster: 2 workers × 2 slots", "workers": 2, "slots": 2, "threads": 1},
}
RECOVERIES = ["worker", "coordinator", "nats"]


class BenchError(Exception):
    pass


def say(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def load1():
    return round(os.getloadavg()[0], 2)


def cpu_busy(secs=3.0):
    """Fraction of all cores busy over `secs` (from /proc/stat), or None off Linux."""
    def read():
        try:
            v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle
    a = read()
    time.sleep(secs)
    b = read()
    if not a or not b or b[0] == a[0]:
        return None
    return round(1.0 - (b[1] - a[1]) / (b[0] - a[0]), 3)


class CpuMeter:
    """CPU seconds over one run: the whole machine's (/proc/stat), this script's and its reaped
    children's (os.times), and the difference: what other work on the machine used meanwhile.
    Read `stop()` only after every child of the run has been waited for."""

    def __init__(self):
        self.t0, self.machine0, self.ours0 = time.time(), self._machine(), self._ours()

    @staticmethod
    def _machine():
        try:
            v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        busy = v[0] + v[1] + v[2] + sum(v[5:8])  # user nice system irq softirq steal
        return busy / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def stop(self):
        wall = time.time() - self.t0
        m1, ours = self._machine(), self._ours() - self.ours0
        if m1 is None or self.machine0 is None:
            return {"wall_s": round(wall, 2), "ours_cpu_s": round(ours, 2)}
        machine = m1 - self.machine0
        others = max(0.0, machine - ours)
        return {"wall_s": round(wall, 2), "machine_cpu_s": round(machine, 2), "ours_cpu_s": round(ours, 2),
                "others_cpu_s": round(others, 2),
                "others_share": round(others / (wall * (os.cpu_count() or 1)), 3) if wall > 0 else None}


def wait_quiet(args):
    """Before a run: with --wait-idle, wait (up to --wait-max s) until the machine's other work
    leaves at least that fraction of the CPUs idle. Returns what was measured last."""
    busy = cpu_busy(2.0)
    if not args.wait_idle or busy is None:
        return {"cpu_busy_before": busy, "waited_s": 0.0}
    t0 = time.time()
    while busy > 1.0 - args.wait_idle and time.time() - t0 < args.wait_max:
        say(f"waiting for the machine to quieten ({100 * busy:.0f}% of the CPUs busy)")
        time.sleep(10)
        busy = cpu_busy(3.0)
    return {"cpu_busy_before": busy, "waited_s": round(time.time() - t0, 1)}


def target_dir() -> Path:
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"])
    cache = Path.home() / ".cache" / "microlearn" / "target"
    return cache if cache.exists() else REPO / "target"


def pct(xs, q):
    """The q-th percentile of xs, linearly interpolated (numpy's default); None when empty."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100.0
    f, c = math.floor(k), math.ceil(k)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def median(xs):
    return pct(xs, 50)


# ---------------------------------------------------------------------------- processes

_PROCS = []  # every Popen this script started, killed at exit whatever happens


def _kill_all():
    for p in list(_PROCS):
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in list(_PROCS):
        try:
            p.wait(timeout=10)
        except Exception:
            pass


atexit.register(_kill_all)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def tail(path, n=25):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


class Proc:
    """A child process with its stdout and stderr in log files; with `ready`, start() waits
    for a stdout line starting with it (the rest of the line is kept in ready_line)."""

    def __init__(self, name, cmd, env, log_dir, ready=None, timeout=180):
        self.name = name
        self.out_path = Path(log_dir) / f"{name}.out"
        self.err_path = Path(log_dir) / f"{name}.err"
        self.ready_line = None
        self._err = open(self.err_path, "ab")
        self.started_at = time.time()
        if ready is None:
            self._out = open(self.out_path, "ab")
            self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=self._err)
            _PROCS.append(self.p)
            self.ready_at = time.time()
            return
        self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=self._err)
        _PROCS.append(self.p)
        seen = threading.Event()

        def pump():
            with open(self.out_path, "a") as f:
                for raw in self.p.stdout:
                    line = raw.decode(errors="replace")
                    f.write(line)
                    f.flush()
                    if self.ready_line is None and line.startswith(ready):
                        self.ready_line = line[len(ready):].strip()
                        seen.set()
            seen.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.time() + timeout
        while not seen.wait(0.2):
            if time.time() > deadline:
                self.kill9()
                raise BenchError(f"{name} printed no {ready!r} within {timeout} s; stderr:\n"
                                 + tail(self.err_path))
        if self.ready_line is None:
            self.p.wait(timeout=10)
            raise BenchError(f"{name} exited ({self.p.returncode}) before printing {ready!r}; "
                             f"stderr:\n" + tail(self.err_path))
        self.ready_at = time.time()

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def kill9(self):
        if self.p.poll() is None:
            try:
                self.p.kill()
            except OSError:
                pass
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass

    def cpu_ticks(self):
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Nats:
    """A private nats-server with JetStream, restartable on the same port and store directory."""

    def __init__(self, binary, work, name):
        self.binary, self.name = binary, name
        self.port = free_port()
        self.dir = Path(work) / f"nats-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = Path(work) / "logs"
        self.proc = None
        self.starts = 0
        self.start()

    def start(self):
        self.starts += 1
        self.proc = Proc(f"nats-{self.name}-{self.starts}",
                         [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.dir)],
                         os.environ.copy(), self.log_dir)
        deadline = time.time() + 20
        while not port_open(self.port):
            if not self.proc.alive():
                raise BenchError("nats-server exited at start:\n" + tail(self.proc.err_path))
            if time.time() > deadline:
                raise BenchError("nats-server did not listen within 20 s:\n" + tail(self.proc.err_path))
            time.sleep(0.05)
        return time.time()

    def kill9(self):
        if self.proc:
            self.proc.kill9()

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"


# ---------------------------------------------------------------------------- PostgreSQL

class PGError(Exception):
    pass


class PG:
    """Just enough of the PostgreSQL wire protocol (v3, simple queries, trust/password/md5
    auth) to create databases and read MicroLearn's two tables. Rows come back as text."""

    def __init__(self, host, port, user, database, password=None, timeout=30):
        self.user = user
        self.password = password
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise PGError(f"cannot connect to PostgreSQL at {host}:{port}: {e} (is it running? "
                          "scripts/infra.sh starts it)") from e
        self.buf = b""
        body = struct.pack("!i", 196608)
        for k, v in (("user", user), ("database", database)):
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            t, payload = self._read()
            if t == b"R":
                code = struct.unpack("!i", payload[:4])[0]
                if code == 0:
                    continue
                if code == 3 and password is not None:
                    self._send(b"p", password.encode() + b"\0")
                elif code == 5 and password is not None:
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
                    self._send(b"p", b"md5" + outer.encode() + b"\0")
                else:
                    raise PGError(f"PostgreSQL asks user {user} for authentication (method {code}); "
                                  "this benchmark expects trust auth on 127.0.0.1 (or a password in "
                                  "the --pg URL for password/md5)")
            elif t == b"E":
                raise PGError(self._error(payload))
            elif t == b"Z":
                return

    def _send(self, t, payload):
        self.sock.sendall(t + struct.pack("!i", len(payload) + 4) + payload)

    def _recv(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise PGError("PostgreSQL closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read(self):
        head = self._recv(5)
        n = struct.unpack("!i", head[1:5])[0]
        return head[:1], self._recv(n - 4)

    @staticmethod
    def _error(payload):
        fields = {}
        for part in payload.split(b"\0"):
            if part:
                fields[part[:1]] = part[1:].decode(errors="replace")
        return fields.get(b"M", "error") + (f" ({fields[b'C']})" if b"C" in fields else "")

    def query(self, sql):
        self._send(b"Q", sql.encode() + b"\0")
        rows, error = [], None
        while True:
            t, payload = self._read()
            if t == b"D":
                ncols = struct.unpack("!h", payload[:2])[0]
                pos, row = 2, []
                for _ in range(ncols):
                    n = struct.unpack("!i", payload[pos:pos + 4])[0]
                    pos += 4
                    if n < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos:pos + n].decode())
                        pos += n
                rows.append(tuple(row))
            elif t == b"E":
                error = self._error(payload)
            elif t == b"Z":
                if error:
                    raise PGError(error)
                return rows

    def close(self):
        try:
            self._send(b"X", b"")
            self.sock.close()
        except OSError:
            pass


class PGInfo:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("postgres", "postgresql"):
            raise BenchError(f"--pg {url!r}: expected postgres://USER@HOST:PORT")
        self.user = urllib.parse.unquote(u.username or "postgres")
        self.password = urllib.parse.unquote(u.password) if u.password else None
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 5432

    def connect(self, db="postgres"):
        return PG(self.host, self.port, self.user, db, self.password)

    def url(self, db):
        auth = urllib.parse.quote(self.user)
        if self.password:
            auth += ":" + urllib.parse.quote(self.password)
        return f"postgres://{auth}@{self.host}:{self.port}/{db}"


# ---------------------------------------------------------------------------- HTTP

class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, ctype="application/json", timeout=60):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        req.add_header("Authorization", f"Bearer {ADMIN}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method, path, body=None, timeout=60):
        status, raw = self.call(method, path, body, timeout=timeout)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")


def upload(api, csv_path):
    status, body = api.call("POST", f"/v1/datasets?name={urllib.parse.quote(csv_path.name)}",
                            csv_path.read_bytes(), "text/csv", timeout=300)
    if status not in (200, 201):
        raise BenchError(f"uploading {csv_path}: {status} {body[:500]!r}")
    return json.loads(body)["id"]


def submit(api, request):
    status, body = api.json("POST", "/v1/pipelines", request)
    if status != 202:
        raise BenchError(f"POST /v1/pipelines: {status} {body}")
    return body["id"]


def wait_done(api, pl, timeout, poll=0.5):
    deadline = time.time() + timeout
    while True:
        try:
            status, p = api.json("GET", f"/v1/pipelines/{pl}", timeout=30)
        except OSError:
            status, p = 0, None
        if status == 200 and isinstance(p, dict) and p.get("terminal"):
            return p
        if time.time() > deadline:
            raise BenchError(f"pipeline {pl} did not finish within {timeout} s: {p}")
        time.sleep(poll)


def get_trials(api, pl):
    status, v = api.json("GET", f"/v1/pipelines/{pl}/trials")
    if status != 200:
        raise BenchError(f"GET trials: {status} {v}")
    return v["trials"]


def get_events(api, pl):
    """Every stored event of an ended pipeline, from its server-sent event stream."""
    status, raw = api.call("GET", f"/v1/pipelines/{pl}/events", timeout=120)
    if status != 200:
        raise BenchError(f"GET events: {status} {raw[:300]!r}")
    events = []
    for block in raw.decode(errors="replace").replace("\r\n", "\n").split("\n\n"):
        kind, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if kind and kind not in ("end", "shutdown") and data:
            try:
                events.append(json.loads("\n".join(data)))
            except ValueError:
                pass
    return events


def optimizing_window(events, pipeline):
    """(start_ms, end_ms, source) of the optimizing stage: its first stage_started event and
    last stage_finished event, else the pipeline record's stage entry."""
    starts = [e["at_ms"] for e in events if e.get("kind") == "stage_started"
              and (e.get("data") or {}).get("stage") == "optimizing"]
    ends = [e["at_ms"] for e in events if e.get("kind") == "stage_finished"
            and (e.get("data") or {}).get("stage") == "optimizing"]
    if starts and ends:
        return min(starts), max(ends), "events"
    for s in (pipeline or {}).get("stages", []):
        if s.get("stage") == "optimizing" and s.get("finished_at_ms"):
            return s["started_at_ms"], s["finished_at_ms"], "pipeline record"
    return None, None, None


def trial_key(t):
    return (t["number"], t["kind"], json.dumps(t["params"], sort_keys=True), repr(t.get("score")))


def trial_end_ms(t):
    return t["started_at_ms"] + t["duration_secs"] * 1000.0


def node_pid(node):
    m = re.match(r"node-(\d+)-", node or "")
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------- a cluster's ledger, watched

class Monitor(threading.Thread):
    """Polls a cluster database: when each trial first appeared, every rung result of the trial
    ledger (removed when the pipeline ends, so it is kept here), delivery counts, and the
    pipeline lease over time."""

    SQL = ("SELECT tree, key, CASE WHEN tree = 'trials' THEN '' ELSE value::text END FROM ml_records "
           "WHERE tree IN ('trials', 'trial_rungs', 'pipeline_leases') "
           "UNION ALL SELECT 'deliveries', key, n::text FROM ml_counters WHERE tree = 'trial_rung_deliveries'")

    def __init__(self, pg_info, db, interval):
        super().__init__(daemon=True)
        self.pg_info, self.db, self.interval = pg_info, db, interval
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.trials_seen = {}   # number -> first seen (s)
        self.rungs = {}         # job -> {"seen": s, "result": {...}}
        self.deliveries = {}    # job -> {count: first seen (s)}
        self.leases = []        # [(s, node, expires_at_ms)] on every change
        self.polls = 0
        self.errors = []

    def run(self):
        pg = None
        while not self.stop_flag.is_set():
            t0 = time.time()
            try:
                if pg is None:
                    pg = self.pg_info.connect(self.db)
                rows = pg.query(self.SQL)
                self._update(time.time(), rows)
            except (PGError, OSError) as e:
                if len(self.errors) < 20:
                    self.errors.append(f"{round(t0, 3)}: {e}")
                if pg is not None:
                    pg.close()
                pg = None
            self.stop_flag.wait(max(0.0, self.interval - (time.time() - t0)))
        if pg is not None:
            pg.close()

    def _update(self, t, rows):
        with self.lock:
            self.polls += 1
            lease = None
            inflight = set()
            recorded = set()
            for tree, key, value in rows:
                last = key.rsplit("/", 1)[-1]
                if tree == "trials":
                    try:
                        self.trials_seen.setdefault(int(last), t)
                    except ValueError:
                        pass
                elif tree == "trial_rungs":
                    recorded.add(last)
                    if last not in self.rungs:
                        try:
                            self.rungs[last] = {"seen": t, "result": json.loads(value)}
                        except ValueError:
                            pass
                elif tree == "deliveries":
                    self.deliveries.setdefault(last, {}).setdefault(int(value), t)
                    inflight.add(last)
                elif tree == "pipeline_leases":
                    try:
                        v = json.loads(value)
                        lease = (v.get("node"), v.get("expires_at_ms"))
                    except ValueError:
                        pass
            self.inflight = inflight - recorded
            if lease and (not self.leases or self.leases[-1][1] != lease[0]):
                self.leases.append((t, lease[0], lease[1]))
            self.lease = lease

    def snapshot(self):
        with self.lock:
            return {
                "trials": len(self.trials_seen),
                "inflight": sorted(getattr(self, "inflight", set())),
                "lease": getattr(self, "lease", None),
            }

    def wait_polls(self, n=2, timeout=10):
        """Wait until n more polls have completed (so the state is current)."""
        with self.lock:
            target = self.polls + n
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.polls >= target:
                    return
            time.sleep(0.02)

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=10)

    def dump(self):
        with self.lock:
            return {
                "interval_s": self.interval,
                "polls": self.polls,
                "errors": self.errors,
                "trials_first_seen": {str(k): round(v, 3) for k, v in sorted(self.trials_seen.items())},
                "rungs": {k: {"seen": round(v["seen"], 3), **v["result"]} for k, v in sorted(self.rungs.items())},
                "deliveries": {k: {str(c): round(s, 3) for c, s in v.items()} for k, v in sorted(self.deliveries.items())},
                "leases": [{"seen": round(s, 3), "node": n, "expires_at_ms": e} for s, n, e in self.leases],
            }


# ---------------------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
        (self.work / "logs").mkdir()
        self.pg = PGInfo(args.pg)
        self.admin = None
        self.dbs = []
        self.dataset_path = Path(args.csv)
        self.base_env = {k: v for k, v in os.environ.items() if not k.startswith("MICROLEARN_")}
        self.base_env["MICROLEARN_ADMIN_KEY"] = ADMIN
        self.base_env["MICROLEARN_CACHE_DIR"] = str(self.work / "plugin-cache")
        self.counter = 0

    # -- set-up and tear-down

    def preflight(self):
        a = self.args
        if not Path(a.bin).is_file():
            raise BenchError(f"no microlearn binary at {a.bin} (cargo build --release -p microlearn, or --bin)")
        if not (Path(a.plugins) / "standard" / "plugin.toml").exists():
            raise BenchError(f"no built plugins in {a.plugins} (scripts/build-plugins.sh, or --plugins)")
        if not self.dataset_path.is_file():
            raise BenchError(f"no data file {self.dataset_path}")
        if any(CONFIGS[c]["workers"] for c in a.configs) or a.recoveries:
            if not a.nats or not Path(a.nats).is_file():
                raise BenchError("nats-server not found (Debian package nats-server, scripts/infra.sh "
                                 "installs it; or --nats PATH)")
            try:
                self.admin = self.pg.connect("postgres")
            except PGError as e:
                raise BenchError(str(e)) from e
        versions = {}
        p = subprocess.run([a.bin, "--version"], capture_output=True, text=True)
        versions["microlearn"] = (p.stdout or p.stderr).strip()
        if self.admin:
            versions["postgres"] = self.admin.query("SHOW server_version")[0][0]
            p = subprocess.run([a.nats, "--version"], capture_output=True, text=True)
            versions["nats_server"] = (p.stdout or p.stderr).strip()
        self.versions = versions
        say("warming the compiled-plugin cache (plugin list)")
        t0 = time.time()
        p = subprocess.run([a.bin, "--plugins", a.plugins, "--home", str(self.work / "warm-home"),
                            "plugin", "list"], env=self.base_env, capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError(f"microlearn plugin list failed: {p.stderr[-2000:]}")
        self.cache_warm_s = round(time.time() - t0, 2)

    def create_db(self, name):
        db = re.sub(r"[^a-z0-9_]", "_", f"mlbench_{os.getpid()}_{name}".lower())[:60]
        self.admin.query(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.admin.query(f'CREATE DATABASE "{db}"')
        self.dbs.append(db)
        return db

    def drop_db(self, db):
        try:
            self.admin.query(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            self.dbs.remove(db)
        except (PGError, OSError, ValueError) as e:
            say(f"could not drop database {db}: {e}")

    def cleanup(self):
        _kill_all()
        if self.admin:
            for db in list(self.dbs):
                self.drop_db(db)
            self.admin.close()
        if self.args.keep_work:
            say(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def home(self, name):
        self.counter += 1
        h = self.work / "homes" / f"{self.counter:03d}-{name}"
        h.mkdir(parents=True)
        return h

    def serve(self, name, env_extra=None):
        env = dict(self.base_env, MICROLEARN_HOME=str(self.home(name)), **(env_extra or {}))
        p = Proc(name, [self.args.bin, "--plugins", self.args.plugins, "serve", "--listen", "127.0.0.1:0"],
                 env, self.work / "logs", ready="listening on http://")
        return p, Api("http://" + p.ready_line)

    def request(self, threads):
        a = self.args
        return {"dataset_id": None, "target": a.target, "budget_secs": a.budget,
                "max_trials": a.trials, "seed": a.seed, "threads": threads}

    # -- one configuration's run

    def run_pipeline(self, api, ds, threads, monitor=None):
        req = self.request(threads)
        req["dataset_id"] = ds
        t0 = time.time()
        pl = submit(api, req)
        p = wait_done(api, pl, self.args.timeout)
        wall = time.time() - t0
        trials = get_trials(api, pl)
        events = get_events(api, pl)
        return pl, p, trials, events, wall

    def throughput(self, cid):
        cfg = CONFIGS[cid]
        say(f"throughput: {cfg['label']}, {self.args.trials} trials")
        out = {"config": cid, "label": cfg["label"], **wait_quiet(self.args), "load1_before": load1(),
               "started_at": time.time()}
        meter = CpuMeter()
        cluster = None
        try:
            if cfg["workers"] == 0:
                proc, api = self.serve(f"{cid}-serve")
                ds = upload(api, self.dataset_path)
                pl, p, trials, events, wall = self.run_pipeline(api, ds, cfg["threads"])
                ledger = None
            else:
                cluster = Cluster(self, cid)
                for _ in range(cfg["workers"]):
                    cluster.worker(cfg["slots"])
                ds = upload(cluster.api, self.dataset_path)
                mon = Monitor(self.pg, cluster.db, self.args.poll)
                mon.start()
                try:
                    pl, p, trials, events, wall = self.run_pipeline(cluster.api, ds, cfg["threads"])
                finally:
                    mon.stop()
                ledger = mon.dump()
            out.update(self._summarise(p, trials, events, wall))
            out["ledger"] = ledger
            out["pipeline_id"] = pl
        except Exception as e:  # one failed configuration must not lose the others
            say(f"{cid} failed: {e}")
            out["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, BenchError) else str(e)
            out["traceback"] = traceback.format_exc()
        finally:
            if cluster:
                cluster.close()
            _kill_all()
            out["load1_after"] = load1()
            out["cpu"] = meter.stop()
        return out

    @staticmethod
    def _summarise(p, trials, events, wall):
        start, end, source = optimizing_window(events, p)
        n = len(trials)
        o = {"status": p.get("status"), "error_detail": p.get("error"), "trials_n": n,
             "pipeline_wall_s": round(wall, 3), "trials": trials,
             "events": [e for e in events if e.get("kind") in ("stage_started", "stage_finished")],
             "window_source": source}
        if start and end and end > start:
            o["search_s"] = (end - start) / 1000.0
            o["trials_per_s"] = n / o["search_s"]
            o["optimizing_start_ms"] = start
        if trials:
            span = (max(trial_end_ms(t) for t in trials) - min(t["started_at_ms"] for t in trials)) / 1000.0
            o["span_s"] = span
            o["span_trials_per_s"] = n / span if span > 0 else None
            o["numbers_once"] = sorted(t["number"] for t in trials) == list(range(n))
        return o

    # -- recovery

    def recovery(self, kind, rep, baseline):
        a = self.args
        say(f"recovery: {kind} kill, run {rep + 1} of {a.repeats}")
        out = {"kind": kind, "repeat": rep, **wait_quiet(a), "load1_before": load1()}
        meter = CpuMeter()
        cluster = None
        mon = None
        try:
            cluster = Cluster(self, f"rec_{kind}_{rep}")
            cluster.worker(1)
            cluster.worker(1)
            ds = upload(cluster.api, self.dataset_path)
            mon = Monitor(self.pg, cluster.db, a.recovery_poll)
            mon.start()
            req = self.request(1)
            req["dataset_id"] = ds
            t_submit = time.time()
            pl = submit(cluster.api, req)
            out["pipeline_id"] = pl
            deadline = time.time() + a.timeout
            while mon.snapshot()["trials"] < a.kill_after:
                if time.time() > deadline:
                    raise BenchError(f"fewer than {a.kill_after} trials after {a.timeout} s")
                time.sleep(0.1)
            snap = mon.snapshot()
            coord_node = (snap["lease"] or (None,))[0]
            coord_pid = node_pid(coord_node)
            by_pid = {w.pid: w for w in cluster.workers}
            if coord_pid not in by_pid:
                raise BenchError(f"the pipeline lease names {coord_node!r}, none of the workers "
                                 f"{sorted(by_pid)}")
            out["coordinator"] = {"node": coord_node, "pid": coord_pid}
            victim = None
            if kind == "worker":
                victim = next(w for w in cluster.workers if w.pid != coord_pid)
                # Both single-slot workers busy (two rung jobs delivered and not yet recorded)
                # and the victim using CPU over the last 0.3 s: it is fitting a trial.
                wait_until = time.time() + 60
                history = []
                while True:
                    t = time.time()
                    history.append((t, victim.cpu_ticks() or 0))
                    old = [c for s, c in history if s <= t - 0.3]
                    busy = bool(old) and history[-1][1] - old[-1] >= 10  # ≥ 1/3 of a core at 100 Hz
                    inflight = mon.snapshot()["inflight"]
                    if (len(inflight) >= 2 and busy) or t > wait_until:
                        break
                    time.sleep(0.05)
                out["inflight_at_kill"] = inflight
                out["victim_running_a_job"] = len(inflight) >= 2 and busy
                out["victim_cpu_ticks_last_300ms"] = history[-1][1] - old[-1] if old else None
            elif kind == "coordinator":
                victim = by_pid[coord_pid]
                out["inflight_at_kill"] = mon.snapshot()["inflight"]
            # What was recorded just before the kill, read directly (not from the monitor).
            pg = self.pg.connect(cluster.db)
            before = {int(k.rsplit("/", 1)[-1]) for (k,) in
                      pg.query("SELECT key FROM ml_records WHERE tree = 'trials'")}
            pg.close()
            status, pv = cluster.api.json("GET", f"/v1/pipelines/{pl}")
            if isinstance(pv, dict) and pv.get("terminal"):
                raise BenchError("the pipeline ended before the kill: use more --trials or a smaller --kill-after")
            t_kill = time.time()
            if kind == "nats":
                cluster.nats.kill9()
                out["nats_down_at"] = t_kill
                time.sleep(a.nats_down)
                t_back = cluster.nats.start()
                out["nats_back_s"] = t_back - t_kill
            else:
                victim.kill9()
                out["victim"] = {"pid": victim.pid, "name": victim.name}
                cluster.workers.remove(victim)
                replacement = cluster.worker(1)
                out["replacement"] = {"pid": replacement.pid, "ready_s": replacement.ready_at - t_kill}
            out["t_kill"] = t_kill
            out["trials_before_kill"] = sorted(before)
            p = wait_done(cluster.api, pl, a.timeout)
            mon.wait_polls(1)
            mon.stop()
            trials = get_trials(cluster.api, pl)
            events = get_events(cluster.api, pl)
            out.update(self._summarise(p, trials, events, time.time() - t_submit))
            out["ledger"] = mon.dump()
            out["metrics"] = self._recovery_metrics(kind, out, mon, before, t_kill, trials, baseline)
        except Exception as e:  # one failed recovery run must not lose the others
            say(f"recovery {kind} failed: {e}")
            out["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, BenchError) else str(e)
            out["traceback"] = traceback.format_exc()
        finally:
            if mon and mon.is_alive():
                mon.stop()
            if cluster:
                cluster.close()
            _kill_all()
            out["load1_after"] = load1()
            out["cpu"] = meter.stop()
        return out

    @staticmethod
    def _recovery_metrics(kind, out, mon, before, t_kill, trials, baseline):
        m = {}
        seen = mon.trials_seen
        after = [s for n, s in seen.items() if n not in before]
        m["next_trial_recorded_s"] = min(after) - t_kill if after else None
        victim_node = (out.get("coordinator") or {}).get("node") if kind == "coordinator" else None
        if kind == "coordinator":
            taken = [s for s, node, _ in mon.leases if s > t_kill and node != victim_node]
            m["lease_taken_over_s"] = taken[0] - t_kill if taken else None
            m["new_coordinator"] = next((node for s, node, _ in mon.leases if s > t_kill and node != victim_node), None)
        redelivered = {job: r["result"] for job, r in mon.rungs.items() if r["result"].get("delivery", 1) >= 2}
        m["redelivered_jobs"] = sorted(redelivered)
        if redelivered:
            first = min(redelivered.values(), key=lambda r: r["started_at_ms"])
            job = next(j for j, r in redelivered.items() if r is first)
            number = int(job.split("-")[0])
            m["job_redelivered_s"] = first["started_at_ms"] / 1000.0 - t_kill
            m["interrupted_rung_recorded_s"] = first["finished_at_ms"] / 1000.0 - t_kill
            m["interrupted_trial"] = number
            m["interrupted_trial_recorded_s"] = seen[number] - t_kill if number in seen else None
        else:
            m["job_redelivered_s"] = m["interrupted_rung_recorded_s"] = None
            m["interrupted_trial_recorded_s"] = None
        if kind == "nats":
            m["nats_back_s"] = out.get("nats_back_s")
            started = [r["result"]["started_at_ms"] / 1000.0 for r in mon.rungs.values()
                       if r["result"]["started_at_ms"] / 1000.0 > t_kill]
            m["first_job_started_after_s"] = min(started) - t_kill if started else None
        # Against the undisturbed run of the same request on 2 workers × 1 slot.
        if baseline and baseline.get("search_s") and out.get("search_s"):
            m["search_time_added_s"] = out["search_s"] - baseline["search_s"]
            interrupted = {int(j.split("-")[0]) for j in redelivered}
            m.update(rate_restored(baseline, out, t_kill, interrupted))
        return m

    def overheads(self, runs):
        """Paired per-trial overheads against the embedded runs, and the ledger's latencies."""
        res = {}
        embedded = {c: {t["number"]: t for t in runs[c]["trials"]}
                    for c in ("embedded", "embedded-t2") if runs.get(c, {}).get("trials")}
        for cid, r in runs.items():
            if CONFIGS[cid]["workers"] == 0 or not r.get("trials"):
                continue
            o = {}
            for ref, by_number in embedded.items():
                diffs = [(t["duration_secs"] - by_number[t["number"]]["duration_secs"]) * 1000.0
                         for t in r["trials"] if t["number"] in by_number
                         and trial_key(t) == trial_key(by_number[t["number"]])]
                o[f"paired_vs_{ref}_ms"] = {"n": len(diffs), "p50": pct(diffs, 50), "p99": pct(diffs, 99),
                                            "mean": statistics.fmean(diffs) if diffs else None,
                                            "values": [round(d, 1) for d in diffs]}
            o.update(ledger_latencies(r))
            res[cid] = o
        return res


def ledger_latencies(run):
    """Per rung job and per trial, from the ledger snapshot of one cluster run."""
    ledger = run.get("ledger") or {}
    rungs = ledger.get("rungs") or {}
    by_trial = {}
    for job, r in rungs.items():
        try:
            number, rung = int(job.split("-")[0]), int(job.split("-")[1])
        except (ValueError, IndexError):
            continue
        by_trial.setdefault(number, {})[rung] = r
    queue, pickup, gaps, nonfit, per_trial, runtime = [], [], [], [], [], []
    missing = 0
    for t in run.get("trials", []):
        rs = by_trial.get(t["number"])
        if not rs or 0 not in rs:
            missing += 1
            continue
        ordered = [rs[k] for k in sorted(rs)]
        q = ordered[0]["started_at_ms"] - t["started_at_ms"]
        pk = trial_end_ms(t) - ordered[-1]["finished_at_ms"]
        queue.append(q)
        pickup.append(pk)
        per_trial.append(q + pk)
        for a, b in zip(ordered, ordered[1:]):
            gaps.append(b["started_at_ms"] - a["finished_at_ms"])
        for r in ordered:
            span = r["finished_at_ms"] - r["started_at_ms"]
            runtime.append(span)
            nonfit.append(span - 1000.0 * sum(u.get("fit_secs", 0.0) for u in r.get("units", [])))

    def s(xs):
        return {"n": len(xs), "p50": pct(xs, 50), "p99": pct(xs, 99),
                "mean": statistics.fmean(xs) if xs else None}

    return {"queue_ms": s(queue), "pickup_ms": s(pickup), "dispatch_per_trial_ms": s(per_trial),
            "inter_rung_gap_ms": s(gaps), "worker_nonfit_ms": s(nonfit), "rung_runtime_ms": s(runtime),
            "rung_jobs_in_ledger": len(rungs), "trials_without_ledger": missing}


def rate_restored(baseline, run, t_kill, interrupted=()):
    """When the trial completions of a disturbed run fall back into the undisturbed run's pace
    (see the docstring): returns rate_back_to_normal_s and the numbers it rests on. The trials
    whose rung jobs were redelivered (`interrupted`, timed on their own) are left out."""
    if not baseline.get("optimizing_start_ms") or not run.get("optimizing_start_ms"):
        return {"rate_back_to_normal_s": None}
    base = {t["number"]: trial_end_ms(t) - baseline["optimizing_start_ms"] for t in baseline["trials"]}
    ends = sorted((trial_end_ms(t), t["number"]) for t in run["trials"])
    gaps = sorted(base.values())
    gaps = [b - a for a, b in zip(gaps, gaps[1:])]
    tol = max(1500.0, median(gaps) or 0.0)
    delays = [(end, n, (end - run["optimizing_start_ms"]) - base[n]) for end, n in ends
              if n in base and n not in interrupted]
    if len(delays) < 3:
        return {"rate_back_to_normal_s": None}
    tail_n = max(1, len(delays) // 3)
    final = median([d for _, _, d in delays[-tail_n:]])
    kill_ms = t_kill * 1000.0
    restored = None
    for i, (end, n, d) in enumerate(delays):
        if end <= kill_ms:
            continue
        if all(abs(dd - final) <= tol for _, _, dd in delays[i:]):
            restored = end
            break
    return {"rate_back_to_normal_s": None if restored is None else (restored - kill_ms) / 1000.0,
            "rate_tolerance_s": tol / 1000.0, "final_delay_s": final / 1000.0,
            "delays_s": [[n, round(d / 1000.0, 3)] for _, n, d in delays]}


class Cluster:
    """A database, a blob directory, a NATS server, an API node; workers on demand."""

    def __init__(self, bench, name):
        self.bench, self.name = bench, name
        self.db = bench.create_db(name)
        self.blobs = bench.work / f"blobs-{name}"
        self.blobs.mkdir()
        self.nats = None
        self.workers = []
        self.api_proc = None
        self.nats = Nats(bench.args.nats, bench.work, name)
        self.env = {"MICROLEARN_META": bench.pg.url(self.db), "MICROLEARN_BLOBS": f"file://{self.blobs}",
                    "MICROLEARN_QUEUE": f"{self.nats.url}?stream={STREAM}"}
        self.api_proc, self.api = bench.serve(f"{name}-api", self.env)
        self.n = 0

    def worker(self, slots):
        self.n += 1
        b = self.bench
        env = dict(b.base_env, MICROLEARN_HOME=str(b.home(f"{self.name}-w{self.n}")), **self.env)
        w = Proc(f"{self.name}-w{self.n}", [b.args.bin, "--plugins", b.args.plugins, "worker", "--slots", str(slots)],
                 env, b.work / "logs", ready="worker ready")
        self.workers.append(w)
        return w

    def close(self):
        for w in self.workers:
            w.kill9()
        if self.api_proc:
            self.api_proc.kill9()
        if self.nats:
            self.nats.kill9()
        self.bench.drop_db(self.db)


# ---------------------------------------------------------------------------- report

def f(x, nd=2, unit=""):
    return "–" if x is None else f"{x:.{nd}f}{unit}"


def busy(r):
    b = r.get("cpu_busy_before")
    o = (r.get("cpu") or {}).get("others_share")
    return f"{'–' if b is None else f'{100 * b:.0f}%'} / {'–' if o is None else f'{100 * o:.0f}%'}"


def report(results):
    runs, ref = results["throughput"], results["throughput"].get("embedded")
    ref_tps = (ref or {}).get("trials_per_s")
    ref_span = (ref or {}).get("span_trials_per_s")
    ref_keys = [trial_key(t) for t in sorted((ref or {}).get("trials", []), key=lambda t: t["number"])]
    lines = []
    w = lines.append
    w(f"## Cluster benchmark: {results['trials']} trials, seed {results['seed']}, "
      f"{Path(results['csv']).name} (target {results['target']}), {results['machine']['cores']} cores")
    w("")
    w("| configuration | trial slots | trials | search s | trials/s | × embedded | span s | span trials/s | × embedded (span) | same sequence | CPU busy before / others' during | load1 before→after |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for cid, r in runs.items():
        cfg = CONFIGS[cid]
        slots = cfg["threads"] if cfg["workers"] == 0 else cfg["workers"] * cfg["slots"]
        if r.get("error"):
            w(f"| {cfg['label']} | {slots} | failed: {r['error'][:80]} | | | | | | | | | |")
            continue
        keys = [trial_key(t) for t in sorted(r.get("trials", []), key=lambda t: t["number"])]
        same = "(reference)" if cid == "embedded" else "?" if not ref_keys else ("yes" if keys == ref_keys else
                                                          f"NO ({sum(a != b for a, b in zip(keys, ref_keys)) + abs(len(keys) - len(ref_keys))} differ)")
        ratio = r["trials_per_s"] / ref_tps if ref_tps and r.get("trials_per_s") else None
        ratio_span = r["span_trials_per_s"] / ref_span if ref_span and r.get("span_trials_per_s") else None
        status = "" if r.get("status") == "done" else f" ({r.get('status')})"
        w(f"| {cfg['label']}{status} | {slots} | {r.get('trials_n')} | {f(r.get('search_s'), 1)} | {f(r.get('trials_per_s'), 3)} | "
          f"{f(ratio, 2, '×')} | {f(r.get('span_s'), 1)} | {f(r.get('span_trials_per_s'), 3)} | {f(ratio_span, 2, '×')} | "
          f"{same} | {busy(r)} | {r.get('load1_before')}→{r.get('load1_after')} |")
    w("")
    w("search s: the optimizing stage, from its stage_started/stage_finished events; span: first trial start to last trial end. "
      "CPU busy before: share of all CPUs busy just before the run (none of this script's processes running); "
      "others' during: CPU time other processes on the machine used during the run, as a share of all CPUs.")
    ov = results.get("overhead") or {}
    if ov:
        w("")
        w("### Dispatch overhead per trial (ms)")
        w("")
        w("| configuration | paired vs embedded t1: n, p50, p99 | paired vs embedded t2: n, p50, p99 | "
          "ledger dispatch/trial p50, p99 | queue p50, p99 | pickup p50, p99 | inter-rung gap p50 | worker non-fit p50 |")
        w("|---|---|---|---|---|---|---|---|")
        for cid, o in ov.items():
            def pp(d):
                return "–" if not d or not d.get("n") else f"{d['n']}, {f(d['p50'], 0)}, {f(d['p99'], 0)}"

            def p2(d):
                return "–" if not d or not d.get("n") else f"{f(d['p50'], 0)}, {f(d['p99'], 0)}"
            w(f"| {CONFIGS[cid]['label']} | {pp(o.get('paired_vs_embedded_ms'))} | {pp(o.get('paired_vs_embedded-t2_ms'))} | "
              f"{p2(o.get('dispatch_per_trial_ms'))} | {p2(o.get('queue_ms'))} | {p2(o.get('pickup_ms'))} | "
              f"{f((o.get('inter_rung_gap_ms') or {}).get('p50'), 0)} | {f((o.get('worker_nonfit_ms') or {}).get('p50'), 0)} |")
        w("")
        w("paired: duration_secs(cluster) − duration_secs(embedded) for the same trial number; includes the contention "
          "noise of two fits at once on two cores (embedded t1 runs one at a time). ledger: queue = rung 0 started on a "
          "worker − trial started on the coordinator; pickup = trial end − last rung finished; dispatch/trial = queue + "
          "pickup (a lower bound; inter-rung gaps also hold the ASHA promotion wait).")
    rec = results.get("recovery") or {}
    if rec:
        w("")
        w("### Recovery (seconds from the kill; 2 workers × 1 slot; median over runs)")
        w("")
        w("| kill | measure | median s | per run | every trial once, same sequence | CPU busy before / others' during |")
        w("|---|---|---:|---|---|---|")
        measures = {
            "worker": [("job_redelivered_s", "interrupted job started again (redelivery)"),
                       ("interrupted_rung_recorded_s", "interrupted rung recorded"),
                       ("interrupted_trial_recorded_s", "interrupted trial recorded"),
                       ("next_trial_recorded_s", "next trial recorded")],
            "coordinator": [("lease_taken_over_s", "lease taken over"),
                            ("next_trial_recorded_s", "next trial recorded (takeover)"),
                            ("job_redelivered_s", "its own interrupted job started again")],
            "nats": [("nats_back_s", "nats-server accepting again"),
                     ("next_trial_recorded_s", "next trial recorded"),
                     ("first_job_started_after_s", "first rung job started after the kill")],
        }
        common = [("rate_back_to_normal_s", "other trials at the normal rate again"),
                  ("search_time_added_s", "search time added vs undisturbed w2s1")]
        for kind, rs in rec.items():
            oks = [r for r in rs if not r.get("error")]
            checks = []
            for r in rs:
                if r.get("error"):
                    checks.append(f"failed: {r['error'][:60]}")
                else:
                    keys = [trial_key(t) for t in sorted(r.get("trials", []), key=lambda t: t["number"])]
                    checks.append(f"{'yes' if r.get('numbers_once') else 'NO'}, "
                                  f"{'yes' if keys == ref_keys else ('NO' if ref_keys else '?')}")
            for i, (key, label) in enumerate(measures[kind] + common):
                vals = [r["metrics"].get(key) for r in oks]
                w(f"| {kind if i == 0 else ''} | {label} | {f(median(vals), 1)} | "
                  f"{', '.join(f(v, 1) for v in vals) or '–'} | {'; '.join(checks) if i == 0 else ''} | "
                  f"{', '.join(busy(r) for r in rs) if i == 0 else ''} |")
    w("")
    w(f"1-minute load average: {results['load1_start']} at the start, {results['load1_end']} at the end "
      f"({results['machine']['cores']} cores; other work on the machine skews every number).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main

def main():
    td = target_dir()
    nats_default = next((p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if Path(p).exists()),
                        shutil.which("nats-server"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(td / "release" / "microlearn"))
    ap.add_argument("--plugins", default=str(td / "microlearn-plugins"))
    ap.add_argument("--nats", default=nats_default, help="the nats-server binary")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server (no database)")
    ap.add_argument("--csv", default=str(REPO / "tests" / "data" / "telco_churn.train.csv"))
    ap.add_argument("--target", default="churn")
    ap.add_argument("--trials", type=int, help="max_trials of the pipeline [24; --quick 10]")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget", type=float, default=1800, help="budget_secs: far more than the search needs")
    ap.add_argument("--repeats", type=int, help="runs per recovery kind [1]")
    ap.add_argument("--configs", help=f"throughput configurations, from {','.join(CONFIGS)} "
                                      "[all; --quick embedded,w1s2,w2s1]")
    ap.add_argument("--recoveries", default=",".join(RECOVERIES), help="kill kinds ('' for none)")
    ap.add_argument("--kill-after", type=int, default=3, help="trials recorded before a kill [3]")
    ap.add_argument("--nats-down", type=float, default=0.0,
                    help="seconds nats-server stays down before its restart (nats kind) [0]")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per pipeline before giving up")
    ap.add_argument("--poll", type=float, default=0.5, help="ledger poll interval, throughput runs (s)")
    ap.add_argument("--recovery-poll", type=float, default=0.2, help="ledger poll interval, recovery runs (s)")
    ap.add_argument("--wait-idle", type=float, default=0.0,
                    help="before each run, wait until this fraction of the CPUs is idle (e.g. 0.75) [0: don't]")
    ap.add_argument("--wait-max", type=float, default=300, help="longest such wait per run (s)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="JSON file [bench/results/cluster-<date>.json]")
    ap.add_argument("--keep-work", action="store_true", help="keep the temporary folder (logs, homes)")
    args = ap.parse_args()
    args.trials = args.trials or (10 if args.quick else 24)
    args.repeats = args.repeats or 1
    if args.configs is None:
        args.configs = "embedded,w1s2,w2s1" if args.quick else ",".join(CONFIGS)
    args.configs = [c for c in args.configs.split(",") if c]
    args.recoveries = [r for r in args.recoveries.split(",") if r]
    for c in args.configs:
        if c not in CONFIGS:
            ap.error(f"unknown configuration {c!r} (choose from {', '.join(CONFIGS)})")
    for r in args.recoveries:
        if r not in RECOVERIES:
            ap.error(f"unknown recovery kind {r!r} (choose from {', '.join(RECOVERIES)})")
    if args.recoveries and "w2s1" not in args.configs:
        say("note: without the w2s1 run, recovery has no undisturbed baseline (no 'rate back' / 'added')")
    args.csv = str(Path(args.csv).resolve())
    out_path = Path(args.out) if args.out else REPO / "bench" / "results" / f"cluster-{datetime.date.today()}.json"

    bench = Bench(args)
    results = {
        "trials": args.trials, "seed": args.seed, "budget_secs": args.budget, "csv": args.csv,
        "target": args.target, "quick": args.quick, "repeats": args.repeats, "kill_after": args.kill_after,
        "nats_down_s": args.nats_down, "wait_idle": args.wait_idle,
        "configs": args.configs, "recoveries": args.recoveries, "bin": args.bin, "plugins": args.plugins,
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "python": platform.python_version()},
        "started": datetime.datetime.now().isoformat(timespec="seconds"), "load1_start": load1(),
        "throughput": {}, "recovery": {},
    }
    try:
        bench.preflight()
        results["versions"] = bench.versions
        results["plugin_cache_warm_s"] = bench.cache_warm_s
        for cid in args.configs:
            results["throughput"][cid] = bench.throughput(cid)
        baseline = results["throughput"].get("w2s1")
        if baseline and baseline.get("error"):
            baseline = None
        for kind in args.recoveries:
            results["recovery"][kind] = [bench.recovery(kind, i, baseline) for i in range(args.repeats)]
        results["overhead"] = bench.overheads(results["throughput"])
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        results["error"] = str(e)
    finally:
        results["load1_end"] = load1()
        results["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        if args.keep_work:
            results["work_dir"] = str(bench.work)
        bench.cleanup()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=1, default=str))
    if results.get("error") and not results["throughput"]:
        sys.exit(1)
    print(report(results))
    print(f"\nraw numbers: {out_path}")


if __name__ == "__main__":
    main()
