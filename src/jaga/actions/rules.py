"""Rules: which matches lead to which actions, read from a TOML file.

A rule names the matches it applies to (bank name globs, labels, signal types, a maximum
distance, bank kinds) and the actions to take when at least one match qualifies::

    [[rules]]
    name = "known-csam"
    banks = ["ncmec-*", "internal"]
    labels = ["A1", "A2"]
    actions = ["block", "review", "report"]

    [[rules]]
    name = "tell-trust-and-safety"
    actions = [{ type = "webhook", url = "https://tns.example/hooks/jaga",
                 secret_env = "TNS_WEBHOOK_SECRET", event = "match.known" }]

Evaluation is deterministic and cheap (no I/O): every rule is checked against every match,
and the planned actions are de-duplicated so a piece of content gets at most one action of a
type per target (one review case, one report, one POST per webhook URL) however many rules and
matches asked for it. Without a rules file, :meth:`RuleSet.default` blocks and queues for
review anything that matches a ``known`` bank. Allow-list matches never reach the rules: the
matcher has already cancelled what they cover.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from jaga.errors import InvalidInput
from jaga.matching.log import EntryDetails
from jaga.matching.types import KNOWN, Match, MatchOutcome

ACTION_TYPES: Final = (
    "block",
    "remove",
    "review",
    "report",
    "disable_account",
    "review_group",
    "webhook",
)
BANK_KINDS: Final = ("known", "allow")
RULES_ENV: Final = "JAGA_RULES_FILE"
DEFAULT_WEBHOOK_EVENT: Final = "match"

#: What a non-webhook action acts on, for de-duplication (webhooks act on their URL).
ACTION_TARGETS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "block": "content",
        "remove": "content",
        "review": "content",
        "report": "content",
        "disable_account": "account",
        "review_group": "group",
    }
)

_RULE_KEYS: Final = frozenset(
    {"name", "banks", "labels", "signal_types", "max_distance", "bank_kinds", "actions"}
)
_WEBHOOK_KEYS: Final = frozenset({"type", "url", "secret_env", "event"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EVENT = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:-]{0,127}")


class RuleError(InvalidInput):
    """A rules file that cannot be used: where it is wrong and what is wrong."""


@dataclass(frozen=True)
class ActionSpec:
    """One action a rule takes. ``params`` for a webhook: ``url``, ``secret_env``, ``event``."""

    type: str
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def target(self) -> str:
        if self.type == "webhook":
            return str(self.params["url"])
        return ACTION_TARGETS[self.type]


@dataclass(frozen=True)
class Rule:
    """Which matches a rule applies to, and what it does about them.

    ``banks`` are globs (``fnmatch``, case-sensitive); ``labels`` and ``signal_types`` match if
    the match has any of them (empty: any); ``bank_kinds`` defaults to known-material banks.
    """

    name: str
    banks: tuple[str, ...] = ("*",)
    labels: tuple[str, ...] = ()
    signal_types: tuple[str, ...] = ()
    max_distance: int | None = None
    actions: tuple[ActionSpec, ...] = ()
    bank_kinds: tuple[str, ...] = (KNOWN,)

    def applies_to(self, fact: MatchFacts) -> bool:
        if fact.bank_kind not in self.bank_kinds:
            return False
        if not any(fnmatch.fnmatchcase(fact.bank_name, glob) for glob in self.banks):
            return False
        if self.labels and not set(self.labels).intersection(fact.labels):
            return False
        if self.signal_types and fact.signal_type not in self.signal_types:
            return False
        return self.max_distance is None or fact.distance <= self.max_distance


@dataclass(frozen=True)
class MatchFacts:
    """What rules may look at in one match."""

    bank_name: str
    bank_kind: str
    labels: tuple[str, ...]
    signal_type: str
    distance: int
    entry_id: int

    def describe(self) -> str:
        labels = f" [{' '.join(self.labels)}]" if self.labels else ""
        return (
            f"{self.signal_type} match in bank {self.bank_name!r} "
            f"(entry {self.entry_id}, distance {self.distance}){labels}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "bank": self.bank_name,
            "bank_kind": self.bank_kind,
            "labels": list(self.labels),
            "signal_type": self.signal_type,
            "distance": self.distance,
            "entry_id": self.entry_id,
        }


@dataclass(frozen=True)
class PlannedAction:
    """An action a rule decided on, before it is written to the outbox.

    ``target`` is what it acts on for de-duplication: ``content``, ``account``, ``group``, or a
    webhook's URL.
    """

    type: str
    rule: str
    params: Mapping[str, object]
    reason: str
    target: str = "content"


def facts_from_outcome(
    outcome: MatchOutcome, details: Mapping[int, EntryDetails] | None = None
) -> list[MatchFacts]:
    """The standing matches of an outcome as rule facts (labels from ``entry_details``)."""
    details = details or {}

    def one(match: Match) -> MatchFacts:
        info = details.get(match.entry_id)
        return MatchFacts(
            bank_name=match.bank_name,
            bank_kind=match.bank_kind,
            labels=tuple(info.labels) if info else (),
            signal_type=match.signal_type,
            distance=match.distance,
            entry_id=match.entry_id,
        )

    return [one(m) for m in outcome.matches]


def decide(planned: Sequence[PlannedAction]) -> str:
    """The synchronous answer to an upload: ``block``, ``review`` or ``allow``."""
    types = {p.type for p in planned}
    if types & {"block", "remove"}:
        return "block"
    if "review" in types:
        return "review"
    return "allow"


class RuleSet:
    """An ordered list of rules; earlier rules win when two plan the same action."""

    def __init__(self, rules: Sequence[Rule], *, source: str = "<rules>") -> None:
        self.rules = tuple(rules)
        self.source = source

    def __repr__(self) -> str:
        return f"RuleSet({self.source!r}, {len(self.rules)} rule(s))"

    @classmethod
    def default(cls) -> RuleSet:
        """Any match in a ``known`` bank: block the content and queue it for review."""
        rule = Rule(
            name="default: known material",
            actions=(ActionSpec("block"), ActionSpec("review")),
        )
        return cls([rule], source="<default rules>")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RuleSet:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleError(f"{where}: cannot read rules file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise RuleError(f"{where}: rules file is not UTF-8 text") from None
        return cls.from_toml(text, source=where)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<rules>") -> RuleSet:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{source}: not valid TOML: {exc}") from None
        return cls(_parse_document(document, text, source), source=source)

    @classmethod
    def configured(cls, env: Mapping[str, str] | None = None) -> RuleSet:
        """The rules file named by ``JAGA_RULES_FILE``, or the default rules."""
        path = (os.environ if env is None else env).get(RULES_ENV, "")
        return cls.load(path) if path else cls.default()

    def evaluate(self, matches: Sequence[MatchFacts]) -> list[PlannedAction]:
        """The de-duplicated actions for one piece of content's matches, in rule order."""
        planned: dict[tuple[str, str], PlannedAction] = {}
        for rule in self.rules:
            hits = [fact for fact in matches if rule.applies_to(fact)]
            if not hits:
                continue
            best = min(hits, key=lambda f: (f.distance, f.bank_name, f.entry_id))
            reason = f"rule {rule.name!r}: {best.describe()}"
            if len(hits) > 1:
                reason += f" and {len(hits) - 1} more"
            for spec in rule.actions:
                key = (spec.type, spec.target)
                if key not in planned:
                    planned[key] = PlannedAction(
                        type=spec.type,
                        rule=rule.name,
                        params=dict(spec.params),
                        reason=reason,
                        target=spec.target,
                    )
        return list(planned.values())


