"""What the recorded exchanges cannot show: keys, refused URLs, limits, allow-lists, rotations.

All against real servers (see conftest.py): ``hma_open`` serves keyless HMA clients with the
curator role, ``hma_keyed`` requires a key on every HMA route but /status.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pdqhash
import pytest
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_PDQ = {
    "checker8.png": "ffff28a2aaaaa220aaa882aaffff8088aaaaa2a8ffff8282aaaaa002fddf0a82",
    "checker16.png": "00002a5500002a55025508777d0882fd0000d52857205f28085d5fa020ff5720",
    "rings.png": "42cc2b0d02cbcf4c42cc3b3d03cccd334b353cf32f3ff4f3bd75d0a2d51510a2",
}


def _reference_pdq(data: bytes) -> str:
    """Meta's reference PDQ (the pdqhash binding HMA's hasher uses) as hex."""
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bits, _quality = pdqhash.compute(pixels)
    return int("".join(str(int(b)) for b in bits), 2).to_bytes(32, "big").hex()


def test_recorded_pdq_hashes_are_what_hma_computes(media: dict[str, bytes]) -> None:
    """The PDQ hashes written into the fixtures are Meta's reference hashes of the test media."""
    recorded = " ".join(p.read_text() for p in sorted(FIXTURES.glob("*.json")))
    for name, value in FIXTURE_PDQ.items():
        assert _reference_pdq(media[name]) == value
        assert value in recorded


# -- keys ----------------------------------------------------------------------------------------


