"""The lean lane for POST /v1/match (jaga.api.fastpath) answers exactly as the FastAPI route.

A body sent with chunked encoding always takes the route; the same body with a Content-Length
takes the lean lane. Both must give the same answers, errors included."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx

from jaga.api.sockets import nodelay_on_listeners


def _both(client: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, httpx.Response]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    lean = client.post("/v1/match", content=data, headers=headers)

    def chunks() -> Iterator[bytes]:
        yield data

    full = client.post("/v1/match", content=chunks(), headers=headers)
    return lean, full


def test_both_lanes_give_the_same_answers(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    pdq = pdq_hex(make_image(3001))
    bank = unique("lanes")
    curator = api.client("curator")
    curator.post("/v1/banks", json={"name": bank})
    curator.post(f"/v1/banks/{bank}/entries", json={"signal_type": "pdq", "hash": pdq})
    hasher = api.client("hasher")

    cases: list[dict[str, Any]] = [
        {"signals": [{"signal_type": "pdq", "hash": pdq}], "banks": [bank]},  # a match
        {"signals": [{"signal_type": "pdq", "hash": "0f" * 32}]},  # a miss
        {"signals": [{"signal_type": "pdq", "hash": "abc"}]},  # malformed hash
        {"signals": [{"signal_type": "pdq", "hash": pdq}], "banks": ["nope"]},  # unknown bank
        {"signals": []},  # fails the model
        {"signals": [{"signal_type": "pdq", "hash": pdq}], "extra": 1},  # unknown field
    ]
    for body in cases:
        lean, full = _both(hasher, body)
        assert lean.status_code == full.status_code, body
        left, right = lean.json(), full.json()
        if left.get("matches"):  # each lookup that matched is logged under a row of its own
            assert left.pop("id") != right.pop("id")
        assert left == right, body
        assert lean.headers["content-type"] == full.headers["content-type"] == "application/json"

    anonymous = api.client(None)
    lean, full = _both(anonymous, cases[1])
    assert lean.status_code == full.status_code == 401
    assert lean.json() == full.json()
    assert lean.headers["www-authenticate"] == full.headers["www-authenticate"]


def test_listening_sockets_get_tcp_nodelay() -> None:
    """Worker processes inherit a socket asyncio will not tune; start-up tunes it (see module)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, like uvicorn's
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # bound, listen() comes later
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        bound.bind(("127.0.0.1", 0))
        client.connect(listener.getsockname())
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert nodelay_on_listeners() >= 2
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert bound.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # not a server's
    finally:
        for sock in (listener, bound, client):
            sock.close()


def test_well_formed_lookups_take_the_lean_lane(tmp_path: Any, monkeypatch: Any) -> None:
    """In process (no server): count what the lean lane answers, so the test above compares
    two different lanes, not the route with itself."""
    from jaga.api.app import create_app
    from jaga.api.config import ServiceConfig
    from jaga.api.fastpath import MatchFastPath
    from jaga.api.keys import create_key
    from jaga.store import open_database

    url = f"sqlite:///{tmp_path / 'jaga.db'}"
    with open_database(url) as db, db.session() as session:
        _, token = create_key(session, "lane", "hasher", actor="test")
    answered: list[int] = []
    original = MatchFastPath._answer

    async def counting(self: MatchFastPath, *args: Any) -> None:
        answered.append(1)
        await original(self, *args)

    monkeypatch.setattr(MatchFastPath, "_answer", counting)
    config = ServiceConfig(database_url=url, index_dir=None, in_process_worker=False)
    headers = {"Authorization": f"Bearer {token}"}
    lookup = {"signals": [{"signal_type": "pdq", "hash": "0f" * 32}]}
    app = create_app(config)

    async def exchange() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://jaga") as client,
        ):
            return [
                (await client.post("/v1/match", json=lookup, headers=headers)).status_code,
                (await client.post("/v1/match", json={"signals": []}, headers=headers)).status_code,
                (await client.post("/v1/match", json=lookup)).status_code,  # no key
            ]

    assert anyio.run(exchange) == [200, 422, 401]
    assert answered == [1, 1]  # the malformed body went to the route