# ---------------------------------------------------------------------------------- parsing


def _line_of(text: str, name: str) -> int | None:
    """Best effort: the line where a rule's name is written (TOML parsers keep no positions)."""
    pattern = re.compile(r"^\s*name\s*=\s*([\"'])" + re.escape(name) + r"\1", re.MULTILINE)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


class _Where:
    def __init__(self, source: str, text: str, index: int, name: str | None) -> None:
        self.source, self.text, self.index, self.name = source, text, index, name

    def error(self, what: str) -> RuleError:
        label = f"rule #{self.index}"
        line = None
        if self.name:
            label += f" {self.name!r}"
            line = _line_of(self.text, self.name)
        at = f"{self.source}:{line}" if line else self.source
        return RuleError(f"{at}: {label}: {what}")


def _parse_document(document: Mapping[str, Any], text: str, source: str) -> list[Rule]:
    unknown = sorted(set(document) - {"rules"})
    if unknown:
        raise RuleError(
            f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))} "
            "(a rules file holds [[rules]] tables)"
        )
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{source}: defines no rules (write one or more [[rules]] tables)")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules, start=1):
        if not isinstance(raw, dict):
            raise RuleError(f"{source}: rule #{index} must be a table")
        name = raw.get("name")
        where = _Where(source, text, index, name if isinstance(name, str) else None)
        rule = _parse_rule(raw, where)
        if rule.name in seen:
            raise where.error("another rule has the same name")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def _strings(
    raw: Mapping[str, Any], key: str, where: _Where, default: tuple[str, ...]
) -> tuple[str, ...]:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise where.error(f"{key} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _parse_rule(raw: Mapping[str, Any], where: _Where) -> Rule:
    name = raw.get("name")
    if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
        raise where.error(
            "needs a name: 1-128 letters, digits, spaces or . _ : - (starting with a letter "
            "or digit)"
        )
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise where.error(
            f"unknown key(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(sorted(_RULE_KEYS))}"
        )
    banks = _strings(raw, "banks", where, ("*",))
    if not banks:
        raise where.error("banks must name at least one bank or glob (or leave it out for all)")
    labels = _strings(raw, "labels", where, ())
    signal_types = _strings(raw, "signal_types", where, ())
    _check_signal_types(signal_types, where)
    bank_kinds = _strings(raw, "bank_kinds", where, (KNOWN,))
    bad_kinds = [k for k in bank_kinds if k not in BANK_KINDS]
    if bad_kinds or not bank_kinds:
        raise where.error(f"bank_kinds must be some of {', '.join(BANK_KINDS)}")
    max_distance = raw.get("max_distance")
    if max_distance is not None and (
        isinstance(max_distance, bool) or not isinstance(max_distance, int) or max_distance < 0
    ):
        raise where.error(f"max_distance must be a whole number >= 0, got {max_distance!r}")
    actions = raw.get("actions")
    if not isinstance(actions, list) or not actions:
        raise where.error(
            'needs actions, e.g. actions = ["block", "review"] '
            '(or { type = "webhook", url = ..., secret_env = ... })'
        )
    return Rule(
        name=name,
        banks=banks,
        labels=labels,
        signal_types=signal_types,
        max_distance=max_distance,
        bank_kinds=bank_kinds,
        actions=tuple(_parse_action(a, i, where) for i, a in enumerate(actions, start=1)),
    )


def _check_signal_types(names: tuple[str, ...], where: _Where) -> None:
    import jaga.signals  # noqa: F401  (registers the built-in signal types)
    from jaga.signals.registry import signal_type_names

    known = signal_type_names()
    bad = [n for n in names if n not in known]
    if bad:
        raise where.error(
            f"unknown signal type(s) {', '.join(map(repr, bad))}; expected some of "
            f"{', '.join(known)}"
        )


def _parse_action(raw: object, index: int, where: _Where) -> ActionSpec:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise where.error(f"action #{index} must be a type name or a table with a type")
    kind = raw.get("type")
    if kind not in ACTION_TYPES:
        raise where.error(
            f"action #{index}: unknown action type {kind!r}; expected one of "
            f"{', '.join(ACTION_TYPES)}"
        )
    if kind != "webhook":
        extra = sorted(set(raw) - {"type"})
        if extra:
            raise where.error(
                f"action #{index} ({kind}) takes no parameters, got {', '.join(map(repr, extra))}"
            )
        return ActionSpec(kind, {})
    extra = sorted(set(raw) - _WEBHOOK_KEYS)
    if extra:
        raise where.error(
            f"action #{index} (webhook): unknown key(s) {', '.join(map(repr, extra))}; "
            "expected url, secret_env, event"
        )
    url = raw.get("url")
    if not isinstance(url, str) or not re.match(r"https?://[^\s/]+", url) or len(url) > 1024:
        raise where.error(f"action #{index} (webhook): url must be an http(s) URL, got {url!r}")
    secret_env = raw.get("secret_env")
    if not isinstance(secret_env, str) or not _ENV_NAME.fullmatch(secret_env):
        raise where.error(
            f"action #{index} (webhook): secret_env must name the environment variable that "
            f"holds the signing secret, got {secret_env!r}"
        )
    event = raw.get("event", DEFAULT_WEBHOOK_EVENT)
    if not isinstance(event, str) or not _EVENT.fullmatch(event):
        raise where.error(
            f"action #{index} (webhook): event must be lower-case letters, digits and . _ -, "
            f"got {event!r}"
        )
    return ActionSpec("webhook", {"url": url, "secret_env": secret_env, "event": event})
