"""Content in, decisions out: uploads, URLs, raw bodies, hash lookups, and what gets recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select, update

from jaga.store import open_database
from jaga.store.models import ActionRow, Content


def _bank_with(api: Any, name: str, pdq: str, labels: list[str] | None = None) -> int:
    curator = api.client("curator")
    assert curator.post("/v1/banks", json={"name": name}).status_code == 201
    added = curator.post(
        f"/v1/banks/{name}/entries",
        json={"signal_type": "pdq", "hash": pdq, "labels": labels or ["A1"]},
    )
    assert added.status_code == 201, added.text
    entry_id: int = added.json()["entries"][0]["id"]
    return entry_id


def _content_rows(db_url: str) -> int:
    with open_database(db_url) as db, db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Content)) or 0)


def test_upload_of_a_banked_image_is_blocked_with_its_match_and_actions(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    image = make_image(1001)
    bank = unique("known")
    entry_id = _bank_with(api, bank, pdq_hex(image), ["A1", "B2"])
    content_id = unique("upload")

    response = api.client("hasher").post(
        "/v1/content",
        files={"file": ("photo.png", image, "image/png")},
        data={
            "content_id": content_id,
            "uploader": "account-7",
            "group_id": "group-3",
            "uploaded_at": "2024-05-01T10:00:00Z",
            "uploader_ip": "203.0.113.9",
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "block"
    assert body["content_id"] == content_id
    assert body["kind"] == "image"
    assert body["format"] == "PNG"
    assert body["size"] == len(image)
    [match] = [m for m in body["matches"] if m["bank"] == bank]
    assert match["entry_id"] == entry_id
    assert match["signal_type"] == "pdq"
    assert match["distance"] == 0
    assert match["variant"] == ""
    assert match["labels"] == ["A1", "B2"]
    assert {a["type"] for a in body["actions"]} == {"block", "review"}
    assert all(a["status"] == "pending" for a in body["actions"])
    assert body["signals"]["pdq"] == [pdq_hex(image)]
    assert set(body["signals"]) == {"pdq", "md5", "sha1", "sha256"}

    # The match log and the content record say the same, to a reviewer.
    log = api.client("reviewer").get("/v1/matches", params={"content_id": content_id}).json()
    assert [(m["bank"], m["entry_id"], m["content"]) for m in log["matches"]] == [
        (bank, entry_id, body["id"])
    ]
    seen = api.client("reviewer").get(f"/v1/content/{body['id']}")
    assert seen.status_code == 200, seen.text
    record = seen.json()
    assert record["uploader"] == "account-7"
    assert record["group_id"] == "group-3"
    assert record["uploader_ip"] == "203.0.113.9"
    assert record["uploaded_at"].startswith("2024-05-01T10:00:00")
    assert {s["signal_type"] for s in record["signals"]} >= {"pdq", "sha256"}
    # Dihedral and signal variants (match_variants, on by default) are kept for retroactive
    # scans: the plain hash, 3 dihedral shortcut hashes, 4 real turns and mirror, crops...
    assert len([s for s in record["signals"] if s["signal_type"] == "pdq"]) >= 8
    assert {a["type"] for a in record["actions"]} == {"block", "review"}


def test_unrelated_image_is_allowed_and_still_recorded(
    api: Any, unique: Callable[[str], str], make_image: Callable[..., bytes]
) -> None:
    content_id = unique("benign")
    before = _content_rows(api.db_url)
    response = api.client("hasher").post(
        "/v1/content",
        files={"file": ("cat.jpg", make_image(1002, "JPEG"), "image/jpeg")},
        data={"content_id": content_id},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decision"], body["matches"], body["actions"]) == ("allow", [], [])
    assert body["format"] == "JPEG"
    assert _content_rows(api.db_url) == before + 1  # kept for retroactive scans


def test_raw_body_upload_with_context_in_the_query(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    image = make_image(1003)
    bank = unique("raw")
    _bank_with(api, bank, pdq_hex(image))
    content_id = unique("raw")
    response = api.client("hasher").post(
        "/v1/content",
        content=image,
        headers={"Content-Type": "image/png"},
        params={"content_id": content_id, "uploader": "u-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "block"
    assert response.json()["content_id"] == content_id


def test_url_submission_is_fetched_and_matched(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
    media_host: Any,
) -> None:
    image = make_image(1004)
    bank = unique("url")
    _bank_with(api, bank, pdq_hex(image))
    path = f"/{unique('media')}.png"
    media_host.files[path] = image
    response = api.client("hasher").post(
        "/v1/content", json={"url": media_host.base + path, "content_id": unique("u")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "block"
    assert [m["bank"] for m in response.json()["matches"]] == [bank]


def test_hash_endpoint_hashes_without_recording(
    api: Any, make_image: Callable[..., bytes], pdq_hex: Callable[[bytes], str]
) -> None:
    image = make_image(1005)
    before = _content_rows(api.db_url)
    response = api.client("hasher").post("/v1/hash", files={"file": ("a.png", image, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signals"]["pdq"] == [pdq_hex(image)]
    assert body["quality"]["pdq"][0] >= 50
    assert {"signal_type": "pdq", "hash": pdq_hex(image)} in body["entries"]
    assert (body["width"], body["height"]) == (256, 256)
    assert _content_rows(api.db_url) == before


def test_match_by_hash_finds_the_entry_and_writes_only_when_it_matters(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    image = make_image(1006)
    pdq = pdq_hex(image)
    bank = unique("hashes")
    entry_id = _bank_with(api, bank, pdq)
    hasher = api.client("hasher")

    # A near copy: flip 5 bits.
    near = f"{int(pdq, 16) ^ 0b11111:064x}"
    hit = hasher.post("/v1/match", json={"signals": [{"signal_type": "pdq", "hash": near}]})
    assert hit.status_code == 200, hit.text
    body = hit.json()
    assert [(m["bank"], m["entry_id"], m["distance"]) for m in body["matches"]] == [
        (bank, entry_id, 5)
    ]
    assert body["decision"] == "block"
    assert body["actions"] is None  # a lookup enqueues nothing
    assert body["id"] is not None  # ... but its match is logged

    # Nothing matched, not recorded: no row at all.
    before = _content_rows(api.db_url)
    other = pdq_hex(make_image(1007))
    miss = hasher.post("/v1/match", json={"signals": [{"signal_type": "pdq", "hash": other}]})
    assert miss.status_code == 200
    assert miss.json() == {
        "matches": [],
        "cancelled": [],
        "decision": "allow",
        "id": None,
        "actions": None,
    }
    assert _content_rows(api.db_url) == before

    # Restricted to another bank: no match.
    elsewhere = unique("empty")
    assert api.client("curator").post("/v1/banks", json={"name": elsewhere}).status_code == 201
    scoped = hasher.post(
        "/v1/match",
        json={"signals": [{"signal_type": "pdq", "hash": pdq}], "banks": [elsewhere]},
    )
    assert scoped.status_code == 200
    assert scoped.json()["matches"] == []

    # Recorded: content, actions.
    recorded = hasher.post(
        "/v1/match",
        json={
            "signals": [{"signal_type": "pdq", "hash": pdq}],
            "content": {"content_id": unique("device"), "uploader": "acct"},
            "record": True,
        },
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["decision"] == "block"
    assert {a["type"] for a in recorded.json()["actions"]} == {"block", "review"}


def test_allow_list_cancels_a_match(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    pdq = pdq_hex(make_image(1008))
    known, allow = unique("known"), unique("allow")
    _bank_with(api, known, pdq)
    curator = api.client("curator")
    assert curator.post("/v1/banks", json={"name": allow, "kind": "allow"}).status_code == 201
    assert (
        curator.post(
            f"/v1/banks/{allow}/entries", json={"signal_type": "pdq", "hash": pdq}
        ).status_code
        == 201
    )
    body = (
        api.client("hasher")
        .post("/v1/match", json={"signals": [{"signal_type": "pdq", "hash": pdq}]})
        .json()
    )
    assert body["matches"] == []
    assert body["decision"] == "allow"
    assert [m["bank"] for m in body["cancelled"]] == [known]


def test_content_views_are_audited_and_need_the_permission(
    api: Any, unique: Callable[[str], str], make_image: Callable[..., bytes]
) -> None:
    upload = api.client("hasher").post(
        "/v1/content",
        files={"file": ("a.png", make_image(1009), "image/png")},
        data={"content_id": unique("viewed")},
    )
    content = upload.json()["id"]
    assert api.client("curator").get(f"/v1/content/{content}").status_code == 403
    assert api.client("reviewer").get(f"/v1/content/{content}").status_code == 200
    events = (
        api.client("admin")
        .get("/v1/audit", params={"action": "content.view", "target": f"content:{content}"})
        .json()["events"]
    )
    assert [e["actor"] for e in events] == ["key:t-reviewer"]
    missing = api.client("reviewer").get("/v1/content/999999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "UnknownContent"


def test_actions_are_listed_and_dead_letters_can_be_retried(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    image = make_image(1010)
    _bank_with(api, unique("acts"), pdq_hex(image))
    content = (
        api.client("hasher")
        .post("/v1/content", files={"file": ("a.png", image, "image/png")})
        .json()["id"]
    )
    reviewer = api.client("reviewer")
    listed = reviewer.get("/v1/actions", params={"content_id": content}).json()["actions"]
    assert {(a["type"], a["status"], a["content"]) for a in listed} == {
        ("block", "pending", content),
        ("review", "pending", content),
    }
    block = next(a["id"] for a in listed if a["type"] == "block")
    # Only dead or failed actions retry.
    assert api.client("admin").post(f"/v1/actions/{block}/retry").status_code == 422
    assert reviewer.post(f"/v1/actions/{block}/retry").status_code == 403

    with open_database(api.db_url) as db, db.session() as session:  # the worker gave up
        session.execute(
            update(ActionRow)
            .where(ActionRow.id == block)
            .values(status="dead", attempts=5, last_error="platform said no")
        )
    dead = reviewer.get("/v1/actions", params={"status": "dead", "content_id": content}).json()
    assert [(a["id"], a["last_error"]) for a in dead["actions"]] == [(block, "platform said no")]
    retried = api.client("admin").post(f"/v1/actions/{block}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)


def test_match_log_pages_with_an_opaque_cursor(
    api: Any,
    unique: Callable[[str], str],
    make_image: Callable[..., bytes],
    pdq_hex: Callable[[bytes], str],
) -> None:
    pdq = pdq_hex(make_image(1011))
    bank = unique("paged")
    _bank_with(api, bank, pdq)
    hasher = api.client("hasher")
    for _ in range(3):
        hasher.post("/v1/match", json={"signals": [{"signal_type": "pdq", "hash": pdq}]})
    curator = api.client("curator")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"bank": bank, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = curator.get("/v1/matches", params=params).json()
        seen += [m["id"] for m in page["matches"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3
    assert seen == sorted(seen, reverse=True)
    bad = curator.get("/v1/matches", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["error"]["type"] == "InvalidCursor"


def test_hasher_sees_no_logs(api: Any) -> None:
    hasher: httpx.Client = api.client("hasher")
    for path in ("/v1/matches", "/v1/actions", "/v1/audit"):
        response = hasher.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["type"] == "PermissionDenied"
