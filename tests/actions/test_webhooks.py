"""Webhook signing, verification, delivery against a real local receiver, and retry spacing."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaga.actions.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    backoff_delay,
    canonical_json,
    deliver,
    sign,
    verify,
    webhook_body,
)
from jaga.errors import InvalidInput

SECRET = b"whsec-test-0123456789"
NOW = 1_700_000_000

secrets = st.binary(min_size=1, max_size=64)
bodies = st.binary(max_size=512)
timestamps = st.integers(min_value=0, max_value=10**11)


# --------------------------------------------------------------------------- sign / verify


@given(secret=secrets, timestamp=timestamps, body=bodies)
def test_signature_round_trip(secret: bytes, timestamp: int, body: bytes) -> None:
    verify(secret, sign(secret, timestamp, body), body, now=timestamp)


@given(secret=secrets, other=secrets, timestamp=timestamps, body=bodies)
def test_other_secret_rejected(secret: bytes, other: bytes, timestamp: int, body: bytes) -> None:
    if other == secret:
        return
    with pytest.raises(WebhookSignatureError):
        verify(other, sign(secret, timestamp, body), body, now=timestamp)


@given(body=bodies, flip=st.integers(min_value=0))
def test_tampered_body_rejected(body: bytes, flip: int) -> None:
    header = sign(SECRET, NOW, body)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
    else:
        tampered = b"x"
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, header, tampered, now=NOW)


def test_tampered_timestamp_rejected() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, NOW, body).replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, header, body, now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_stale_or_future_timestamp_rejected(skew: int) -> None:
    body = b"{}"
    header = sign(SECRET, NOW, body)
    with pytest.raises(WebhookSignatureError, match="more than 300 s"):
        verify(SECRET, header, body, now=NOW + skew)


def test_timestamp_at_tolerance_edge_accepted() -> None:
    body = b"{}"
    verify(SECRET, sign(SECRET, NOW, body), body, now=NOW + 300)
    verify(SECRET, sign(SECRET, NOW, body), body, now=NOW - 300)


def test_rotation_either_secret_verifies_a_doubly_signed_header() -> None:
    old, new = b"old-secret", b"new-secret"
    body = b'{"event":"x"}'
    header = sign([old, new], NOW, body)
    assert header.count("v1=") == 2
    verify(old, header, body, now=NOW)
    verify(new, header, body, now=NOW)
    verify([b"unrelated", new], sign(new, NOW, body), body, now=NOW)  # receiver rotating
    with pytest.raises(WebhookSignatureError):
        verify(b"unrelated", header, body, now=NOW)


def test_unknown_schemes_in_header_ignored_and_uppercase_hex_accepted() -> None:
    body = b"{}"
    t_part, v1_part = sign(SECRET, NOW, body).split(",")
    verify(SECRET, f"{t_part},v0=whatever,{v1_part.upper().replace('V1=', 'v1=')}", body, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=1700000000",  # no v1
        "v1=" + "0" * 64,  # no t
        f"t=abc,v1={'0' * 64}",
        f"t=-5,v1={'0' * 64}",
        f"t=1700000000,t=1700000000,v1={'0' * 64}",
        "t=1700000000,v1=nothex",
        f"t=1700000000,v1={'0' * 63}",
        f"t=1700000000,v1={'0' * 64},junk",
        "t=1700000000," + ",".join(["v1=" + "0" * 64] * 100),  # over the length cap
    ],
)
def test_malformed_headers_rejected(header: str) -> None:
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, header, b"{}", now=NOW)


@given(header=st.text(max_size=300), body=bodies, now=timestamps)
def test_random_headers_only_ever_raise_signature_errors(
    header: str, body: bytes, now: int
) -> None:
    try:
        verify(SECRET, header, body, now=now)
    except WebhookSignatureError:
        return
    pytest.fail(f"accepted a random header {header!r}")


@given(
    header=st.lists(
        st.tuples(
            st.sampled_from(["t", "v1", "v0", "", " t"]),
            st.one_of(
                st.integers(min_value=0, max_value=10**12).map(str),
                st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=66),
                st.text(max_size=10),
            ),
        ),
        max_size=6,
    ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs))
)
def test_structured_random_headers_only_raise_signature_errors(header: str) -> None:
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, header, b"body", now=NOW)


def test_signing_refuses_empty_secret_and_bad_timestamp() -> None:
    with pytest.raises(InvalidInput):
        sign(b"", NOW, b"{}")
    with pytest.raises(InvalidInput):
        sign([], NOW, b"{}")
    with pytest.raises(InvalidInput):
        sign(SECRET, -1, b"{}")


def test_canonical_json_is_sorted_compact_utf8() -> None:
    got = canonical_json({"b": [1, 2], "a": {"z": None, "y": "é"}})
    assert got == '{"a":{"y":"é","z":null},"b":[1,2]}'.encode()


@pytest.mark.parametrize("payload", [{"x": float("nan")}, {"x": object()}, {"x": b"bytes"}])
def test_canonical_json_refuses_non_json(payload: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        canonical_json(payload)


# --------------------------------------------------------------------------- delivery


class _Receiver(BaseHTTPRequestHandler):
    """A platform backend that verifies the signature the way a real receiver would."""

    server: _ReceiverServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.reply_status
        try:
            verify(SECRET, self.headers.get(SIGNATURE_HEADER, ""), body, now=NOW)
        except WebhookSignatureError:
            status = 401
        self.server.received.append((self.path, dict(self.headers.items()), body))
        payload = b"upstream exploded\nwith a multi-line\ttrace" if status >= 400 else b""
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.reply_status = 204
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _Receiver)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/jaga"


@pytest.fixture
def receiver() -> Iterator[_ReceiverServer]:
    server = _ReceiverServer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _deliver(url: str, **kwargs: Any) -> Any:
    return deliver(
        url,
        SECRET,
        "action.created",
        {"action": "block", "content_id": "c-1", "labels": ["A1"]},
        delivery_id="d-42",
        now=lambda: float(NOW),
        **kwargs,
    )


def test_delivery_is_signed_and_verified_by_a_real_receiver(receiver: _ReceiverServer) -> None:
    result = _deliver(receiver.url)
    assert result.ok
    assert result.status == 204
    assert result.error is None
    assert not result.retryable
    assert result.duration_ms >= 0
    [(path, headers, body)] = receiver.received
    assert path == "/hooks/jaga"
    assert headers[DELIVERY_HEADER] == "d-42"
    assert headers[EVENT_HEADER] == "action.created"
    assert headers["Content-Type"] == "application/json"
    payload = {"action": "block", "content_id": "c-1", "labels": ["A1"]}
    assert body == webhook_body("action.created", payload, "d-42")
    assert json.loads(body) == {"data": payload, "event": "action.created", "id": "d-42"}


def test_delivery_with_wrong_secret_is_refused_by_receiver(receiver: _ReceiverServer) -> None:
    result = deliver(
        receiver.url, b"wrong", "e", {}, delivery_id="d", now=lambda: float(NOW)
    )  # 401: a configuration error, not worth retrying
    assert (result.ok, result.status, result.retryable) == (False, 401, False)


def test_delivery_reuses_a_given_client(receiver: _ReceiverServer) -> None:
    import httpx

    with httpx.Client() as client:
        assert _deliver(receiver.url, client=client).ok
        assert _deliver(receiver.url, client=client).ok
        assert not client.is_closed  # not ours to close
    assert len(receiver.received) == 2


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(500, True), (502, True), (503, True), (429, True), (408, True)],
        *[(404, False), (400, False), (410, False), (422, False), (301, False)],
    ],
)
def test_status_classification(receiver: _ReceiverServer, status: int, retryable: bool) -> None:
    receiver.reply_status = status
    result = _deliver(receiver.url)
    assert not result.ok
    assert result.status == status
    assert result.retryable is retryable
    assert result.error is not None
    assert result.error.startswith(f"HTTP {status}")
    assert "\n" not in result.error
    assert len(receiver.received) == 1  # redirects are not followed


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _deliver(f"http://127.0.0.1:{port}/hooks")
    assert (result.ok, result.status, result.retryable) == (False, None, True)
    assert result.error


def test_timeout_is_retryable() -> None:
    with socket.socket() as silent:  # accepts (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        result = _deliver(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.2)
    assert (result.ok, result.retryable) == (False, True)
    assert result.error is not None
    assert "timed out" in result.error


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "not a url", "http://"])
def test_bad_url_is_not_retryable(url: str) -> None:
    result = _deliver(url)
    assert (result.ok, result.retryable) == (False, False)


def test_payload_that_is_not_json_is_an_error_not_a_delivery() -> None:
    with pytest.raises(InvalidInput):
        deliver("http://127.0.0.1:9/", SECRET, "e", {"x": float("inf")}, delivery_id="d")


# --------------------------------------------------------------------------- backoff


def test_backoff_doubles_then_caps() -> None:
    top: Callable[[], float] = lambda: 1.0  # noqa: E731
    got = [backoff_delay(n, jitter=top) for n in range(1, 15)]
    assert got[:5] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert got[-1] == 3600.0
    assert all(b >= a for a, b in itertools.pairwise(got))
    assert backoff_delay(10_000, jitter=top) == 3600.0  # no overflow for huge attempts


def test_backoff_is_full_jitter() -> None:
    assert backoff_delay(3, jitter=lambda: 0.0) == 0.0
    assert backoff_delay(3, jitter=lambda: 0.25) == 2.0
    assert backoff_delay(3, base=1.0, cap=3.0, jitter=lambda: 0.5) == 1.5


@given(
    attempt=st.integers(min_value=1, max_value=10**6),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    cap=st.floats(min_value=0.0, max_value=1e6),
)
def test_backoff_stays_within_zero_and_cap(attempt: int, fraction: float, cap: float) -> None:
    delay = backoff_delay(attempt, cap=cap, jitter=lambda: fraction)
    assert 0.0 <= delay <= cap


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(InvalidInput):
        backoff_delay(0)
