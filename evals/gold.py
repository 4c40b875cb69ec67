"""Gold questions: how a product manager asks, with graded relevant cases (2 direct, 1 analogue)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.errors import ElsewhereError

GOLD_PATH = Path(__file__).with_name("gold.jsonl")
SPLITS = ("tune", "holdout")
# "plain": the library's own words; the hard kinds are how PMs ask in meetings; "no-match":
# nothing in the library answers it (relevant is {}), used to measure the weak-result signal.
KINDS = ("plain", "mechanism", "analogy", "failure", "region", "jargon", "no-match")
NO_MATCH = "no-match"


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    q: str
    lang: str
    asker: str | None
    market: str | None
    relevant: dict[str, int]
    split: str
    kind: str = "plain"  # one of KINDS; "no-match": no case answers it, the product must say so

    @property
    def no_match(self) -> bool:
        return self.kind == NO_MATCH


T = TypeVar("T")


def read_jsonl(path: Path, build: Callable[[Any], T], what: str) -> list[T]:
    """`build(row)` for every non-blank line of a JSONL file; a line that is not JSON or that
    `build` rejects (ValueError, TypeError, KeyError) is an error naming the file and line."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(build(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise ElsewhereError(f"{path} line {number}: not {what} ({exc})") from None
    return items


def load_gold(path: Path = GOLD_PATH) -> list[GoldQuestion]:
    """Read gold.jsonl; a malformed line is an error naming the line."""
    return read_jsonl(path, lambda row: GoldQuestion(**row), "a gold question")


def gold_problems(questions: list[GoldQuestion], case_markets: dict[str, str]) -> list[str]:
    """Everything wrong with the gold set against the library: unknown ids, wrong markets..."""
    problems = []
    seen: set[str] = set()
    for question in questions:
        where = f"gold {question.id}"
        if question.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(question.id)
        if question.split not in SPLITS:
            problems.append(f"{where}: split must be one of {SPLITS}, got {question.split!r}")
        if question.kind not in KINDS:
            problems.append(f"{where}: kind must be one of {KINDS}, got {question.kind!r}")
        if question.no_match and question.relevant:
            problems.append(f"{where}: a no-match question must have relevant {{}}")
        if not question.no_match and 2 not in question.relevant.values():
            problems.append(f"{where}: needs at least one case graded 2")
        for case_id, grade in question.relevant.items():
            if case_id not in case_markets:
                problems.append(f"{where}: names case {case_id!r}, which does not exist")
            elif question.market and case_markets[case_id] != question.market:
                problems.append(f"{where}: {case_id} is not in market {question.market}")
            if grade not in (1, 2):
                problems.append(f"{where}: grade for {case_id} must be 1 or 2, got {grade}")
    return problems
