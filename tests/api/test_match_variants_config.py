"""The ``match_variants`` setting: on by default, off by file or environment, into hashing."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaga.api.config import ConfigError, load_config
from jaga.api.context import ServiceContext


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"JAGA_HOME": str(tmp_path), **extra}


def test_on_by_default_and_reaches_the_hash_options(tmp_path: Path) -> None:
    config = load_config(env=_env(tmp_path))
    assert config.match_variants is True
    context = ServiceContext(config)
    try:
        assert context.hash_options.variants is True
        assert context.hash_options.bank_variants is False  # uploads are looked up, not banked
    finally:
        context.db.close()


@pytest.mark.parametrize(("text", "expected"), [("0", False), ("off", False), ("yes", True)])
def test_the_environment_sets_it(tmp_path: Path, text: str, expected: bool) -> None:
    config = load_config(env=_env(tmp_path, JAGA_MATCH_VARIANTS=text))
    assert config.match_variants is expected


def test_the_config_file_sets_it_and_bad_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "jaga.toml"
    path.write_text("[jaga]\nmatch_variants = false\n")
    assert load_config(path, env=_env(tmp_path)).match_variants is False
    with pytest.raises(ConfigError, match="match_variants"):
        load_config(env=_env(tmp_path, JAGA_MATCH_VARIANTS="sometimes"))


def test_match_objects_name_both_variants() -> None:
    from jaga.api.submission import match_out
    from jaga.matching.log import EntryDetails
    from jaga.matching.types import Match
    from jaga.signals.base import Signal

    query = Signal("pdq", bytes(32), quality=100, variant="trim")
    match = Match(1, "known", "known", 7, "pdq", 12, query, entry_variant="crop:8")
    out = match_out(match, {7: EntryDetails(("A1",), "case-7", "cli")})
    assert (out.entry_id, out.variant, out.entry_variant, out.labels) == (
        7,
        "trim",
        "crop:8",
        ["A1"],
    )
    assert match_out(Match(1, "known", "known", 7, "pdq", 0, query), {}).entry_variant == ""
