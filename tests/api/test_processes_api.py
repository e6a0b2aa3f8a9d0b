"""Several server processes on one database converge: a change made through one is matched by
the others within seconds (each keeps its own index and follows the change feed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

#: Generous: processes apply the feed every 0.2 s here (1 s by default), on a loaded machine.
CONVERGE_WITHIN_S = 30.0


def _serve(port: int, *extra: str) -> list[str]:
    """``jaga serve`` through its Typer function (what the ``jaga`` command wires in)."""
    code = "import typer; from jaga.commands.serve import serve_command; typer.run(serve_command)"
    return [sys.executable, "-c", code, "--port", str(port), "--no-access-log", *extra]


def _matches(url: str, token: str, pdq: str) -> list[int]:
    response = httpx.post(
        f"{url}/v1/match",
        json={"signals": [{"signal_type": "pdq", "hash": pdq}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [m["entry_id"] for m in response.json()["matches"]]


def _until(check: Callable[[], bool]) -> bool:
    """Poll until ``check()`` holds, or give up after CONVERGE_WITHIN_S."""
    deadline = time.monotonic() + CONVERGE_WITHIN_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_two_servers_on_one_database_converge(
    api: Any, tmp_path: Path, tools: Any, unique: Callable[[str], str]
) -> None:
    """Process A is the shared test server (uvicorn); process B is started with ``jaga serve``
    on the same database, with an index folder of its own."""
    port = tools.free_port()
    b = tools.wait_ready(
        tools.launch_server(api.db_url, tmp_path / "home-b", command=_serve(port), port=port)
    )
    try:
        hasher = api.tokens["hasher"]
        curator = api.client("curator")
        bank = unique("shared")
        pdq = f"{int.from_bytes(bank.encode()[-8:], 'big'):064x}"
        assert _matches(b.url, hasher, pdq) == []

        assert curator.post("/v1/banks", json={"name": bank}).status_code == 201
        added = curator.post(f"/v1/banks/{bank}/entries", json={"signal_type": "pdq", "hash": pdq})
        entry_id = added.json()["entries"][0]["id"]
        assert _matches(api.url, hasher, pdq) == [entry_id]  # at once where it was made
        assert _until(lambda: _matches(b.url, hasher, pdq) == [entry_id])

        # ... and the other way round: removed through B, A stops matching.
        removed = httpx.delete(
            f"{b.url}/v1/banks/{bank}/entries/{entry_id}",
            headers={"Authorization": f"Bearer {api.tokens['curator']}"},
        )
        assert removed.status_code == 200, removed.text
        assert _matches(b.url, hasher, pdq) == []
        assert _until(lambda: _matches(api.url, hasher, pdq) == [])

        # A whole-bank change travels too: disabled through A, B stops matching its entries.
        again = curator.post(f"/v1/banks/{bank}/entries", json={"signal_type": "pdq", "hash": pdq})
        new_id = again.json()["entries"][0]["id"]
        assert _until(lambda: _matches(b.url, hasher, pdq) == [new_id])
        assert curator.patch(f"/v1/banks/{bank}", json={"enabled": False}).status_code == 200
        assert _until(lambda: _matches(b.url, hasher, pdq) == [])
    finally:
        b.stop()
