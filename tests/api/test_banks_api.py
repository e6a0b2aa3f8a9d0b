"""Banks and entries over HTTP: CRUD, paging, disable/enable, import (all or nothing), export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import numpy as np


def _random_pdq(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [bytes(row).hex() for row in rng.integers(0, 256, size=(count, 32), dtype=np.uint8)]


def _match(api: Any, pdq: str, bank: str) -> list[int]:
    response = api.client("hasher").post(
        "/v1/match", json={"signals": [{"signal_type": "pdq", "hash": pdq}], "banks": [bank]}
    )
    assert response.status_code == 200, response.text
    return [m["entry_id"] for m in response.json()["matches"]]


def test_bank_crud_is_audited(api: Any, unique: Callable[[str], str]) -> None:
    curator = api.client("curator")
    name = unique("crud")
    created = curator.post(
        "/v1/banks",
        json={"name": name, "thresholds": {"pdq": 20}, "description": "test bank"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["thresholds"] == {"pdq": 20}
    assert created.json()["kind"] == "known"

    duplicate = curator.post("/v1/banks", json={"name": name.upper()})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["type"] == "DuplicateBank"
    bad_name = curator.post("/v1/banks", json={"name": "no spaces allowed"})
    assert bad_name.status_code == 422
    assert "invalid bank name" in bad_name.json()["error"]["message"]

    assert name in [b["name"] for b in curator.get("/v1/banks").json()["banks"]]
    patched = curator.patch(f"/v1/banks/{name}", json={"enabled": False, "thresholds": {"pdq": 10}})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["enabled"], patched.json()["thresholds"]) == (False, {"pdq": 10})
    bad_threshold = curator.patch(f"/v1/banks/{name}", json={"thresholds": {"pdq": 999}})
    assert bad_threshold.status_code == 422

    curator.post(f"/v1/banks/{name}/entries", json={"signal_type": "md5", "hash": "ab" * 16})
    got = curator.get(f"/v1/banks/{name}").json()
    assert got["entries"] == {"md5": 1}

    deleted = curator.delete(f"/v1/banks/{name}")
    assert deleted.status_code == 200
    assert deleted.json() == {"name": name, "entries": 1}
    assert curator.get(f"/v1/banks/{name}").status_code == 404

    events = (
        api.client("admin").get("/v1/audit", params={"target": f"bank:{name}"}).json()["events"]
    )
    assert [e["action"] for e in events] == [
        "bank.create",
        "bank.update",
        "bank.entries.add",
        "bank.delete",
    ]
    assert {e["actor"] for e in events} == {"key:t-curator"}


def test_entries_page_with_a_cursor_and_filter(api: Any, unique: Callable[[str], str]) -> None:
    curator = api.client("curator")
    name = unique("paging")
    curator.post("/v1/banks", json={"name": name})
    hashes = _random_pdq(5, seed=7)
    batch = [{"signal_type": "pdq", "hash": h, "labels": "A1 B1"} for h in hashes]
    batch.append({"signal_type": "sha256", "hash": "cd" * 32})
    added = curator.post(f"/v1/banks/{name}/entries", json={"entries": batch})
    assert added.status_code == 201, added.text
    assert (added.json()["added"], added.json()["duplicates"]) == (6, 0)
    again = curator.post(
        f"/v1/banks/{name}/entries", json={"signal_type": "pdq", "hash": hashes[0]}
    )
    assert again.json()["entries"] == [{"id": added.json()["entries"][0]["id"], "created": False}]

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"signal_type": "pdq", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = curator.get(f"/v1/banks/{name}/entries", params=params).json()
        pages.append([e["hash"] for e in page["entries"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [h for page in pages for h in page] == hashes
    assert all(len(page) <= 2 for page in pages)
    first = curator.get(f"/v1/banks/{name}/entries", params={"limit": 1}).json()["entries"][0]
    assert first["labels"] == ["A1", "B1"]
    assert first["source"] == "key:t-curator"
    assert first["active"] is True


def test_batch_with_a_bad_hash_adds_nothing(api: Any, unique: Callable[[str], str]) -> None:
    curator = api.client("curator")
    name = unique("atomic")
    curator.post("/v1/banks", json={"name": name})
    good = _random_pdq(2, seed=8)
    response = curator.post(
        f"/v1/banks/{name}/entries",
        json={
            "entries": [
                {"signal_type": "pdq", "hash": good[0]},
                {"signal_type": "pdq", "hash": "xyz"},
                {"signal_type": "pdq", "hash": good[1]},
            ]
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("entries[1]: pdq hash must be 64")
    assert curator.get(f"/v1/banks/{name}").json()["entries"] == {}


def test_disable_enable_delete_change_matching_at_once(
    api: Any, unique: Callable[[str], str]
) -> None:
    curator = api.client("curator")
    name = unique("toggle")
    curator.post("/v1/banks", json={"name": name})
    [pdq] = _random_pdq(1, seed=9)
    entry = curator.post(f"/v1/banks/{name}/entries", json={"signal_type": "pdq", "hash": pdq})
    entry_id = entry.json()["entries"][0]["id"]
    assert _match(api, pdq, name) == [entry_id]

    disabled = curator.post(f"/v1/banks/{name}/entries/{entry_id}/disable")
    assert disabled.status_code == 200
    assert disabled.json()["active"] is False
    assert _match(api, pdq, name) == []
    past = curator.post(
        f"/v1/banks/{name}/entries/{entry_id}/disable", json={"until": "2001-01-01T00:00:00Z"}
    )
    assert past.status_code == 422
    assert "not in the future" in past.json()["error"]["message"]

    enabled = curator.post(f"/v1/banks/{name}/entries/{entry_id}/enable")
    assert enabled.status_code == 200
    assert enabled.json()["active"] is True
    assert _match(api, pdq, name) == [entry_id]
    timed = curator.post(
        f"/v1/banks/{name}/entries/{entry_id}/disable", json={"until": "2999-01-01T00:00:00Z"}
    )
    assert timed.json()["disabled_until"].startswith("2999-01-01")
    curator.post(f"/v1/banks/{name}/entries/{entry_id}/enable")

    got = curator.get(f"/v1/banks/{name}/entries/{entry_id}")
    assert got.status_code == 200
    assert got.json()["hash"] == pdq
    assert curator.delete(f"/v1/banks/{name}/entries/{entry_id}").json() == {"id": entry_id}
    assert _match(api, pdq, name) == []
    gone = curator.get(f"/v1/banks/{name}/entries/{entry_id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["type"] == "UnknownEntry"


def test_import_with_a_broken_row_names_the_line_and_keeps_nothing(
    api: Any, unique: Callable[[str], str]
) -> None:
    curator = api.client("curator")
    name = unique("import-bad")
    curator.post("/v1/banks", json={"name": name})
    good = _random_pdq(3, seed=10)
    text = "signal_type,hash,labels\n"
    text += f"pdq,{good[0]},A1\npdq,{good[1]},A1\npdq,not-a-hash,A1\npdq,{good[2]},A1\n"
    response = curator.post(
        f"/v1/banks/{name}/import",
        files={"file": ("hashes.csv", text.encode(), "text/csv")},
        data={"format": "csv"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["line"] == 4
    assert "line 4" in error["message"]
    assert curator.get(f"/v1/banks/{name}").json()["entries"] == {}
    for pdq in good:
        assert _match(api, pdq, name) == []


def test_import_then_export_round_trip(api: Any, unique: Callable[[str], str]) -> None:
    curator = api.client("curator")
    name, copy = unique("import"), unique("copy")
    for bank in (name, copy):
        curator.post("/v1/banks", json={"name": bank})
    hashes = _random_pdq(4, seed=11)
    text = "".join(f"{h}\n" for h in hashes)  # bare hashes, type given in the form
    imported = curator.post(
        f"/v1/banks/{name}/import",
        files={"file": ("list.txt", text.encode(), "text/plain")},
        data={"format": "csv", "signal_type": "pdq", "source": "exchange-x"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["added"] == 4
    assert imported.json()["source"] == "exchange-x"
    assert all(_match(api, h, name) for h in hashes)  # this process's index is current

    exported = curator.get(f"/v1/banks/{name}/export", params={"format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["value"] for r in rows) == sorted(hashes)
    assert {r["source"] for r in rows} == {"exchange-x"}

    again = curator.post(
        f"/v1/banks/{copy}/import",
        files={"file": ("export.csv", exported.content, "text/csv")},
        data={"format": "csv"},
    )
    assert again.status_code == 200
    assert again.json()["added"] == 4
    copied = curator.get(f"/v1/banks/{copy}/export", params={"format": "csv"})
    assert sorted(copied.text.splitlines()) == sorted(exported.text.splitlines())

    for fmt in ("tsv", "threatexchange", "stopncii"):
        other = curator.get(f"/v1/banks/{name}/export", params={"format": fmt})
        assert other.status_code == 200, (fmt, other.text)
        assert hashes[0] in other.text, fmt
    # A format that cannot carry these entries fails before the transfer starts.
    ncmec = curator.get(f"/v1/banks/{name}/export", params={"format": "ncmec"})
    assert ncmec.status_code == 422
    assert "needs an external id" in ncmec.json()["error"]["message"]
    unknown = curator.get(f"/v1/banks/{name}/export", params={"format": "excel"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["type"] == "UnknownFormat"
    exports = (
        api.client("admin")
        .get("/v1/audit", params={"action": "bank.export", "target": f"bank:{name}"})
        .json()["events"]
    )
    assert len(exports) == 5


def test_large_export_streams_every_entry(api: Any, unique: Callable[[str], str]) -> None:
    curator = api.client("curator")
    name = unique("big")
    curator.post("/v1/banks", json={"name": name})
    hashes = _random_pdq(3000, seed=12)
    body = "".join(f"{h}\n" for h in hashes).encode()
    imported = curator.post(
        f"/v1/banks/{name}/import",
        files={"file": ("big.txt", body, "text/plain")},
        data={"format": "csv", "signal_type": "pdq"},
    )
    assert imported.json()["added"] == 3000
    with curator.stream("GET", f"/v1/banks/{name}/export", params={"format": "csv"}) as response:
        assert response.status_code == 200
        text = b"".join(response.iter_bytes()).decode()
    assert sorted(r["value"] for r in csv.DictReader(io.StringIO(text))) == sorted(hashes)


def test_unknown_bank_is_404_everywhere(api: Any) -> None:
    curator = api.client("curator")
    for method, path in (
        ("GET", "/v1/banks/no-such-bank"),
        ("PATCH", "/v1/banks/no-such-bank"),
        ("DELETE", "/v1/banks/no-such-bank"),
        ("GET", "/v1/banks/no-such-bank/entries"),
        ("GET", "/v1/banks/no-such-bank/export"),
        ("POST", "/v1/banks/no-such-bank/entries"),
    ):
        kwargs: dict[str, Any] = {}
        if method == "PATCH":
            kwargs["json"] = {"description": "x"}
        if method == "POST":
            kwargs["json"] = {"signal_type": "md5", "hash": "00" * 16}
        response = curator.request(method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["type"] == "UnknownBank"
    imported = curator.post(
        "/v1/banks/no-such-bank/import",
        files={"file": ("a.csv", b"hash\n", "text/csv")},
        data={"format": "csv"},
    )
    assert imported.status_code == 404
    lookup = api.client("hasher").post(
        "/v1/match",
        json={"signals": [{"signal_type": "md5", "hash": "00" * 16}], "banks": ["no-such-bank"]},
    )
    assert lookup.status_code == 404
    assert "no bank named 'no-such-bank'" in lookup.json()["error"]["message"]
