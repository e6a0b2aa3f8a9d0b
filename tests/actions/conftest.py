"""A real webhook receiver on localhost, and helpers that put content and actions in a store.

The receiver behaves like a careful platform backend: it verifies every signature with
:func:`jaga.actions.webhooks.verify`, applies each delivery id's effect once (a retry with
the same id is acknowledged but does nothing), and can be told to fail or to hang.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jaga.actions.outbox import ActionContext, enqueue
from jaga.actions.rules import MatchFacts, PlannedAction
from jaga.actions.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    verify,
)
from jaga.matching.log import ContentContext, record_content
from jaga.store import Database

SECRET = "whsec-receiver-secret-0123456789"


@dataclass
class Receiver:
    url: str
    secret: bytes
    #: Status to answer for the n-th request (1-based); 200 by default.
    status_for: Callable[[int], int] = lambda n: 200
    #: Delivery ids whose request hangs (after its effect is applied) until ``release`` is set.
    hold_ids: set[str] = field(default_factory=set)
    hold_first: int = 0  # or: hang the n-th request
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    effects: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: Any, body: bytes) -> int:
        try:
            verify(self.secret, headers.get(SIGNATURE_HEADER, ""), body)
        except WebhookSignatureError:
            with self.lock:
                self.bad_signatures += 1
            return 401
        envelope = json.loads(body)
        delivery = envelope["id"]
        assert headers.get(DELIVERY_HEADER) == delivery
        assert headers.get(EVENT_HEADER) == envelope["event"]
        with self.lock:
            self.requests.append(envelope)
            number = len(self.requests)
            self.seen[delivery] += 1
            status = self.status_for(number)
            if 200 <= status < 300 and delivery not in self.effects:
                self.effects[delivery] += 1  # the side effect, once per delivery id
            hold = delivery in self.hold_ids or number == self.hold_first
        if hold:
            self.reached.set()
            self.release.wait(60)
        return status


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.handle(self.headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender died while we were answering (the crash test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver("", b"")))
    rec = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", SECRET.encode())
    server.RequestHandlerClass = _handler(rec)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


FACT = MatchFacts("ncmec", "known", ("A1",), "pdq", 3, 42)


def _add_content(
    database: Database,
    planned: Sequence[PlannedAction] = (),
    *,
    uploader: str | None = "user-7",
    group_id: str | None = "group-3",
    external_id: str = "upload-1",
) -> tuple[int, list[int]]:
    """A content row and its planned actions, in one transaction like the upload path."""
    with database.session() as session:
        content = record_content(
            session, ContentContext(external_id, uploader=uploader, group_id=group_id), []
        )
        context = ActionContext(
            content.id, external_id, uploader, group_id, "block", (FACT,)
        ).as_json()
        ids = enqueue(session, content_id=content.id, planned=planned, context=context)
    return content.id, ids


def _planned(type_: str, rule: str = "r", **params: object) -> PlannedAction:
    target = str(params["url"]) if type_ == "webhook" else "content"
    return PlannedAction(type_, rule, dict(params), f"rule {rule!r}: test", target)


def _webhook(url: str, secret_env: str = "HOOK_SECRET", event: str = "match") -> PlannedAction:
    return _planned("webhook", url=url, secret_env=secret_env, event=event)


AddContent = Callable[..., tuple[int, list[int]]]
Plan = Callable[..., PlannedAction]


@pytest.fixture(scope="session")
def add_content() -> AddContent:
    return _add_content


@pytest.fixture(scope="session")
def plan() -> Plan:
    return _planned


@pytest.fixture(scope="session")
def hook() -> Callable[..., PlannedAction]:
    return _webhook
