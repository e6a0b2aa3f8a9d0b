"""A real Jaga server for the API tests: uvicorn in a subprocess, on SQLite and on PostgreSQL.

One server per backend for the whole session (starting one costs seconds); tests keep out of
each other's way by naming their own banks and keys. Keys are created straight in the test
database with :func:`jaga.api.keys.create_key`. Media is generated here (smooth random images:
high PDQ quality, and far apart from each other).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from jaga.api.keys import create_key
from jaga.store import open_database

POSTGRES_URL = os.environ.get(
    "JAGA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: Small, so the 413 tests need little data.
MAX_UPLOAD = 1 * 2**20
#: A second loopback address the servers may fetch from (stands in for a public media host).
MEDIA_HOST = "127.0.0.2"
ROLES = ("hasher", "curator", "reviewer", "admin")
START_TIMEOUT_S = 90.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(
            POSTGRES_URL, poolclass=NullPool, connect_args={"connect_timeout": 5}
        )
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # unreachable for any reason
        return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[Callable[[], str]]:
    """Make PostgreSQL schemas (dropped at the end of the session); skip if unreachable."""
    made: list[str] = []
    engine = create_engine(POSTGRES_URL, poolclass=NullPool, connect_args={"connect_timeout": 5})

    def make() -> str:
        problem = _postgres_problem()
        if problem is not None:
            where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
            message = f"PostgreSQL at {where} is unreachable ({problem})"
            if os.environ.get("JAGA_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"{message}; JAGA_REQUIRE_POSTGRES=1 requires it")
            pytest.skip(message)
        schema = f"jaga_api_{uuid.uuid4().hex[:16]}"
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield make
    with engine.begin() as connection:
        for schema in made:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, schemas: Callable[[], str]
) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('apidb') / 'jaga.db'}"
    return schemas()


@dataclass
class Server:
    """One running server process."""

    url: str
    db_url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def server_env(db_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAGA_")}
    env.update(
        {
            "JAGA_HOME": str(home),
            "JAGA_DATABASE_URL": db_url,
            "JAGA_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
            "JAGA_FETCH_ALLOW_NETWORKS": f"{MEDIA_HOST}/32",
            "JAGA_SYNC_INTERVAL_S": "0.2",
            "JAGA_IN_PROCESS_WORKER": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def launch_server(
    db_url: str,
    home: Path,
    *,
    command: list[str] | None = None,
    port: int | None = None,
    **env: str,
) -> Server:
    """Start uvicorn (or ``command``, which must listen on ``port``); see :func:`wait_ready`."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / f"server-{port}.log"
    argv = command or [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "jaga.api.app:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, env=server_env(db_url, home, **env), stdout=sink, stderr=subprocess.STDOUT
        )
    return Server(f"http://127.0.0.1:{port}", db_url, home, process, log)


def wait_ready(server: Server) -> Server:
    """Wait until the server answers ``/v1/status`` (fail with its log if it dies or hangs)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited ({server.process.returncode}):\n{server.log.read_text()[-4000:]}"
            )
        try:
            if httpx.get(f"{server.url}/v1/status", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"server did not start in time:\n{server.log.read_text()[-4000:]}")
        time.sleep(0.1)


def start_server(db_url: str, home: Path, **env: str) -> Server:
    return wait_ready(launch_server(db_url, home, **env))


def make_keys(db_url: str, prefix: str, **rates: float) -> dict[str, str]:
    """One key per role (``<prefix>-<role>``); ``rates`` adds rate-limited keys by name."""
    tokens: dict[str, str] = {}
    with open_database(db_url) as db, db.session() as session:
        for role in ROLES:
            _, tokens[role] = create_key(session, f"{prefix}-{role}", role, actor="test")
        for name, rate in rates.items():
            _, tokens[name] = create_key(
                session, f"{prefix}-{name}", "hasher", rate_limit_per_s=rate, actor="test"
            )
    return tokens


@dataclass
class Api:
    """A running server and a key per role; ``client(role)`` talks to it as that role."""

    server: Server
    tokens: dict[str, str]
    backend: str
    limit: int = MAX_UPLOAD
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def db_url(self) -> str:
        return self.server.db_url

    def client(self, role: str | None = "admin") -> httpx.Client:
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schemas: Callable[[], str],
) -> Iterator[Api]:
    """A server on each backend, shared by every API test of the session."""
    url = database_url(request.param, tmp_path_factory, postgres_schemas)
    tokens = make_keys(url, "t", slow=0.01)
    with open_database(url) as db, db.session() as session:
        from jaga.api.keys import revoke_key

        _, tokens["revoked"] = create_key(session, "t-revoked", "admin", actor="test")
        revoke_key(session, "t-revoked", actor="test")
    server = start_server(url, tmp_path_factory.mktemp("home"))
    handle = Api(server, tokens, request.param)
    try:
        yield handle
    finally:
        handle.close()
        server.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses (banks, content ids), on a server shared by all tests."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


# -- media ---------------------------------------------------------------------------------------


def image_bytes(seed: int, fmt: str = "PNG", size: int = 256) -> bytes:
    """A smooth random image: bilinear-upscaled noise, a high-quality PDQ hash far from others."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    image = Image.fromarray(small, "RGB").resize((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    return image_bytes


def pdq_of(data: bytes) -> str:
    from jaga.signals.hashing import HashOptions, hash_bytes

    hashes = hash_bytes(data, HashOptions(signal_types=("pdq",)))
    return hashes.of_type("pdq")[0].hex


@pytest.fixture
def pdq_hex() -> Callable[[bytes], str]:
    return pdq_of


# -- a media host the servers may fetch from -----------------------------------------------------


@dataclass
class MediaHost:
    """An HTTP server on 127.0.0.2 serving ``files`` and redirects (``redirects[path] = url``),
    each file with its ``content_types[path]`` or ``application/octet-stream``."""

    base: str
    files: dict[str, bytes]
    redirects: dict[str, str]
    content_types: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def media_host() -> Iterator[MediaHost]:
    files: dict[str, bytes] = {}
    redirects: dict[str, str] = {}
    content_types: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            kind = content_types.get(self.path, "application/octet-stream")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((MEDIA_HOST, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://{MEDIA_HOST}:{httpd.server_address[1]}"
        yield MediaHost(base, files, redirects, content_types)
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- raw HTTP, for bodies httpx will not send the way a hostile client does -----------------------


def raw_exchange(url: str, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send a request head and body parts on a plain socket; read until the server closes.

    The client never half-closes: the server must answer while it still expects more body.
    """
    address = httpx.URL(url)
    with socket.create_connection((address.host, address.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        for part in body_parts:
            sock.sendall(part)
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    header_blob, _, payload = bytes(data).partition(b"\r\n\r\n")
    lines = header_blob.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, payload


@pytest.fixture
def raw_http() -> Callable[[str, str, list[bytes]], tuple[int, dict[str, str], bytes]]:
    return raw_exchange


@dataclass(frozen=True)
class Tools:
    """The helpers above, for tests that run servers of their own."""

    launch_server: Callable[..., Server]
    wait_ready: Callable[[Server], Server]
    make_keys: Callable[..., dict[str, str]]
    free_port: Callable[..., int]


@pytest.fixture(scope="session")
def tools() -> Tools:
    return Tools(launch_server, wait_ready, make_keys, free_port)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_db_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schemas: Callable[[], str],
) -> str:
    """An empty database of this test's own, on each backend."""
    return database_url(request.param, tmp_path_factory, postgres_schemas)
