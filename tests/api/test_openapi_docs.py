"""The API's own description (/openapi.json) and docs/api.md agree, and say enough."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jaga.api.app import create_app
from jaga.api.config import ServiceConfig

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
NO_KEY = {"/v1/status"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The schema is built from the routes alone; the app is never started.
    app = create_app(ServiceConfig(database_url="sqlite://", index_dir=None))
    return app.openapi()


def _native(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
    ]


def test_every_native_route_is_in_the_docs(spec: dict[str, Any]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [f"{m} {p}" for m, p, _ in _native(spec) if f"`{m} {p}`" not in text]
    assert missing == []
    assert len(_native(spec)) >= 20
    assert "## HMA-compatible API" in text


def test_every_route_documents_its_answer_and_its_refusals(spec: dict[str, Any]) -> None:
    for method, path, operation in _native(spec):
        where = f"{method} {path}"
        ok = [code for code in operation["responses"] if code.startswith("2")]
        assert ok, where
        assert operation["responses"][ok[0]].get("content"), where
        if path not in NO_KEY:
            assert {"401", "403", "429"} <= set(operation["responses"]), where
            error = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, where


def test_bodies_are_described_including_the_ones_read_by_hand(spec: dict[str, Any]) -> None:
    operations = {(m, p): op for m, p, op in _native(spec)}
    upload = operations[("POST", "/v1/content")]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data", "application/json", "application/octet-stream"}
    form = upload["multipart/form-data"]["schema"]["properties"]
    assert {"file", "url", "content_id", "uploader", "group_id", "uploaded_at", "uploader_ip"} <= (
        set(form)
    )
    assert form["file"]["format"] == "binary"
    imported = operations[("POST", "/v1/banks/{name}/import")]["requestBody"]["content"]
    assert imported["multipart/form-data"]["schema"]["required"] == ["file", "format"]
    for method in ("POST", "PATCH"):
        for (m, path), operation in operations.items():
            if m == method and not path.endswith(("/retry", "/enable", "/disable")):
                assert "requestBody" in operation, f"{m} {path}"
    match = operations[("POST", "/v1/match")]
    assert match["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MatchResponse"
    }
