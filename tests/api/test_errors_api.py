"""Bad input, one test each: every refusal is a typed JSON error with the right status."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

RawHttp = Callable[[str, str, list[bytes]], tuple[int, dict[str, str], bytes]]


def _error(response: httpx.Response, status: int, type_name: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == type_name, body
    message: str = body["error"]["message"]
    assert message
    assert "\n" not in message
    return message


def _match_body(pdq: str = "00" * 32) -> dict[str, Any]:
    return {"signals": [{"signal_type": "pdq", "hash": pdq}]}


def test_no_key_is_401(api: Any) -> None:
    response = api.client(None).post("/v1/match", json=_match_body())
    message = _error(response, 401, "MissingApiKey")
    assert "Bearer" in message
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_key_is_401(api: Any) -> None:
    client = httpx.Client(base_url=api.url, headers={"Authorization": "Bearer jaga_0000_nope"})
    with client:
        _error(client.post("/v1/match", json=_match_body()), 401, "InvalidApiKey")
    forged = "jaga_deadbeef_" + "A" * 43
    with httpx.Client(base_url=api.url, headers={"X-API-Key": forged}) as client:
        _error(client.get("/v1/banks"), 401, "InvalidApiKey")


def test_revoked_key_is_401(api: Any) -> None:
    message = _error(api.client("revoked").get("/v1/banks"), 401, "RevokedApiKey")
    assert "revoked" in message


def test_hasher_may_not_read_banks_403(api: Any, unique: Callable[[str], str]) -> None:
    name = unique("private")
    assert api.client("curator").post("/v1/banks", json={"name": name}).status_code == 201
    hasher = api.client("hasher")
    message = _error(hasher.get(f"/v1/banks/{name}/entries"), 403, "PermissionDenied")
    assert "banks:read" in message
    _error(hasher.get("/v1/banks"), 403, "PermissionDenied")
    _error(hasher.get(f"/v1/banks/{name}/export"), 403, "PermissionDenied")
    _error(hasher.post("/v1/banks", json={"name": unique("x")}), 403, "PermissionDenied")
    # A reviewer sees content, not banks; a curator edits banks but cannot retry actions.
    _error(api.client("reviewer").get("/v1/banks"), 403, "PermissionDenied")
    _error(api.client("curator").post("/v1/actions/1/retry"), 403, "PermissionDenied")


def test_oversized_upload_is_413_before_the_body_is_read(api: Any, raw_http: RawHttp) -> None:
    token = api.tokens["hasher"]
    head = (
        "POST /v1/content HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {50 * 2**20}\r\n\r\n"
    )
    # The client sends no body at all: the answer can only come from the declared length.
    status, headers, payload = raw_http(api.url, head, [])
    assert status == 413
    assert json.loads(payload)["error"]["type"] == "RequestTooLarge"
    assert headers["content-type"] == "application/json"


def test_oversized_streamed_upload_is_413(
    api: Any, raw_http: RawHttp, make_image: Callable[..., bytes]
) -> None:
    """No Content-Length (chunked): refused once the running size passes the limit."""
    token = api.tokens["hasher"]
    head = (
        "POST /v1/content HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"\0" * 65536
    limit = int(api.limit)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * (limit // len(piece) + 2)
    status, _, payload = raw_http(api.url, head, [*chunks, b"0\r\n\r\n"])
    assert status == 413
    assert "over the limit" in json.loads(payload)["error"]["message"]


def test_oversized_multipart_file_is_413(api: Any) -> None:
    data = b"\xff\xd8" + b"\0" * int(api.limit)
    response = api.client("hasher").post(
        "/v1/content", files={"file": ("big.jpg", data, "image/jpeg")}
    )
    message = _error(response, 413, "RequestTooLarge")
    assert "'file'" in message


def test_unsupported_media_is_415_with_the_reason(api: Any) -> None:
    response = api.client("hasher").post(
        "/v1/content", files={"file": ("notes.jpg", b"just some text, not a picture", "image/jpeg")}
    )
    message = _error(response, 415, "UnsupportedMedia")
    assert len(message) > 20  # says why, not just "unsupported"


def test_unsupported_request_type_is_415(api: Any) -> None:
    response = api.client("hasher").post(
        "/v1/content", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert "multipart/form-data" in _error(response, 415, "UnsupportedContentType")


def test_corrupt_media_is_422(api: Any, make_image: Callable[..., bytes]) -> None:
    broken = make_image(2001, "JPEG")[:400]  # a JPEG cut short
    response = api.client("hasher").post(
        "/v1/content", files={"file": ("cut.jpg", broken, "image/jpeg")}
    )
    _error(response, 422, "CorruptMedia")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/x.jpg", "loopback"),
        ("http://10.0.0.1/x.jpg", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://2130706433/x.jpg", "loopback"),  # 127.0.0.1 written as a number
    ],
)
def test_url_to_a_private_address_is_refused_422(api: Any, url: str, why: str) -> None:
    response = api.client("hasher").post("/v1/content", json={"url": url})
    assert why in _error(response, 422, "FetchRefused")


def test_redirect_to_a_private_address_is_refused_422(
    api: Any, media_host: Any, unique: Callable[[str], str]
) -> None:
    path = f"/{unique('hop')}"
    media_host.redirects[path] = f"{api.url}/v1/status"  # a public-looking host points inside
    response = api.client("hasher").post("/v1/content", json={"url": media_host.base + path})
    message = _error(response, 422, "FetchRefused")
    assert "redirect" in message
    assert "127.0.0.1" in message


def test_url_that_fails_is_502(api: Any, media_host: Any) -> None:
    response = api.client("hasher").post(
        "/v1/content", json={"url": media_host.base + "/missing.jpg"}
    )
    assert "404" in _error(response, 502, "FetchFailed")


def test_file_and_url_together_is_422(api: Any, make_image: Callable[..., bytes]) -> None:
    response = api.client("hasher").post(
        "/v1/content",
        files={"file": ("a.png", make_image(2002), "image/png")},
        data={"url": "http://example.org/a.png"},
    )
    assert "not both" in _error(response, 422, "InvalidRequest")


def test_bad_context_field_is_422(api: Any, make_image: Callable[..., bytes]) -> None:
    response = api.client("hasher").post(
        "/v1/content",
        files={"file": ("a.png", make_image(2003), "image/png")},
        data={"uploader_ip": "300.1.2.3"},
    )
    assert "uploader_ip" in _error(response, 422, "InvalidRequest")
    unknown = api.client("hasher").post(
        "/v1/content",
        files={"file": ("a.png", make_image(2003), "image/png")},
        data={"uploder": "typo"},
    )
    assert "uploder" in _error(unknown, 422, "InvalidRequest")


def test_malformed_hash_is_422_with_the_reason(api: Any) -> None:
    hasher = api.client("hasher")
    short = hasher.post("/v1/match", json=_match_body("abc123"))
    message = _error(short, 422, "InvalidHash")
    assert message.startswith("signals[0]: pdq hash must be 64 hex digits")
    not_hex = hasher.post("/v1/match", json=_match_body("zz" * 32))
    assert "not hexadecimal" in _error(not_hex, 422, "InvalidHash")
    unknown_type = hasher.post(
        "/v1/match", json={"signals": [{"signal_type": "photodna", "hash": "00"}]}
    )
    assert "unknown signal type" in _error(unknown_type, 422, "UnknownSignalType")
    empty = hasher.post("/v1/match", json={"signals": []})
    assert "signals" in _error(empty, 422, "InvalidRequest")
    not_json = hasher.post(
        "/v1/match", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    _error(not_json, 422, "InvalidRequest")


def test_unknown_bank_is_404(api: Any) -> None:
    response = api.client("curator").get("/v1/banks/never-made/entries")
    assert "never-made" in _error(response, 404, "UnknownBank")


def test_rate_limited_key_gets_429_with_retry_after(api: Any) -> None:
    slow = api.client("slow")  # 0.01 requests/s, burst 1
    first = slow.post("/v1/match", json=_match_body())
    assert first.status_code == 200, first.text
    second = slow.post("/v1/match", json=_match_body())
    _error(second, 429, "RateLimited")
    assert int(second.headers["retry-after"]) >= 1
