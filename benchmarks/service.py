"""Benchmark the HTTP service: hash look-ups/s and 1 MP JPEG uploads/s against a 1M-entry bank.

What it does:

1. Builds a bank of N random PDQ hashes (default 1,000,000) through ``jaga.banks.service``
   (bulk inserts, 100,000 a transaction) in a SQLite database, has the matcher build its index
   from the store and save the snapshot, and caches both in ``--workdir`` (later runs reuse them;
   each run works on a copy, so what a run writes never leaks into the next).
2. Starts the service with ``jaga serve``'s own function (:func:`jaga.commands.serve.serve`:
   migrate once, then uvicorn with the app factory and ``--workers`` processes, 2 by default,
   sharing a TCP_NODELAY listening socket) on 127.0.0.1, with an API key of the hasher role;
   every worker opens the index snapshot.
3. Runs a load generator on loopback for ``--duration`` seconds per phase:
   - ``lookups``: ``POST /v1/match`` with one PDQ hash (``--hit-rate`` of them in the bank, the
     rest random), or HMA's ``GET /m/lookup`` when the native route is absent (``--route``);
   - ``uploads``: ``POST /v1/content`` with a 1 MP JPEG as the raw body (hash, match, record);
   - ``floor``: HMA's ``GET /status/live``, the cost of HTTP and the framework alone.
   The generator is a lean one: raw non-blocking sockets, keep-alive, a fixed number of
   connections each with one request in flight (closed loop), in ``--generator-procs``
   processes (``--generator wrk`` uses wrk with a Lua script instead, when it is installed). Its
   own CPU time is measured and reported, as is the server's (from /proc).
4. Prints a table: requests/s, p50/p90/p99/max latency, errors, generator and server CPU.

Diagnosis: ``--profile lookups|uploads`` runs a 1-process server in this process under cProfile
(every thread) for a short load and prints where the time went; ``--breakdown`` measures the CPU
of each layer one request at a time in process (framework floor, a thread-pool hop, the routes,
the index search, h11).

    python benchmarks/service.py --quick              # 100k entries, 10 s phases
    python benchmarks/service.py                      # 1M entries, 60 s phases
    python benchmarks/service.py --profile lookups    # where a look-up's time goes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "corpus"
BANK = "BENCH_PDQ"
TARGETS = {"lookups": (1500.0, 20.0), "uploads": (60.0, None), "floor": (0.0, None)}


# ------------------------------------------------------------------------------------ the bank


def _random_hashes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.frombuffer(rng.bytes(n * 32), dtype=np.uint8).reshape(n, 32)


def _schema_revision() -> str:
    """The newest migration shipped: a cached bank of an older schema is rebuilt, not migrated
    (rebuilding takes about a minute at 1M entries; some migrations take longer)."""
    from alembic.script import ScriptDirectory

    from jaga.store.db import alembic_config

    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def build_bank(workdir: Path, entries: int, seed: int = 7) -> Path:
    """The cached database + index snapshot for ``entries`` hashes (built on first use)."""
    from jaga.banks import service
    from jaga.banks.records import EntryRecord
    from jaga.matching.live import LiveMatcher
    from jaga.store.db import open_database

    cache = workdir / f"bank-{entries}-{_schema_revision()}"
    marker = cache / "ready.json"
    if marker.exists():
        return cache
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    url = f"sqlite:///{cache / 'jaga.db'}"
    hashes = _random_hashes(entries, seed)
    started = time.perf_counter()
    with open_database(url) as db:
        with db.session(immediate=True) as session:
            service.create_bank(session, BANK)
        chunk = 100_000
        for start in range(0, entries, chunk):
            rows = hashes[start : start + chunk]
            records = (EntryRecord("pdq", bytes(row), source="benchmark") for row in rows)
            with db.session(immediate=True) as session:
                service.add_entries(session, BANK, records, source="benchmark")
            print(f"  bank: {min(start + chunk, entries):,} / {entries:,} entries", flush=True)
        inserted = time.perf_counter()
        matcher = LiveMatcher(db, index_dir=cache / "index").open()
        assert matcher.status().entries == entries, matcher.status()
        matcher.checkpoint(force=True)
    built = time.perf_counter()
    marker.write_text(
        json.dumps(
            {
                "entries": entries,
                "seed": seed,
                "insert_s": round(inserted - started, 1),
                "index_s": round(built - inserted, 1),
            }
        )
    )
    print(
        f"  bank built: insert {inserted - started:.1f} s, index + snapshot "
        f"{built - inserted:.1f} s",
        flush=True,
    )
    return cache


def prepare_run(cache: Path, run: Path) -> tuple[str, Path, str]:
    """A copy of the cached database and snapshot, and an API key; (db url, index dir, token)."""
    from jaga.api.keys import create_key
    from jaga.store.db import open_database

    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    for name in ("jaga.db", "jaga.db-wal", "jaga.db-shm"):
        if (cache / name).exists():
            shutil.copy2(cache / name, run / name)
    shutil.copytree(cache / "index", run / "index")
    url = f"sqlite:///{run / 'jaga.db'}"
    with open_database(url) as db, db.session() as session:
        _, token = create_key(
            session, "benchmark", "hasher", rate_limit_per_s=1e9, actor="benchmark"
        )
    return url, run / "index", token


# ------------------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(db_url: str, index_dir: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAGA_")}
    env.update(
        {
            "JAGA_HOME": str(home),
            "JAGA_DATABASE_URL": db_url,
            "JAGA_INDEX_DIR": str(index_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def pids(self) -> list[int]:
        """The master and its worker processes."""
        found = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.process.pid:
                        found.append(int(entry.name))
        return found

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_RUNNER = """
from jaga.commands.serve import serve