def test_a_keyless_request_is_refused_without_an_anonymous_role(hma_keyed: Any) -> None:
    client = hma_keyed.client(None)
    for method, path in [
        ("GET", "/c/banks"),
        ("POST", "/h/hash"),
        ("GET", "/m/lookup?signal_type=pdq&signal=" + "0" * 64),
        ("GET", "/m/index/status"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 401, path
        assert set(response.json()) == {"message"}
        assert "API key" in response.json()["message"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_status_needs_no_key(hma_keyed: Any) -> None:
    response = hma_keyed.client(None).get("/status")
    assert (response.status_code, response.text) == (200, "I-AM-ALIVE")


def test_roles_decide_what_a_key_may_do(hma_keyed: Any) -> None:
    hasher, curator = hma_keyed.client("hasher"), hma_keyed.client("curator")
    assert hasher.get("/m/lookup", params={"signal_type": "pdq", "signal": "0" * 64}).json() == {}
    refused = hasher.get("/c/banks")
    assert refused.status_code == 403
    assert set(refused.json()) == {"message"}
    assert hasher.post("/c/banks", json={"name": "HASHER_MAY_NOT"}).status_code == 403
    assert curator.get("/c/banks").status_code == 200
    bad = hma_keyed.client(None)
    bad.headers["Authorization"] = "Bearer jaga_00000000_" + "x" * 43
    assert bad.get("/c/banks").status_code == 401


def test_the_anonymous_role_covers_the_hma_routes_only(hma_open: Any) -> None:
    client = hma_open.client(None)
    assert client.get("/c/banks").status_code == 200
    native = client.get("/v1/banks")
    assert native.status_code == 401
    assert "error" in native.json()  # Jaga's own error shape on Jaga's own routes


def test_the_anonymous_role_is_the_configured_one(hma_open: Any) -> None:
    """The anonymous role is curator here: it may curate, but not read the audit log."""
    client = hma_open.client(None)
    assert client.post("/c/banks", json={"name": "ANON_MAY_CURATE"}).status_code == 201
    assert client.delete("/c/bank/ANON_MAY_CURATE").json() == {"message": "Done"}
    admin = hma_open.client("admin")
    events = admin.get("/v1/audit", params={"limit": 1000})
    if events.status_code == 200:  # the audit route is another module's; check when present
        text = json.dumps(events.json())
        assert "anonymous" in text


# -- URLs that must not be fetched -----------------------------------------------------------------


@pytest.fixture
def loopback_trap() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets (it must get none)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "LOOPBACK/secret.png",
        "http://10.0.0.1/internal.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/x.png",
        "http://2130706433/x.png",
    ],
)
def test_private_addresses_are_refused(
    url: str, hma_open: Any, loopback_trap: tuple[str, list[str]]
) -> None:
    base, hits = loopback_trap
    url = url.replace("LOOPBACK", base)
    client = hma_open.client(None)
    client.post("/c/banks", json={"name": "SSRF_BANK"})
    for method, path in [
        ("GET", "/h/hash"),
        ("GET", "/m/lookup"),
        ("POST", "/c/bank/SSRF_BANK/content"),
    ]:
        response = client.request(method, path, params={"url": url})
        assert response.status_code == 400, (path, response.text)
        assert response.json()["message"].startswith("Invalid or unsafe URL provided")
    assert hits == []


# -- limits and bad input --------------------------------------------------------------------------


def test_an_upload_over_the_limit_is_413(hma_open: Any) -> None:
    big = b"\xff\xd8\xff" + bytes(hma_open.config.max_upload_bytes + 100_000)
    response = hma_open.client(None).post("/h/hash", files={"photo": ("big.jpg", big)})
    assert response.status_code == 413
    assert response.json() == {"message": "Content too large"}


def test_a_chunked_upload_over_the_limit_is_413(hma_open: Any) -> None:
    """No Content-Length to trust: the body is counted as it arrives."""
    boundary = "hmaboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head + b"\xff\xd8\xff"
        for _ in range(hma_open.config.max_upload_bytes // 65536 + 8):
            yield bytes(65536)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = hma_open.client(None).post(
        "/h/hash",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert response.json() == {"message": "Content too large"}


def test_a_corrupt_upload_is_400(hma_open: Any) -> None:
    response = hma_open.client(None).post(
        "/h/hash", files={"photo": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_a_body_that_is_not_json_is_400(hma_open: Any) -> None:
    response = hma_open.client(None).post(
        "/m/compare", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_a_content_id_that_is_not_a_number_is_404(hma_open: Any) -> None:
    client = hma_open.client(None)
    client.post("/c/banks", json={"name": "ID_BANK"})
    assert client.get("/c/bank/ID_BANK/content/abc").status_code == 404


# -- what Jaga adds --------------------------------------------------------------------------------


def _asymmetric_photo() -> np.ndarray:
    y, x = np.mgrid[0:240, 0:320]
    red = ((x * 255) // 320).astype(np.uint8)
    green = (((x // 40 + y // 30) % 3) * 100).astype(np.uint8)
    blue = ((np.hypot(x - 60, y - 50) * 2) % 256).astype(np.uint8)
    return np.stack([red, green, blue], axis=-1)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_rotated_or_mirrored_copy_still_matches(hma_open: Any) -> None:
    client = hma_open.client(None)
    client.post("/c/banks", json={"name": "ROTATION_BANK"})
    photo = _asymmetric_photo()
    added = client.post("/c/bank/ROTATION_BANK/content", files={"photo": ("a.png", _png(photo))})
    content_id = added.json()["id"]
    for variant in (np.rot90(photo), np.fliplr(photo)):
        found = client.post(
            "/m/lookup",
            params={"banks": "ROTATION_BANK"},
            files={"photo": ("r.png", _png(variant))},
        )
        assert found.status_code == 200
        matches = found.json()["pdq"]["ROTATION_BANK"]
        assert [m["bank_content_id"] for m in matches] == [content_id]


def test_an_allow_list_cancels_lookups_but_not_raw_lookups(hma_open: Any) -> None:
    client, admin = hma_open.client(None), hma_open.client("admin")
    value = "f" * 16 + "0" * 16 + "a" * 16 + "5" * 16
    client.post("/c/banks", json={"name": "KNOWN_BANK"})
    known = client.post("/c/bank/KNOWN_BANK/signal", json={"pdq": value}).json()["id"]
    created = admin.post("/v1/banks", json={"name": "FALSE_POSITIVES", "kind": "allow"})
    assert created.status_code == 201, created.text
    allowed = client.post("/c/bank/FALSE_POSITIVES/signal", json={"pdq": value}).json()["id"]
    query = {"signal_type": "pdq", "signal": value}
    assert client.get("/m/lookup", params=query).json() == {}
    raw = client.get("/m/raw_lookup", params=query).json()["matches"]
    assert sorted(raw) == sorted([known, allowed])
    client.delete("/c/bank/FALSE_POSITIVES")
    after = client.get("/m/lookup", params=query).json()
    assert after == {"KNOWN_BANK": [{"bank_content_id": known, "distance": "0"}]}


def test_entries_added_natively_are_content_of_their_own(hma_open: Any) -> None:
    client, admin = hma_open.client(None), hma_open.client("admin")
    client.post("/c/banks", json={"name": "NATIVE_BANK"})
    value = "0123456789abcdef" * 4
    added = admin.post("/v1/banks/NATIVE_BANK/entries", json={"signal_type": "pdq", "hash": value})
    assert added.status_code == 201, added.text
    entry_id = added.json()["entries"][0]["id"]
    path = f"/c/bank/NATIVE_BANK/content/{entry_id}"
    shown = client.get(path, params={"include_signals": "true"})
    assert shown.json()["signals"] == {"pdq": value}
    found = client.get("/m/lookup", params={"signal_type": "pdq", "signal": value}).json()
    assert found == {"NATIVE_BANK": [{"bank_content_id": entry_id, "distance": "0"}]}
    assert client.delete(path).json() == {"deleted": 1}


def test_a_renamed_bank_matches_under_its_new_name(hma_open: Any) -> None:
    client = hma_open.client(None)
    value = "00ff" * 16
    client.post("/c/banks", json={"name": "OLD_NAME"})
    content_id = client.post("/c/bank/OLD_NAME/signal", json={"pdq": value}).json()["id"]
    client.put("/c/bank/OLD_NAME", json={"name": "NEW_NAME"})
    found = client.get("/m/lookup", params={"signal_type": "pdq", "signal": value}).json()
    assert found == {"NEW_NAME": [{"bank_content_id": content_id, "distance": "0"}]}


# -- PostgreSQL ------------------------------------------------------------------------------------


def test_recorded_exchanges_on_each_database(
    db_url: str,
    tmp_path: Any,
    hma_media: Any,
    start_hma_server: Callable[..., Any],
    replay_fixture: Callable[[httpx.Client, str], Any],
) -> None:
    """A smoke run of the content and matching exchanges on SQLite and PostgreSQL."""
    server = start_hma_server(db_url, tmp_path, hma_anonymous_role="curator")
    try:
        client = server.client(None)
        replay_fixture(client, "content.json")
        replay_fixture(client, "matching.json")
    finally:
        server.stop()


def test_lookups_are_logged_like_native_ones(hma_open: Any) -> None:
    """A look-up that matches is in the match log, under the ``seed`` the client sent."""
    client, admin = hma_open.client(None), hma_open.client("admin")
    value = "3c" * 32
    client.post("/c/banks", json={"name": "LOGGED_BANK"})
    content_id = client.post("/c/bank/LOGGED_BANK/signal", json={"pdq": value}).json()["id"]
    query = {"signal_type": "pdq", "signal": value, "seed": "coop-item-17"}
    assert client.get("/m/lookup", params=query).json() == {
        "LOGGED_BANK": [{"bank_content_id": content_id, "distance": "0"}]
    }
    logged = admin.get("/v1/matches", params={"content_id": "coop-item-17"}).json()["matches"]
    assert [(m["bank"], m["entry_id"], m["distance"]) for m in logged] == [
        ("LOGGED_BANK", content_id, 0)
    ]
    nothing = {"signal_type": "pdq", "signal": "c3" * 32, "seed": "coop-item-18"}
    assert client.get("/m/lookup", params=nothing).json() == {}
    assert admin.get("/v1/matches", params={"content_id": "coop-item-18"}).json()["matches"] == []


def _photo(seed: int) -> np.ndarray:
    """A smooth random photo-like image: bilinear-upscaled noise (high PDQ quality)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(9, 12, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((480, 360), Image.Resampling.BILINEAR))


def test_banked_photos_match_cropped_copies(hma_open: Any) -> None:
    """Content banked through HMA gets Jaga's bank-side variants (as ``jaga bank add`` does), so
    a cropped copy is found although its plain PDQ hash is far from the original's."""
    client = hma_open.client(None)
    photo = _photo(11)
    h, w = photo.shape[:2]
    cropped = photo[h // 10 : h - h // 10, w // 10 : w - w // 10]
    plain = [
        client.post("/h/hash", files={"photo": ("p.png", _png(p))}).json()["pdq"]
        for p in (photo, cropped)
    ]
    assert (int(plain[0], 16) ^ int(plain[1], 16)).bit_count() > 31
    client.post("/c/banks", json={"name": "CROP_BANK"})
    added = client.post("/c/bank/CROP_BANK/content", files={"photo": ("p.png", _png(photo))})
    content_id = added.json()["id"]
    assert added.json()["signals"] == {"pdq": plain[0]}
    found = client.post(
        "/m/lookup", params={"banks": "CROP_BANK"}, files={"photo": ("c.png", _png(cropped))}
    ).json()
    assert [m["bank_content_id"] for m in found["pdq"]["CROP_BANK"]] == [content_id]
    shown = client.get(
        f"/c/bank/CROP_BANK/content/{content_id}", params={"include_signals": "true"}
    ).json()
    assert shown["signals"] == {"pdq": plain[0]}  # the variants are not HMA signals
    # The plain hash alone (banked as a hash, so without variants) does not find the crop.
    client.post("/c/banks", json={"name": "PLAIN_BANK"})
    client.post("/c/bank/PLAIN_BANK/signal", json={"pdq": plain[0]})
    missed = client.post(
        "/m/lookup", params={"banks": "PLAIN_BANK"}, files={"photo": ("c.png", _png(cropped))}
    ).json()
    assert missed == {"pdq": {}}
