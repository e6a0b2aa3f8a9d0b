"""Signed webhooks: how Jaga tells a platform's backend about decisions.

Each delivery is one ``POST`` of canonical JSON (sorted keys, no spaces, UTF-8) so a receiver
can verify the exact bytes it got::

    {"data":{...payload...},"event":"action.created","id":"<delivery id>"}

The event type and delivery id are inside the signed body, not only in the ``Jaga-Event`` and
``Jaga-Delivery`` headers (which are there for routing and de-duplication without parsing):
headers are not signed, so a receiver must trust the body's copy. The ``Jaga-Signature``
header is ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``; during a secret rotation
the sender signs with both secrets and the header carries one ``v1=`` per secret, so receivers
holding either secret accept it. The timestamp bounds replay (``tolerance_s``); receivers should
also drop delivery ids they have already processed, since a retry re-sends the same id.

Receiver example (any framework)::

    verify(secret, request.headers["Jaga-Signature"], raw_body)   # raises WebhookSignatureError

Why there is no SSRF check here, unlike :mod:`jaga.api.url_fetch`: a webhook URL is configured
by the operator for their own platform, and that backend is usually on a private network (that
is the point). Users of the API cannot choose it. The check that matters is who may configure
webhooks, which is an admin permission, not an address filter. Redirects are not followed, so a
compromised receiver cannot bounce the signed body somewhere else.

Retry classification, for the outbox: 2xx is delivered; 408, 429, 5xx, connection errors and
timeouts are worth retrying (the receiver is down or busy); other 4xx (and 3xx) mean the
request itself is wrong and retrying will not help. :func:`backoff_delay` spaces retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from jaga.errors import InvalidInput, JagaError

SIGNATURE_HEADER = "Jaga-Signature"
DELIVERY_HEADER = "Jaga-Delivery"
EVENT_HEADER = "Jaga-Event"
USER_AGENT = "Jaga-Webhooks/0.1"

_MAX_HEADER_LENGTH = 4096  # a header longer than this is not ours; don't spend time on it
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_ERROR_BODY_CHARS = 200


class WebhookSignatureError(JagaError):
    """A signature header is missing, malformed, too old or too new, or matches no secret."""


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt did. ``retryable`` is only meaningful when ``ok`` is False."""

    ok: bool
    status: int | None
    error: str | None
    duration_ms: float
    retryable: bool


def canonical_json(value: Mapping[str, object]) -> bytes:
    """Bytes a receiver can verify byte for byte: sorted keys, compact, UTF-8, no NaN."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"webhook payload is not plain JSON: {exc}") from None
    return text.encode("utf-8")


def webhook_body(event: str, payload: Mapping[str, object], delivery_id: str) -> bytes:
    """The exact bytes :func:`deliver` posts (see the module docstring for the envelope)."""
    return canonical_json({"data": payload, "event": event, "id": delivery_id})


def _secrets(secret: bytes | Sequence[bytes]) -> list[bytes]:
    secrets = [secret] if isinstance(secret, bytes) else list(secret)
    if not secrets or any(not isinstance(s, bytes) or not s for s in secrets):
        raise InvalidInput("webhook secrets must be non-empty bytes")
    return secrets


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret: bytes | Sequence[bytes], timestamp: int, body: bytes) -> str:
    """The ``Jaga-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds).

    Pass several secrets while rotating: one ``v1=`` is emitted per secret, in order.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise InvalidInput(f"webhook timestamp must be a non-negative int, got {timestamp!r}")
    parts = [f"t={timestamp}"]
    parts += [f"v1={_mac(s, timestamp, body)}" for s in _secrets(secret)]
    return ",".join(parts)


def _parse_header(header: str) -> tuple[int, list[str]]:
    if not isinstance(header, str) or not header:
        raise WebhookSignatureError("missing webhook signature header")
    if len(header) > _MAX_HEADER_LENGTH:
        raise WebhookSignatureError("webhook signature header is too long")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise WebhookSignatureError("malformed webhook signature header (expected k=v pairs)")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _HEX_SHA256.fullmatch(value):
                raise WebhookSignatureError("malformed v1 signature (expected 64 hex digits)")
            signatures.append(value.lower())
        # other keys (future schemes) are ignored, as receivers of signed webhooks usually do
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise WebhookSignatureError("webhook signature header needs exactly one numeric t=")
    if not signatures:
        raise WebhookSignatureError("webhook signature header has no v1= signature")
    return int(timestamps[0]), signatures


