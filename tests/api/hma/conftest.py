"""Real Jaga servers for the HMA-compatibility tests, generated media, and the fixture replayer.

Servers are uvicorn running ``create_app(config)`` in a thread on a free port (JAGA_HOME-style
data under a temporary folder): ``hma_open`` answers keyless requests with the ``curator`` role on
the HMA routes (how an unchanged HMA client talks to Jaga), ``hma_keyed`` requires a key. Both may
fetch URLs from 127.0.0.2 only, where ``hma_media`` serves the generated media; 127.0.0.1 stays a
private address they must refuse.

The recorded exchanges in ``fixtures/*.json`` were written from HMA's source (its blueprints,
schemas and tests): each is a request and the response HMA gives. ``replay`` sends them to a
server and checks status and body. In expected bodies, strings may be tokens: ``"<int>"``,
``"<str>"``, ``"<any>"``, ``"<capture:NAME>"`` (anything; remembered as NAME),
``"<prefix:TEXT>"`` (a string starting with TEXT) and ``"{{NAME}}"`` (a variable, which may also
appear inside longer strings and in requests).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import ipaddress
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from jaga.api.app import create_app
from jaga.api.config import ServiceConfig
from jaga.api.keys import create_key
from jaga.store import open_database

FIXTURES = Path(__file__).parent / "fixtures"
MEDIA_HOST = "127.0.0.2"
ROLES = ("hasher", "curator", "reviewer", "admin")
_VAR = re.compile(r"\{\{([A-Za-z0-9_.]+)\}\}")


# -- media ---------------------------------------------------------------------------------------


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def checkerboard(cell: int, size: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    grey = (((x // cell + y // cell) % 2) * 255).astype(np.uint8)
    return np.stack([grey] * 3, axis=-1)


def rings() -> np.ndarray:
    y, x = np.mgrid[0:200, 0:300]
    level = ((np.sin(np.hypot(x - 150, y - 100) / 6.0) + 1) * 127.5).astype(np.uint8)
    return np.stack([level, 255 - level, (x % 256).astype(np.uint8)], axis=-1)


def clip_mp4(frames: int = 20, rate: int = 10) -> bytes:
    """A 2 s video of a sliding checkerboard: textured frames, so vPDQ quality is high."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 128, 128, "yuv420p"
        board = checkerboard(16, 160)
        for index in range(frames):
            pixels = np.ascontiguousarray(board[index : index + 128, index : index + 128])
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def generate_media() -> dict[str, bytes]:
    """Every file the fixtures name. PNG keeps pixels exact, so PDQ hashes can be recorded."""
    return {
        "checker8.png": _png(checkerboard(8)),
        "checker16.png": _png(checkerboard(16)),
        "rings.png": _png(rings()),
        "flat.png": _png(np.full((64, 64, 3), 128, np.uint8)),
        "clip.mp4": clip_mp4(),
        "text.txt": b"not media at all\n",
    }


@pytest.fixture(scope="session")
def media() -> dict[str, bytes]:
    return generate_media()


@dataclass
class HmaMedia:
    """Where the generated media are served (``base``), and the files by name."""

    base: str
    files: dict[str, bytes]


@pytest.fixture(scope="session")
def hma_media(media: dict[str, bytes], media_host: Any) -> HmaMedia:
    """The generated media over HTTP on 127.0.0.2 (a stand-in for a public media host), with
    the Content-Type a media server would give them: tests/api's ``media_host`` serves them."""
    types = {".png": "image/png", ".mp4": "video/mp4", ".txt": "text/plain"}
    for name, body in media.items():
        media_host.files[f"/{name}"] = body
        media_host.content_types[f"/{name}"] = types[Path(name).suffix]
    return HmaMedia(media_host.base, media)


# -- servers -------------------------------------------------------------------------------------


@dataclass
class HmaServer:
    """A uvicorn server running in a thread, and an API key per role on its database."""

    url: str
    config: ServiceConfig
    tokens: dict[str, str]
    server: uvicorn.Server
    thread: threading.Thread
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: str | None = None) -> httpx.Client:
        """A client with the role's key, or without any key (as HMA clients are)."""
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.clients.append(client)
        return client

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(config: ServiceConfig) -> HmaServer:
    """Create keys, start ``create_app(config)`` under uvicorn and wait until it answers."""
    tokens: dict[str, str] = {}
    with open_database(config.database_url) as db, db.session() as session:
        for role in ROLES:
            _, tokens[role] = create_key(session, f"hma-{role}", role, actor="test")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return HmaServer(f"http://127.0.0.1:{port}", config, tokens, server, thread)


def server_config(db_url: str, home: Path, **changes: Any) -> ServiceConfig:
    base = ServiceConfig(
        database_url=db_url,
        index_dir=home / "index",
        fetch_allow_networks=(ipaddress.ip_network(f"{MEDIA_HOST}/32"),),
        sync_interval_s=0.2,
        in_process_worker=False,
        max_upload_bytes=2 * 2**20,
    )
    return replace(base, **changes)


@pytest.fixture
def start_hma_server() -> Callable[..., HmaServer]:
    """``start_hma_server(db_url, home, **config_changes)``; the caller stops it."""

    def start(db_url: str, home: Path, **changes: Any) -> HmaServer:
        return start_server(server_config(db_url, home, **changes))

    return start


