"""Rules: TOML parsing with clear errors, filters (globs, labels, types, distance), dedupe."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaga.actions.rules import (
    ACTION_TYPES,
    ActionSpec,
    MatchFacts,
    PlannedAction,
    Rule,
    RuleError,
    RuleSet,
    decide,
    facts_from_outcome,
)
from jaga.matching.log import EntryDetails
from jaga.matching.types import Match, MatchOutcome
from jaga.signals.base import Signal

EXAMPLE = """
[[rules]]
name = "known-csam"
banks = ["ncmec-*", "internal"]
labels = ["A1", "A2"]
actions = ["block", "review", "report"]

[[rules]]
name = "close-pdq"
signal_types = ["pdq"]
max_distance = 10
actions = [
  "remove",
  { type = "webhook", url = "https://tns.example/hooks/jaga", secret_env = "TNS_SECRET" },
]

[[rules]]
name = "groups"
banks = ["ncmec-*"]
actions = ["disable_account", "review_group", "review"]

[[rules]]
name = "hook-again"
[[rules.actions]]
type = "webhook"
url = "https://tns.example/hooks/jaga"
secret_env = "OTHER"
event = "match.other"
"""


def fact(
    bank: str = "ncmec-2024",
    labels: tuple[str, ...] = ("A1",),
    signal_type: str = "pdq",
    distance: int = 4,
    kind: str = "known",
    entry_id: int = 1,
) -> MatchFacts:
    return MatchFacts(bank, kind, labels, signal_type, distance, entry_id)


def types(planned: list[PlannedAction]) -> list[str]:
    return [p.type for p in planned]


# ------------------------------------------------------------------------------ parsing


def test_example_parses() -> None:
    rules = RuleSet.from_toml(EXAMPLE)
    first, second = rules.rules[0], rules.rules[1]
    assert first == Rule(
        name="known-csam",
        banks=("ncmec-*", "internal"),
        labels=("A1", "A2"),
        actions=(ActionSpec("block", {}), ActionSpec("review", {}), ActionSpec("report", {})),
    )
    assert second.max_distance == 10
    assert second.actions[1] == ActionSpec(
        "webhook",
        {"url": "https://tns.example/hooks/jaga", "secret_env": "TNS_SECRET", "event": "match"},
    )


def test_load_from_file_and_configured(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert len(RuleSet.load(path).rules) == 4
    assert RuleSet.configured({"JAGA_RULES_FILE": str(path)}).source == str(path)
    assert RuleSet.configured({}).source == "<default rules>"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"missing\.toml: cannot read rules file"):
        RuleSet.load(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[[rules]]\nname = "caf\xe9"\n')
    with pytest.raises(RuleError, match="not UTF-8"):
        RuleSet.load(bad)


BAD_RULES = [
    ("[[rules]\nname = 'x'", "not valid TOML"),
    ("", "defines no rules"),
    ("rule = 1", "unknown top-level key"),
    ("rules = [1]", "rule #1 must be a table"),
    ("[[rules]]\nactions = ['block']", "rule #1: needs a name"),
    ("[[rules]]\nname = 'x'", "rule #1 'x': needs actions"),
    ("[[rules]]\nname = 'x'\nactions = []", "needs actions"),
    ("[[rules]]\nname = 'x'\nactions = ['blok']", "unknown action type 'blok'"),
    ("[[rules]]\nname = 'x'\nbank = 'a'\nactions = ['block']", "unknown key(s) 'bank'"),
    ("[[rules]]\nname = 'x'\nbanks = [1]\nactions = ['block']", "banks must be a list"),
    ("[[rules]]\nname = 'x'\nbanks = []\nactions = ['block']", "at least one bank"),
    ("[[rules]]\nname = 'x'\nlabels = ['']\nactions = ['block']", "labels must be a list"),
    ("[[rules]]\nname = 'x'\nsignal_types = ['pqd']\nactions = ['block']", "signal type(s) 'pqd'"),
    ("[[rules]]\nname = 'x'\nmax_distance = -1\nactions = ['block']", "max_distance"),
    ("[[rules]]\nname = 'x'\nmax_distance = 2.5\nactions = ['block']", "max_distance"),
    ("[[rules]]\nname = 'x'\nmax_distance = true\nactions = ['block']", "max_distance"),
    ("[[rules]]\nname = 'x'\nbank_kinds = ['weird']\nactions = ['block']", "bank_kinds"),
    ("[[rules]]\nname = 'x'\nactions = [{ type = 'block', why = 1 }]", "takes no parameters"),
    ("[[rules]]\nname = 'x'\nactions = [3]", "action #1 must be a type name"),
    ("[[rules]]\nname = 'x'\nactions = [{ type = 'webhook', secret_env = 'S' }]", "url must be"),
    (
        "[[rules]]\nname = 'x'\n"
        "actions = [{ type = 'webhook', url = 'ftp://a', secret_env = 'S' }]",
        "url must be",
    ),
    ("[[rules]]\nname = 'x'\nactions = [{ type = 'webhook', url = 'https://a' }]", "secret_env"),
    (
        "[[rules]]\nname = 'x'\nactions = [{ type = 'webhook', url = 'https://a', "
        "secret_env = 'not a name' }]",
        "secret_env must name",
    ),
    (
        "[[rules]]\nname = 'x'\nactions = [{ type = 'webhook', url = 'https://a', "
        "secret_env = 'S', event = 'Bad Event' }]",
        "event must be",
    ),
    (
        "[[rules]]\nname = 'x'\nactions = [{ type = 'webhook', url = 'https://a', "
        "secret_env = 'S', secret = 'inline' }]",
        "unknown key(s) 'secret'",
    ),
    (
        "[[rules]]\nname = 'x'\nactions = ['block']\n[[rules]]\nname = 'x'\nactions = ['review']",
        "same name",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_RULES)
def test_bad_rules_have_clear_errors(text: str, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        RuleSet.from_toml(text, source="rules.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("rules.toml")
    assert "\n" not in str(caught.value)


def test_error_names_the_line_of_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rules]]\nname = "fine"\nactions = ["block"]\n\n'
        '[[rules]]\nname = "broken"\nactions = ["block", "explode"]\n',
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as caught:
        RuleSet.load(path)
    assert str(caught.value).startswith(f"{path}:6: rule #2 'broken': action #2")


# --------------------------------------------------------------------------- evaluation


def test_default_rules_block_and_review_known_matches() -> None:
    rules = RuleSet.default()
    planned = rules.evaluate([fact(bank="anything", labels=())])
    assert types(planned) == ["block", "review"]
    assert rules.evaluate([fact(kind="allow")]) == []
    assert rules.evaluate([]) == []


def test_bank_globs() -> None:
    rules = RuleSet([Rule("r", banks=("ncmec-*", "internal"), actions=(ActionSpec("block"),))])
    assert rules.evaluate([fact(bank="ncmec-2024")])
    assert rules.evaluate([fact(bank="internal")])
    assert not rules.evaluate([fact(bank="internal-2")])
    assert not rules.evaluate([fact(bank="NCMEC-2024")])  # globs are case-sensitive


def test_labels_any_of() -> None:
    rules = RuleSet([Rule("r", labels=("A1", "A2"), actions=(ActionSpec("review"),))])
    assert rules.evaluate([fact(labels=("B1", "A2"))])
    assert not rules.evaluate([fact(labels=("B1",))])
    assert not rules.evaluate([fact(labels=())])


def test_signal_types_and_distance() -> None:
    rules = RuleSet(
        [Rule("r", signal_types=("pdq",), max_distance=10, actions=(ActionSpec("block"),))]
    )
    assert rules.evaluate([fact(distance=10)])
    assert not rules.evaluate([fact(distance=11)])
    assert not rules.evaluate([fact(signal_type="md5", distance=0)])
    assert rules.evaluate([fact(distance=30), fact(distance=2, entry_id=2)])


def test_allow_banks_only_when_asked() -> None:
    rules = RuleSet([Rule("r", bank_kinds=("allow",), actions=(ActionSpec("review"),))])
    assert rules.evaluate([fact(kind="allow")])
    assert not rules.evaluate([fact()])


def test_dedupe_one_action_per_type_and_target() -> None:
    rules = RuleSet.from_toml(EXAMPLE)
    matches = [fact(), fact(bank="ncmec-2023", entry_id=2, distance=1)]
    planned = rules.evaluate(matches)
    assert types(planned) == [
        "block",
        "review",
        "report",
        "remove",
        "webhook",
        "disable_account",
        "review_group",
    ]
    review = next(p for p in planned if p.type == "review")
    assert review.rule == "known-csam"  # the first rule that asked wins
    assert "entry 2, distance 1" in review.reason  # the closest match is named
    assert "and 1 more" in review.reason
    webhook = next(p for p in planned if p.type == "webhook")
    assert webhook.target == "https://tns.example/hooks/jaga"
    assert webhook.params["secret_env"] == "TNS_SECRET"


def test_webhooks_to_different_urls_are_not_merged() -> None:
    hook = {"secret_env": "S", "event": "match"}
    rules = RuleSet(
        [
            Rule("a", actions=(ActionSpec("webhook", {**hook, "url": "https://a.example"}),)),
            Rule("b", actions=(ActionSpec("webhook", {**hook, "url": "https://b.example"}),)),
        ]
    )
    assert [p.target for p in rules.evaluate([fact()])] == [
        "https://a.example",
        "https://b.example",
    ]


@given(
    st.lists(st.sampled_from(ACTION_TYPES[:-1]), max_size=8),
)
def test_decide(kinds: list[str]) -> None:
    planned = [PlannedAction(k, "r", {}, "why") for k in kinds]
    decision = decide(planned)
    if {"block", "remove"} & set(kinds):
        assert decision == "block"
    elif "review" in kinds:
        assert decision == "review"
    else:
        assert decision == "allow"


def test_decide_examples() -> None:
    assert decide([]) == "allow"
    assert decide([PlannedAction("report", "r", {}, "")]) == "allow"
    assert decide([PlannedAction("review", "r", {}, "")]) == "review"
    assert decide([PlannedAction("review", "r", {}, ""), PlannedAction("remove", "r", {}, "")]) == (
        "block"
    )


def test_facts_from_outcome_takes_standing_matches_and_labels() -> None:
    signal = Signal("pdq", b"\x00" * 32)
    standing = Match(1, "ncmec", "known", 10, "pdq", 3, signal)
    cancelled = Match(2, "other", "known", 11, "pdq", 5, signal)
    outcome = MatchOutcome(matches=(standing,), cancelled=(cancelled,))
    facts = facts_from_outcome(outcome, {10: EntryDetails(("A1", "B2"), "x", "s")})
    assert facts == [MatchFacts("ncmec", "known", ("A1", "B2"), "pdq", 3, 10)]
    assert facts_from_outcome(outcome)[0].labels == ()