def verify(
    secret: bytes | Sequence[bytes],
    header: str,
    body: bytes,
    *,
    now: int | None = None,
    tolerance_s: int = 300,
) -> None:
    """Accept ``body`` if ``header`` carries a fresh signature by (any of) ``secret``.

    Raises WebhookSignatureError otherwise. Comparisons are constant-time and every candidate
    is compared (no early exit that would time which one matched). ``now`` defaults to the
    clock; a timestamp more than ``tolerance_s`` away from it, either way, is refused.
    """
    secrets = _secrets(secret)
    timestamp, signatures = _parse_header(header)
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureError(
            f"webhook timestamp {timestamp} is more than {tolerance_s} s from now ({current})"
        )
    expected = [_mac(s, timestamp, body).encode("ascii") for s in secrets]
    matched = False
    for candidate in signatures:
        for mac in expected:
            matched |= hmac.compare_digest(candidate.encode("ascii"), mac)
    if not matched:
        raise WebhookSignatureError("webhook signature does not match the body")


def is_retryable_status(status: int) -> bool:
    """408 (timeout), 429 (slow down) and 5xx are transient; other statuses will not change."""
    return status in (408, 429) or 500 <= status <= 599


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _read_some(response: httpx.Response) -> str:
    """The start of an error body, for the delivery log; never the whole (maybe huge) body."""
    taken = bytearray()
    try:
        for chunk in response.iter_bytes():
            taken += chunk
            if len(taken) >= _ERROR_BODY_CHARS:
                break
    except httpx.HTTPError:
        pass  # the status is what counts; a broken error body adds nothing
    text = taken[:_ERROR_BODY_CHARS].decode("utf-8", "replace")
    return " ".join(text.split())


def deliver(
    url: str,
    secret: bytes | Sequence[bytes],
    event: str,
    payload: dict[str, object],
    *,
    delivery_id: str,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    now: Callable[[], float] = time.time,
) -> DeliveryResult:
    """POST one signed event to ``url`` and classify the outcome; never raises for the network.

    Bad arguments (empty secret, payload that is not JSON) raise InvalidInput: those are bugs
    or configuration errors the outbox must not retry forever. ``client`` lets the caller reuse
    connections (and lets tests inject a transport); it is not closed here.
    """
    body = webhook_body(event, payload, delivery_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, int(now()), body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }
    own = client is None
    http = client if client is not None else httpx.Client(timeout=timeout)
    started = time.perf_counter()
    try:
        request = http.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        response = http.send(request, stream=True, follow_redirects=False)
        try:
            status = response.status_code
            if 200 <= status <= 299:
                return DeliveryResult(True, status, None, _elapsed_ms(started), False)
            detail = _read_some(response)
            error = f"HTTP {status}" + (f": {detail}" if detail else "")
            return DeliveryResult(
                False, status, error, _elapsed_ms(started), is_retryable_status(status)
            )
        finally:
            response.close()
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        # The configured URL is wrong; retrying cannot fix it.
        return DeliveryResult(False, None, f"bad webhook URL: {exc}", _elapsed_ms(started), False)
    except httpx.TimeoutException as exc:
        error = f"timed out ({type(exc).__name__})"
        return DeliveryResult(False, None, error, _elapsed_ms(started), True)
    except httpx.HTTPError as exc:  # connection refused/reset, protocol errors, ...
        error = " ".join((str(exc) or type(exc).__name__).split())
        return DeliveryResult(False, None, error, _elapsed_ms(started), True)
    finally:
        if own:
            http.close()


def backoff_delay(
    attempt: int,
    *,
    base: float = 2.0,
    cap: float = 3600.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = after the first failure).

    Exponential with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``. Full
    jitter spreads retries of many deliveries that failed together (a receiver outage) instead of
    having them all return at the same instant. ``jitter`` returns a fraction in [0, 1].
    """
    if attempt < 1:
        raise InvalidInput(f"backoff attempt must be >= 1, got {attempt}")
    if not (base > 0 and cap >= 0):
        raise InvalidInput("backoff base must be > 0 and cap >= 0")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 512))
    fraction = min(max(jitter(), 0.0), 1.0)
    return fraction * ceiling