@pytest.fixture(scope="session")
def hma_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HmaServer]:
    """Keyless requests to the HMA routes get the curator role (``hma_anonymous_role``)."""
    home = tmp_path_factory.mktemp("hma-open")
    config = server_config(f"sqlite:///{home / 'jaga.db'}", home, hma_anonymous_role="curator")
    server = start_server(config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hma_keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HmaServer]:
    """No anonymous role: every HMA route but /status needs a key."""
    home = tmp_path_factory.mktemp("hma-keyed")
    server = start_server(server_config(f"sqlite:///{home / 'jaga.db'}", home))
    try:
        yield server
    finally:
        server.stop()


# -- replaying recorded exchanges ------------------------------------------------------------------


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def media_variables(host: HmaMedia) -> dict[str, Any]:
    """Variables the fixtures use: the media host, and digests of the generated files (MD5s of
    PNG and MP4 bytes depend on the encoder build, so they are not recorded)."""
    values: dict[str, Any] = {
        "media_host": host.base,
        "ts.next_year": int(time.time()) + 365 * 24 * 3600,
    }
    for name, data in host.files.items():
        stem = name.split(".")[0]
        values[f"md5.{stem}"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return values


def _substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return variables[whole.group(1)]
        return _VAR.sub(lambda m: str(variables[m.group(1)]), value)
    return value


def _mismatch(expected: Any, actual: Any, variables: dict[str, Any], where: str) -> str | None:
    """Why ``actual`` does not fit ``expected`` (None if it does); captures into variables."""
    if isinstance(expected, str):
        if expected == "<any>":
            return None
        if expected == "<int>":
            ok = isinstance(actual, int) and not isinstance(actual, bool)
            return None if ok else f"{where}: expected an integer, got {actual!r}"
        if expected == "<str>":
            return (
                None if isinstance(actual, str) else f"{where}: expected a string, got {actual!r}"
            )
        if expected.startswith("<capture:") and expected.endswith(">"):
            variables[expected[9:-1]] = actual
            return None
        if expected.startswith("<prefix:") and expected.endswith(">"):
            prefix = _substitute(expected[8:-1], variables)
            if isinstance(actual, str) and actual.startswith(prefix):
                return None
            return f"{where}: expected a string starting {prefix!r}, got {actual!r}"
        expected = _substitute(expected, variables)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return f"{where}: expected keys {sorted(expected)}, got {actual!r}"
        for key, value in expected.items():
            problem = _mismatch(value, actual[key], variables, f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return f"{where}: expected {len(expected)} items, got {actual!r}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problem = _mismatch(want, got, variables, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if expected != actual or type(expected) is not type(actual):
        if isinstance(expected, float) and isinstance(actual, int | float):
            return None if expected == actual else f"{where}: expected {expected!r}, got {actual!r}"
        return f"{where}: expected {expected!r}, got {actual!r}"
    return None


def send(
    client: httpx.Client, request: Mapping[str, Any], variables: Mapping[str, Any], media: Any
) -> httpx.Response:
    """Send one recorded request (files name generated media)."""
    request = _substitute(dict(request), variables)
    files = None
    if "files" in request:
        files = [
            (field_name, (file_name, media[file_name], "application/octet-stream"))
            for field_name, file_name in request["files"]
        ]
    return client.request(
        request["method"],
        request["path"],
        params=request.get("query"),
        json=request.get("json"),
        content=request.get("body"),
        data=request.get("form"),
        files=files,
        headers=request.get("headers"),
    )


def replay(
    client: httpx.Client,
    fixture: Mapping[str, Any],
    variables: dict[str, Any],
    media: Mapping[str, bytes],
) -> int:
    """Send every exchange of a fixture in order; fail on the first response that differs."""
    for number, exchange in enumerate(fixture["exchanges"], start=1):
        response = send(client, exchange["request"], variables, media)
        expected = exchange["response"]
        label = f"exchange {number} ({exchange.get('name', '')})"
        assert response.status_code == expected["status"], (
            f"{label}: status {response.status_code}, expected {expected['status']}: "
            f"{response.text[:500]}"
        )
        if "json" in expected:
            problem = _mismatch(expected["json"], response.json(), variables, "body")
            assert problem is None, f"{label}: {problem}"
        if "text" in expected:
            assert response.text == expected["text"], f"{label}: body {response.text!r}"
    return len(fixture["exchanges"])


def reset_banks(client: httpx.Client) -> None:
    """Delete every bank, so a fixture starts from an empty server (content ids keep growing)."""
    for bank in client.get("/c/banks").json():
        assert client.delete(f"/c/bank/{bank['name']}").status_code == 200


@pytest.fixture
def replay_fixture(
    hma_media: HmaMedia,
) -> Callable[[httpx.Client, str], dict[str, Any]]:
    """``replay_fixture(client, "banks.json")`` empties the server and replays that fixture."""

    def run(client: httpx.Client, name: str) -> dict[str, Any]:
        reset_banks(client)
        variables = media_variables(hma_media)
        replay(client, load_fixture(name), variables, hma_media.files)
        return variables

    return run
