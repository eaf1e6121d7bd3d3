"""The rule catalogue: the spec every check in the suite is traced to.

The data lives in ``conformance/data/rules.toml``; this module only loads and validates it.
Layer: catalogue. Imports nothing else from the project.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

Strictness = Literal["MUST", "SHOULD", "INFO"]
ExpectKind = Literal["error", "success", "invariant"]

STRICTNESS_LEVELS: tuple[Strictness, ...] = ("MUST", "SHOULD", "INFO")
EXPECT_KINDS: tuple[ExpectKind, ...] = ("error", "success", "invariant")
SOURCE_KINDS = ("doc", "recording", "service-model")


class CatalogueError(ValueError):
    """The catalogue data file is malformed."""


@dataclass(frozen=True)
class Source:
    """Where a rule comes from: an AWS document, a recording of real AWS, or botocore's service model."""

    kind: str
    title: str
    quote: str
    url: str = ""
    section: str = ""
    recording: str = ""  # case id in conformance/data/aws_recordings.json, for kind == "recording"

    def cite(self) -> str:
        where = f"{self.title}, {self.section}" if self.section else self.title
        if self.recording:
            where = f"{where} [{self.recording}]"
        return where


@dataclass(frozen=True)
class Rule:
    id: str
    group: str
    title: str
    statement: str
    operations: tuple[str, ...]
    strictness: Strictness
    expect: ExpectKind
    sources: tuple[Source, ...]
    # For error rules: every error code a correct AWS could return.
    error_codes: frozenset[str] = frozenset()
    # Human-readable list of every outcome a correct AWS could give (the "accept any of these" set).
    accepted: tuple[str, ...] = ()
    notes: str = ""
    checked: bool = True  # False: documented behaviour this suite cannot observe; always "not-run"

    @property
    def fails_implementation(self) -> bool:
        """INFO rules are reported but never make a run non-conformant."""
        return self.strictness != "INFO"


@dataclass(frozen=True)
class Catalogue:
    rules: tuple[Rule, ...]
    version: str
    _by_id: Mapping[str, Rule] = field(repr=False, compare=False, default_factory=dict)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def __getitem__(self, rule_id: str) -> Rule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            raise KeyError(f"unknown rule ID {rule_id!r}") from None

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.group for rule in self.rules))

    def select(self, selectors: Iterable[str]) -> tuple[Rule, ...]:
        """Rules named by ID or by group; raises KeyError naming the first unknown selector."""
        chosen: dict[str, Rule] = {}
        for selector in selectors:
            selector = selector.strip()
            if not selector:
                continue
            if selector in self._by_id:
                chosen[selector] = self._by_id[selector]
            elif selector in self.groups:
                chosen.update((r.id, r) for r in self.rules if r.group == selector)
            else:
                raise KeyError(f"unknown rule ID or group {selector!r}")
        return tuple(r for r in self.rules if r.id in chosen)


def _source(raw: Mapping[str, object], rule_id: str) -> Source:
    kind = str(raw.get("kind", ""))
    if kind not in SOURCE_KINDS:
        raise CatalogueError(f"{rule_id}: source kind {kind!r} not one of {SOURCE_KINDS}")
    title, quote = str(raw.get("title", "")), str(raw.get("quote", ""))
    if not title or not quote:
        raise CatalogueError(f"{rule_id}: every source needs a title and a quote")
    recording = str(raw.get("recording", ""))
    if kind == "recording" and not recording:
        raise CatalogueError(f"{rule_id}: a recording source names its case")
    return Source(kind, title, quote, str(raw.get("url", "")), str(raw.get("section", "")), recording)


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _rule(raw: Mapping[str, object]) -> Rule:
    rule_id = str(raw.get("id", ""))
    if not rule_id:
        raise CatalogueError(f"rule without id: {raw!r}")
    strictness = raw.get("strictness")
    if strictness not in STRICTNESS_LEVELS:
        raise CatalogueError(f"{rule_id}: strictness {strictness!r} not one of {STRICTNESS_LEVELS}")
    expect = raw.get("expect")
    if expect not in EXPECT_KINDS:
        raise CatalogueError(f"{rule_id}: expect {expect!r} not one of {EXPECT_KINDS}")
    raw_sources = raw.get("sources", [])
    if not isinstance(raw_sources, list) or not raw_sources:
        raise CatalogueError(f"{rule_id}: at least one source is required")
    codes = frozenset(str(c) for c in _list(raw.get("error_codes")))
    if expect == "error" and not codes:
        raise CatalogueError(f"{rule_id}: an error rule lists its acceptable error codes")
    accepted = tuple(str(a) for a in _list(raw.get("accepted")))
    if expect != "error" and not accepted:
        raise CatalogueError(f"{rule_id}: a success or invariant rule lists its accepted outcomes")
    for key in ("group", "title", "statement"):
        if not raw.get(key):
            raise CatalogueError(f"{rule_id}: missing {key}")
    operations = tuple(str(o) for o in _list(raw.get("operations")))
    if not operations:
        raise CatalogueError(f"{rule_id}: missing operations")
    return Rule(
        id=rule_id,
        group=str(raw["group"]),
        title=str(raw["title"]),
        statement=str(raw["statement"]),
        operations=operations,
        strictness=strictness,
        expect=expect,
        sources=tuple(_source(s, rule_id) for s in raw_sources),
        error_codes=codes,
        accepted=accepted,
        notes=str(raw.get("notes", "")),
        checked=bool(raw.get("checked", True)),
    )


def parse_catalogue(text: str) -> Catalogue:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"rules.toml is not valid TOML: {exc}") from exc
    rules = tuple(_rule(raw) for raw in data.get("rule", []))
    by_id: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in by_id:
            raise CatalogueError(f"duplicate rule ID {rule.id}")
        by_id[rule.id] = rule
    return Catalogue(rules=rules, version=str(data.get("version", "0")), _by_id=by_id)


@cache
def load_catalogue() -> Catalogue:
    """The packaged catalogue, parsed once per process."""
    text = resources.files("conformance").joinpath("data/rules.toml").read_text(encoding="utf-8")
    return parse_catalogue(text)
