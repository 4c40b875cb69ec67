"""Industries a question names, and whether the library has a case in them.

One of the two "no good match" signals (app/retrieval.py): a question about, say, funeral
services, when no case in the library is about funerals, gets its closest cases shown as
"closest, not a direct answer" even when the encoder finds some text that looks similar
(a subscription case for "has anyone found a subscription model for funerals?"). The words are
in app/data/industries.yaml; coverage is computed from the cases' own front matter each time
the library loads, so adding a case changes the verdict without editing the vocabulary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.state import CaseRecord

INDUSTRIES_PATH = Path(__file__).with_name("data") / "industries.yaml"


@dataclass(frozen=True)
class Term:
    industry: str
    text: str
    pattern: re.Pattern[str]
    key: str  # a literal every match contains: text without it is skipped before the regex


@functools.cache
def _entries() -> dict[str, dict[str, list[str]]]:
    import yaml

    loaded = yaml.safe_load(INDUSTRIES_PATH.read_text(encoding="utf-8")) or {}
    return {
        str(k): {lang: [str(w) for w in v.get(lang, [])] for lang in ("en", "zh")}
        for k, v in loaded.items()
    }


def industry_label(industry: str, language: str) -> str:
    """How an answer names an industry: its id in words (English) or its first Chinese term."""
    words = _entries().get(industry, {}).get("zh", []) if language == "zh" else []
    return words[0] if words else industry.replace("-", " ")


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """An English phrase as whole words in lowercased text: spaces or hyphens between its
    words, a plural ending allowed ("food delivery" matches "food-delivery apps")."""
    body = r"[\s-]+".join(re.escape(part) for part in phrase.lower().split())
    return re.compile(rf"(?<![a-z0-9]){body}(?:e?s)?(?![a-z0-9])")


@functools.cache
def _terms() -> tuple[Term, ...]:
    """Every term, longest first (so an overlapping shorter term loses)."""
    terms = []
    for industry, words in _entries().items():
        for word in words["en"]:
            terms.append(
                Term(industry, word, phrase_pattern(word), (word.lower().split() or [""])[0])
            )
        for word in words["zh"]:
            terms.append(Term(industry, word, re.compile(re.escape(word)), word))
    return tuple(sorted(terms, key=lambda t: -len(t.text)))


def industries_named(text: str) -> list[str]:
    """The industries `text` names, in order of first mention; overlapping terms resolve to
    the longest (宠物医院 -> pet-care, not healthcare)."""
    lowered = text.lower()
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    for term in _terms():
        if term.key not in lowered:
            continue  # the regex cannot match (a C substring test: 600 terms x 7k cases at 100k)
        for match in term.pattern.finditer(lowered):
            start, end = match.span()
            if any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            found.append((start, term.industry))
    return list(dict.fromkeys(industry for _, industry in sorted(found)))


def covered_industries(records: Iterable[CaseRecord]) -> frozenset[str]:
    """The industries at least one case is about: named in its sector, company, summary or
    problems (what the case is about, not what its body mentions in passing)."""
    covered: set[str] = set()
    for record in records:
        covered.update(industries_named(case_about(record)))
    return frozenset(covered)


def case_about(record: CaseRecord) -> str:
    """What a case is about: its sector, company, title, summary and problems."""
    parts = [record.sector.replace("-", " "), record.company, record.title, record.summary]
    return " ".join([*parts, *record.problems])
