"""Replay the recorded HMA exchanges against a real Jaga server (keyless, as HMA clients are)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

FIXTURES = ["banks.json", "hashing.json", "content.json", "matching.json", "status.json"]


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_exchanges(
    name: str, hma_open: Any, replay_fixture: Callable[[httpx.Client, str], dict[str, Any]]
) -> None:
    replay_fixture(hma_open.client(), name)