serve("127.0.0.1", {port}, workers={workers}, log_level="warning", access_log=False)
"""


def start_server(
    db_url: str,
    index_dir: Path,
    home: Path,
    token: str,
    workers: int,
    entries: int,
) -> Server:
    """``jaga serve --workers N`` itself (its function, in a child process), on a free port."""
    port = _free_port()
    log = home / "server.log"
    code = _RUNNER.format(port=port, workers=workers)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            env=server_env(db_url, index_dir, home),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 300
    ready = 0
    headers = {"Authorization": f"Bearer {token}"}
    while ready < 4 * workers:  # several answers in a row, so every worker has loaded
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"server did not become ready:\n{log.read_text()[-3000:]}")
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/v1/status", headers=headers, timeout=5)
            index = status.json().get("index", {}) if status.status_code == 200 else {}
            ready = ready + 1 if index.get("entries") == entries else 0
        except httpx.HTTPError:
            ready = 0
        time.sleep(0.2)
    return server


def has_route(port: int, path: str) -> bool:
    spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=30).json()
    return path in spec.get("paths", {})


# ------------------------------------------------------------------------------------ requests


def lookup_requests(
    port: int, token: str, route: str, count: int, hit_rate: float, entries: int, seed: int = 7
) -> list[bytes]:
    """``count`` distinct raw HTTP requests: one PDQ hash each, ``hit_rate`` of them banked."""
    rng = random.Random(99)
    hits = _random_hashes(entries, seed)
    misses = _random_hashes(count, 12345)
    out = []
    for i in range(count):
        value = hits[rng.randrange(entries)] if rng.random() < hit_rate else misses[i]
        hex_hash = bytes(value).hex()
        if route == "/v1/match":
            body = json.dumps({"signals": [{"signal_type": "pdq", "hash": hex_hash}]}).encode()
            head = (
                f"POST /v1/match HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            out.append(head.encode() + body)
        else:
            head = (
                f"GET /m/lookup?signal_type=pdq&signal={hex_hash} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            out.append(head.encode())
    return out


def jpeg_images(count: int, pixels: int = 1_000_000) -> tuple[list[bytes], str]:
    """``count`` JPEGs of about ``pixels`` pixels (quality 90): corpus photos resized when the
    shared corpus is there, else smooth synthetic images."""
    from PIL import Image

    files = sorted(CORPUS.glob("*.jpg")) if CORPUS.is_dir() else []
    images = []
    for i in range(count):
        if files:
            image = Image.open(files[i % len(files)]).convert("RGB")
        else:
            rng = np.random.default_rng(i)
            small = rng.integers(0, 256, size=(24, 36, 3), dtype=np.uint8)
            image = Image.fromarray(small, "RGB")
        ratio = image.width / image.height
        height = round(math.sqrt(pixels / ratio))
        image = image.resize((round(height * ratio), height), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    source = f"{len(files)} corpus photos" if files else "synthetic images"
    return images, source


def upload_requests(port: int, token: str, images: Sequence[bytes]) -> list[bytes]:
    out = []
    for i, data in enumerate(images):
        head = (
            f"POST /v1/content?content_id=bench-{i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


# ------------------------------------------------------------------------------------ load


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    first_error: str = ""


_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class _Conn:
    __slots__ = ("buffer", "out", "sock", "started")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out = memoryview(b"")
        self.buffer = bytearray()
        self.started = 0.0


def _generate(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    warmup_s: float,
    duration_s: float,
    start_at: float,
    offset: int,
) -> LoadResult:
    """One generator process: ``connections`` keep-alive sockets, one request in flight each."""
    result = LoadResult()
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conns.append(_Conn(sock))
    while time.time() < start_at:
        time.sleep(0.001)
    cpu_start = time.process_time()
    clock = time.perf_counter
    begin = clock()
    measure_from = begin + warmup_s
    stop_at = measure_from + duration_s
    index = offset
    n_requests = len(requests)

    def send_next(conn: _Conn) -> None:
        nonlocal index
        conn.out = memoryview(requests[index % n_requests])
        index += 1
        conn.buffer.clear()
        conn.started = clock()
        sent = conn.sock.send(conn.out)
        conn.out = conn.out[sent:]
        events = selectors.EVENT_WRITE if conn.out else selectors.EVENT_READ
        selector.modify(conn.sock, events, conn)

    for conn in conns:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        send_next(conn)
    open_conns = len(conns)
    latencies = result.latencies_ms
    while open_conns:
        for key, mask in selector.select(timeout=1.0):
            conn = key.data
            if mask & selectors.EVENT_WRITE:
                sent = conn.sock.send(conn.out)
                conn.out = conn.out[sent:]
                if not conn.out:
                    selector.modify(conn.sock, selectors.EVENT_READ, conn)
                continue
            try:
                chunk = conn.sock.recv(262144)
            except ConnectionError as error:
                chunk = b""
                result.first_error = result.first_error or repr(error)
            if not chunk:
                result.errors += 1
                result.first_error = result.first_error or "connection closed by the server"
                selector.unregister(conn.sock)
                conn.sock.close()
                open_conns -= 1
                continue
            conn.buffer += chunk
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                continue
            found = _LENGTH.search(conn.buffer, 0, end + 2)
            length = int(found.group(1)) if found else 0
            if len(conn.buffer) < end + 4 + length:
                continue
            now = clock()
            status = int(conn.buffer[9:12])
            if now >= measure_from and conn.started >= measure_from:
                latencies.append((now - conn.started) * 1000.0)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status != 200:
                    result.errors += 1
                    if not result.first_error:
                        result.first_error = bytes(conn.buffer[: end + 4 + min(length, 300)])[
                            -400:
                        ].decode("latin-1")
            if now < stop_at:
                send_next(conn)
            else:
                selector.unregister(conn.sock)
                conn.sock.close()
                open_conns -= 1
    result.requests = len(latencies)
    result.seconds = duration_s
    result.cpu_seconds = time.process_time() - cpu_start
    return result


def _generate_in_child(queue: Any, *args: Any) -> None:
    try:
        queue.put(_generate(*args))
    except Exception as error:  # report to the parent rather than hang it
        queue.put(LoadResult(errors=1, first_error=repr(error)))


def run_load(
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int,
    procs: int,
    warmup_s: float,
    duration_s: float,
) -> LoadResult:
    """Closed-loop load from ``procs`` generator processes sharing ``connections``."""
    context = mp.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    children = []
    per_proc = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    for i, count in enumerate(per_proc):
        if count == 0:
            continue
        offset = i * (len(requests) // max(procs, 1))
        args = (port, requests, count, warmup_s, duration_s, start_at, offset)
        child = context.Process(target=_generate_in_child, args=(queue, *args))
        child.start()
        children.append(child)
    total = LoadResult(seconds=duration_s)
    for _ in children:
        part: LoadResult = queue.get(timeout=warmup_s + duration_s + 120)
        total.requests += part.requests
        total.errors += part.errors
        total.latencies_ms.extend(part.latencies_ms)
        total.cpu_seconds += part.cpu_seconds
        for status, count in part.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
        total.first_error = total.first_error or part.first_error
    for child in children:
        child.join(timeout=30)
    return total


def run_wrk(
    port: int, requests: Sequence[bytes], *, connections: int, duration_s: float, workdir: Path
) -> LoadResult:
    """The same load with wrk and a Lua script cycling through the requests (if installed)."""
    script = workdir / "requests.lua"
    bodies = []
    for raw in requests[:2000]:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k: v for k, v in (line.split(": ", 1) for line in lines[1:]) if k != "Host"}
        bodies.append((method, path, headers, body))
    with script.open("w") as out:
        out.write("local reqs = {}\n")
        for method, path, headers, body in bodies:
            pairs = [f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
            header_lua = ", ".join(pairs)
            out.write(
                f"reqs[#reqs + 1] = wrk.format({json.dumps(method)}, {json.dumps(path)}, "
                f"{{{header_lua}}}, {json.dumps(body.decode('latin-1'))})\n"
            )
        out.write(
            "local i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n"
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("JSON {\\"requests\\": %d, \\"errors\\": %d, '
            '\\"p50\\": %f, \\"p90\\": %f, \\"p99\\": %f, \\"max\\": %f}\\n", '
            "summary.requests, summary.errors.status + summary.errors.connect + "
            "summary.errors.read + summary.errors.write + summary.errors.timeout, "
            "latency:percentile(50), latency:percentile(90), latency:percentile(99), "
            "latency.max))\nend\n"
        )
    started = time.process_time()
    before = os.times()
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(duration_s)}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = os.times()
    line = next(x for x in output.splitlines() if x.startswith("JSON "))
    data = json.loads(line[5:])
    result = LoadResult(
        requests=data["requests"],
        errors=data["errors"],
        seconds=duration_s,
        cpu_seconds=(after.children_user - before.children_user)
        + (after.children_system - before.children_system)
        + (time.process_time() - started) * 0,
    )
    # wrk reports percentiles in microseconds; keep them as a four-point "distribution".
    result.latencies_ms = [data[k] / 1000.0 for k in ("p50", "p90", "p99", "max")]
    result.statuses = {0: -1}
    return result


# ------------------------------------------------------------------------------------ report


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class Row:
    phase: str
    route: str
    connections: int
    result: LoadResult
    server_cpu_s: float
    generator: str
    load: float = float("nan")

    def cells(self) -> list[str]:
        r = self.result
        rate = r.requests / r.seconds if r.seconds else 0.0
        if self.generator == "wrk":
            p50, p90, p99, peak = r.latencies_ms
        else:
            lat = r.latencies_ms
            p50, p90, p99, peak = (
                percentile(lat, 50),
                percentile(lat, 90),
                percentile(lat, 99),
                max(lat, default=float("nan")),
            )
        return [
            self.phase,
            self.route,
            str(self.connections),
            f"{rate:,.0f}",
            f"{p50:.1f}",
            f"{p90:.1f}",
            f"{p99:.1f}",
            f"{peak:.1f}",
            str(r.errors),
            f"{100.0 * r.cpu_seconds / r.seconds:.0f}%",
            f"{100.0 * self.server_cpu_s / r.seconds:.0f}%",
            f"{1000.0 * self.server_cpu_s / max(r.requests, 1):.2f}",
            f"{self.load:.1f}",
        ]

    def meets(self) -> str:
        rate_target, p99_target = TARGETS[self.phase]
        r = self.result
        rate = r.requests / r.seconds if r.seconds else 0.0
        p99 = float(self.cells()[6])
        ok = rate >= rate_target and r.errors == 0 and (p99_target is None or p99 <= p99_target)
        want = f">= {rate_target:,.0f}/s" + (f", p99 <= {p99_target:.0f} ms" if p99_target else "")
        return f"{self.phase}: {'MET' if ok else 'MISSED'} ({want}, zero errors)"


HEADER = [
    "phase",
    "route",
    "conns",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "errors",
    "generator CPU",
    "server CPU",
    "server CPU ms/req",
    "load",
]


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "| " + " | ".join(["---", "---"] + ["---:"] * (len(HEADER) - 2)) + " |",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError, IndexError):
        text = Path("/proc/cpuinfo").read_text()
        model = text.split("model name")[1].split(":", 1)[1].split("\n")[0].strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f'"{model}", {os.cpu_count()} logical CPUs, Python {platform.python_version()}, '
        f"load average {load:.1f} at the end"
    )


# ------------------------------------------------------------------------------------ profile


@contextlib.contextmanager
def profiled_threads() -> Iterator[list[Any]]:
    """cProfile every thread (each gets its own profiler); yields the list of profilers."""
    import cProfile

    profilers: list[Any] = []
    lock = threading.Lock()

    def bootstrap(*_args: Any) -> None:
        profiler = cProfile.Profile()
        with lock:
            profilers.append(profiler)
        profiler.enable()  # replaces this hook in this thread

    main = cProfile.Profile()
    profilers.append(main)
    threading.setprofile(bootstrap)
    main.enable()
    try:
        yield profilers
    finally:
        main.disable()
        threading.setprofile(None)


def _family(filename: str) -> str:
    for key, name in (
        ("/jaga/index/", "jaga.index (search)"),
        ("/jaga/matching/", "jaga.matching"),
        ("/jaga/signals/", "jaga.signals (hashing)"),
        ("/jaga/media/", "jaga.media (decoding)"),
        ("/jaga/api/", "jaga.api (routes, auth)"),
        ("/jaga/", "jaga (other)"),
        ("/uvicorn/", "uvicorn"),
        ("/h11/", "h11 (HTTP parsing)"),
        ("/starlette/", "starlette"),
        ("/fastapi/", "fastapi"),
        ("/pydantic", "pydantic"),
        ("/sqlalchemy/", "sqlalchemy"),
        ("/anyio/", "anyio (thread hand-off)"),
        ("/asyncio/", "asyncio (event loop)"),
        ("/PIL/", "Pillow"),
        ("/json/", "json"),
    ):
        if key in filename:
            return name
    if filename.startswith("~") or filename == "":
        return "builtins (C)"
    return "other"


_WAITS = ("acquire' of '_thread.lock", "'poll' of", "'select' of", "time.sleep", "'control' of")


def _is_wait(name: str) -> bool:
    """Functions whose own time is idle waiting, not work (a thread-pool worker's queue get)."""
    return any(w in name for w in _WAITS)


def profile_phase(args: argparse.Namespace, cache: Path) -> None:
    """A 1-process server in this process, under cProfile, for a short load."""
    import pstats

    import uvicorn

    from jaga.api.app import create_app
    from jaga.api.config import load_config

    run = args.workdir / "profile"
    db_url, index_dir, token = prepare_run(cache, run)
    config = load_config(
        env={"JAGA_DATABASE_URL": db_url, "JAGA_INDEX_DIR": str(index_dir), "JAGA_HOME": str(run)}
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
    )
    with profiled_threads() as profilers:
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        if args.profile == "lookups":
            route = "/v1/match" if has_route(port, "/v1/match") else "/m/lookup"
            requests = lookup_requests(port, token, route, 4096, args.hit_rate, args.entries)
            conns = args.lookup_connections
        else:
            route = "/v1/content"
            images, _ = jpeg_images(16)
            requests = upload_requests(port, token, images)
            conns = args.upload_connections
        result = run_load(
            port, requests, connections=conns, procs=1, warmup_s=1.0, duration_s=args.duration
        )
        server.should_exit = True
        thread.join(timeout=30)
    stats = pstats.Stats(*profilers)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    waiting = 0.0
    families: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        if _is_wait(name):
            waiting += tt
            continue
        families[_family(filename)] = families.get(_family(filename), 0.0) + tt
    total = sum(families.values())
    print(
        f"\nprofile of {args.profile} ({route}): {result.requests} requests in "
        f"{args.duration:.0f} s ({result.requests / args.duration:,.0f}/s with the profiler on); "
        f"{1e6 * total / max(result.requests, 1):,.0f} us of profiled CPU per request "
        f"(all threads; {waiting:.1f} s spent waiting on locks and sockets left out)"
    )
    print("\n| where (own time) | share | us/request |\n| --- | ---: | ---: |")
    for name, seconds in sorted(families.items(), key=lambda kv: -kv[1]):
        print(
            f"| {name} | {100 * seconds / total:.1f}% | "
            f"{1e6 * seconds / max(result.requests, 1):,.0f} |"
        )
    print("\nTop functions by own time:")
    stats.sort_stats("tottime").print_stats(30)
    if os.environ.get("JAGA_BENCH_CALLERS"):
        stats.print_callers(os.environ["JAGA_BENCH_CALLERS"])


# ------------------------------------------------------------------------------------ breakdown


async def _asgi_call(
    app: Any, method: str, path: str, query: bytes, headers: list[Any], body: bytes
) -> int:
    """One request straight into the ASGI app (no socket, no HTTP parsing); returns the status."""
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return status


def breakdown(args: argparse.Namespace, cache: Path) -> None:
    """CPU per request of each layer, one request at a time in this process (little noise)."""
    import asyncio

    import h11

    from jaga.api.app import create_app
    from jaga.api.config import load_config
    from jaga.signals.base import Signal
    from jaga.signals.hashing import hash_bytes

    run = args.workdir / "breakdown"
    db_url, index_dir, token = prepare_run(cache, run)
    config = load_config(
        env={
            "JAGA_DATABASE_URL": db_url,
            "JAGA_INDEX_DIR": str(index_dir),
            "JAGA_HOME": str(run),
            "JAGA_IN_PROCESS_WORKER": "0",
        }
    )
    app = create_app(config)
    n = 2000
    misses = _random_hashes(n, 4242)
    auth = [(b"authorization", f"Bearer {token}".encode())]
    rows: list[tuple[str, float]] = []

    def timed(label: str, work: Any) -> None:
        work(0)  # warm up
        started = time.process_time()
        for i in range(1, n):
            work(i)
        rows.append((label, 1e6 * (time.process_time() - started) / (n - 1)))

    async def in_app() -> None:
        async with app.router.lifespan_context(app):
            service = app.state.jaga
            loop = asyncio.get_running_loop()

            def call(method: str, path: str, query: bytes, headers: list[Any], body: bytes) -> Any:
                async def one() -> None:
                    status = await _asgi_call(app, method, path, query, headers, body)
                    assert status == 200, (path, status)

                return one

            async def measure(label: str, make: Any) -> None:
                await make(0)()
                started = time.process_time()
                for i in range(1, n):
                    await make(i)()
                rows.append((label, 1e6 * (time.process_time() - started) / (n - 1)))

            await measure(
                "ASGI: /status/live (framework floor, no key)",
                lambda i: call("GET", "/status/live", b"", [], b""),
            )
            await measure(
                "ASGI: /v1/status (framework + a thread-pool hop)",
                lambda i: call("GET", "/v1/status", b"", [], b""),
            )
            for path in ("/v1/match", "/m/lookup"):
                if path == "/v1/match":

                    def make(i: int, path: str = path) -> Any:
                        body = json.dumps(
                            {"signals": [{"signal_type": "pdq", "hash": bytes(misses[i]).hex()}]}
                        ).encode()
                        headers = [
                            *auth,
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ]
                        return call("POST", path, b"", headers, body)
                else:

                    def make(i: int, path: str = path) -> Any:
                        query = f"signal_type=pdq&signal={bytes(misses[i]).hex()}".encode()
                        return call("GET", path, query, auth, b"")

                await measure(f"ASGI: {path} (one PDQ hash, no match)", make)
            await loop.run_in_executor(None, lambda: None)
            timed(
                "matcher.match alone (one PDQ hash)",
                lambda i: service.matcher.match([Signal("pdq", bytes(misses[i]))]),
            )
            if "uploads" in args.phases:
                images, _ = jpeg_images(16)

                def upload(i: int) -> Any:
                    data = images[i % len(images)]
                    headers = [
                        *auth,
                        (b"content-type", b"image/jpeg"),
                        (b"content-length", str(len(data)).encode()),
                    ]
                    return call("POST", "/v1/content", f"content_id=b{i}".encode(), headers, data)

                nonlocal_n = n
                uploads = min(nonlocal_n, 200)
                started = time.process_time()
                for i in range(uploads):
                    await upload(i)()
                rows.append(
                    (
                        "ASGI: /v1/content (1 MP JPEG: hash, match, record)",
                        1e6 * (time.process_time() - started) / uploads,
                    )
                )
                started = time.process_time()
                for i in range(uploads):
                    hash_bytes(images[i % len(images)], service.hash_options)
                rows.append(
                    (
                        "hash_bytes alone (1 MP JPEG, the service's options)",
                        1e6 * (time.process_time() - started) / uploads,
                    )
                )

    asyncio.run(in_app())

    raw = (
        b"POST /v1/match HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 97\r\n\r\n"
        + b"x" * 97
    )

    def h11_round(_i: int) -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(raw)
        while True:
            event = conn.next_event()
            if isinstance(event, h11.EndOfMessage) or event is h11.NEED_DATA:
                break
        conn.send(
            h11.Response(
                status_code=200,
                headers=[("content-type", "application/json"), ("content-length", "80")],
            )
        )
        conn.send(h11.Data(data=b"x" * 80))
        conn.send(h11.EndOfMessage())

    timed("h11: parse a request, write a response", h11_round)
    print(f"\nCPU per request, one at a time, in one process ({args.entries:,}-entry bank):\n")
    print("| layer | us CPU / request |\n| --- | ---: |")
    for label, micros in rows:
        print(f"| {label} | {micros:,.0f} |")


# ------------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
    parser.add_argument("--quick", action="store_true", help="100k entries, 10 s phases")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lookup-connections", type=int, default=8)
    parser.add_argument("--upload-connections", type=int, default=4)
    parser.add_argument("--generator-procs", type=int, default=1)
    parser.add_argument("--generator", choices=["python", "wrk"], default="python")
    parser.add_argument("--hit-rate", type=float, default=0.01, help="share of banked hashes")
    parser.add_argument("--route", choices=["auto", "/v1/match", "/m/lookup"], default="auto")
    parser.add_argument(
        "--phases",
        default="lookups,uploads",
        help="comma-separated: lookups, uploads, floor (HMA's /status/live: the cost of HTTP "
        "and the framework alone, for comparison)",
    )
    parser.add_argument("--profile", choices=["lookups", "uploads"])
    parser.add_argument(
        "--breakdown", action="store_true", help="CPU per request of each layer, in process"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("JAGA_BENCH_DIR", Path.home() / ".cache" / "jaga-bench")),
        help="where the built bank is cached between runs",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries = min(args.entries, 100_000)
        args.duration = min(args.duration, 10.0)
    args.workdir = args.workdir.expanduser().resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.generator == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed; use --generator python")

    print(f"bank of {args.entries:,} PDQ hashes in {args.workdir}", flush=True)
    cache = build_bank(args.workdir, args.entries)
    if args.profile:
        profile_phase(args, cache)
        return 0
    if args.breakdown:
        breakdown(args, cache)
        return 0

    run = args.workdir / "run"
    db_url, index_dir, token = prepare_run(cache, run)
    started = time.perf_counter()
    server = start_server(db_url, index_dir, run, token, args.workers, args.entries)
    print(
        f"server up ({args.workers} workers, {args.entries:,} entries) in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    rows: list[Row] = []
    notes: list[str] = []
    try:
        for phase in [p.strip() for p in args.phases.split(",") if p.strip()]:
            if phase == "lookups":
                route = args.route
                if route == "auto":
                    route = "/v1/match" if has_route(server.port, "/v1/match") else "/m/lookup"
                    if route != "/v1/match":
                        notes.append("/v1/match is not there: look-ups used HMA's /m/lookup")
                requests = lookup_requests(
                    server.port, token, route, 8192, args.hit_rate, args.entries
                )
                conns = args.lookup_connections
            elif phase == "floor":
                route = "/status/live"
                head = f"GET /status/live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n"
                requests = [head.encode()]
                conns = args.lookup_connections
            elif phase == "uploads":
                route = "/v1/content"
                images, source = jpeg_images(16)
                sizes = [len(i) for i in images]
                notes.append(
                    f"uploads: 16 JPEGs of about 1 MP from {source}, quality 90, "
                    f"{min(sizes) // 1024}-{max(sizes) // 1024} KiB, sent as the raw body"
                )
                requests = upload_requests(server.port, token, images)
                conns = args.upload_connections
            else:
                parser.error(f"unknown phase {phase!r}")
            cpu_before = server.cpu_seconds()
            if args.generator == "wrk":
                result = run_wrk(
                    server.port,
                    requests,
                    connections=conns,
                    duration_s=args.duration,
                    workdir=run,
                )
            else:
                result = run_load(
                    server.port,
                    requests,
                    connections=conns,
                    procs=args.generator_procs,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                )
            server_cpu = server.cpu_seconds() - cpu_before
            # The server's CPU over the phase includes the warm-up: scale to the measured part.
            server_cpu *= args.duration / (args.duration + args.warmup)
            load = os.getloadavg()[0]  # 1-min average at the end: other work on the machine
            row = Row(phase, route, conns, result, server_cpu, args.generator, load)
            rows.append(row)
            print(markdown([row]).splitlines()[-1], flush=True)
            if result.first_error:
                print(f"  first error: {result.first_error[:300]!r}", flush=True)
    finally:
        server.stop()
    print()
    print(f"Machine: {machine()}")
    print(
        f"Bank: {args.entries:,} random PDQ hashes, SQLite, index from its snapshot; "
        f"{args.workers} server workers; look-ups hit the bank {100 * args.hit_rate:.0f}% of "
        f"the time; {args.duration:.0f} s per phase after {args.warmup:.0f} s of warm-up."
    )
    generator = (
        "wrk"
        if args.generator == "wrk"
        else (f"Python raw-socket keep-alive generator, {args.generator_procs} process(es)")
    )
    print(f"Load generator: {generator}; closed loop, one request in flight per connection.")
    print(f"Server: jaga.commands.serve.serve (what `jaga serve --workers {args.workers}` runs).")
    for note in notes:
        print(f"Note: {note}")
    print()
    table = markdown(rows)
    print(table)
    print()
    for row in rows:
        print(row.meets())
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
