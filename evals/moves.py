"""Which sentence a point opens with: the move the company made about the asker's problem.

`evals/moves.jsonl` holds, for gold questions and the cases the product answered them with,
every candidate move sentence (the case's What they did sentences; for a Chinese question its
Chinese key points), graded by a reader against the question: 2 the move a PM who asked would
want, 1 related or acceptable, 0 off the question. `elsewhere eval moves` scores the product's
pick (`app.points.quoted_point`, the path the answer takes) beside naive pickers from the same
run: the analyst's first sentence, shared words, and the question's cosine alone. No model.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import ElsewhereError

if TYPE_CHECKING:
    from app.retrieval import CaseHit, Retriever
    from app.settings import Settings
    from evals.gold import GoldQuestion

MOVES_PATH = Path(__file__).with_name("moves.jsonl")
GRADES = (0, 1, 2)


@dataclass(frozen=True)
class MoveItem:
    """One (question, case) pair: each candidate sentence with its grade."""

    qid: str
    case_id: str
    grades: dict[str, int]

    @property
    def answerable(self) -> bool:
        """Whether some sentence of the case is the move the question asks about."""
        return 2 in self.grades.values()


def load_moves(path: Path = MOVES_PATH) -> list[MoveItem]:
    """Read moves.jsonl; a malformed line is an error naming the line."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            grades = {str(s["text"]): int(s["grade"]) for s in row["sentences"]}
            if not grades or any(g not in GRADES for g in grades.values()):
                raise ValueError(f"grades must be one of {GRADES}")
            items.append(MoveItem(str(row["qid"]), str(row["case_id"]), grades))
        except (ValueError, TypeError, KeyError) as exc:
            raise ElsewhereError(f"{path} line {number}: not a graded move ({exc})") from None
    return items


Picker = Callable[["GoldQuestion", "CaseHit", list[str]], str | None]


def pickers(retriever: Retriever) -> dict[str, Picker]:
    """The product's pick and the naive ones, each given the question, the case as retrieved
    for it, and the case's candidate sentences. The naive rankings pass through the same
    checks as the product's (a sentence naming a company that is not among the cases given
    cannot be shown), so the rows compare the ranking alone."""
    from app.checks import Company
    from app.extract import SentencePicker
    from app.points import Checker, Point, case_text, quoted_point

    matcher = retriever.matcher
    multilingual = matcher.embeddings if matcher is not None else None
    encoder = SentencePicker(multilingual, retriever.encoder("minilm"))
    use_only = SentencePicker(multilingual)
    words = SentencePicker(None)
    known = [Company(r.company, r.company_zh) for r in retriever.records.values()]

    def checker(question: GoldQuestion, hit: CaseHit) -> Checker:
        return Checker(known, [hit.record], question.lang, question.q)

    def product(question: GoldQuestion, hit: CaseHit, _: list[str]) -> str | None:
        for item in quoted_point(1, hit, question.q, checker(question, hit), encoder):
            if isinstance(item, Point):
                return item.fields.get("did")
        return None

    def naive(rank: Callable[[str, list[str]], list[str]]) -> Picker:
        def pick(question: GoldQuestion, hit: CaseHit, candidates: list[str]) -> str | None:
            check, source = checker(question, hit), case_text(hit.record)
            ranked = rank(question.q, candidates)
            return next((s for s in ranked if check.passes(s, source)), None)

        return pick

    return {
        "product": product,
        "first sentence": naive(lambda q, c: c),
        "shared words": naive(words.best),
        "question cosine (USE)": naive(use_only.best),
    }


def evaluate_moves(
    retriever: Retriever, questions: Sequence[GoldQuestion], items: Sequence[MoveItem]
) -> dict[str, Any]:
    """Each picker's pick graded, per split: `good` the share of answerable pairs whose pick
    is a grade-2 move, `fits` the share of all pairs picked at grade 1 or 2, `ungraded` picks
    the set does not know (a case edited since it was graded)."""
    from app.extract import did_candidates
    from app.retrieval import CaseHit
    from ingest.schema import Market

    by_id = {q.id: q for q in questions}
    chosen = pickers(retriever)
    picks: dict[str, list[tuple[str, MoveItem, str | None]]] = {name: [] for name in chosen}
    searched: dict[str, dict[str, CaseHit]] = {}
    for item in items:
        question = by_id.get(item.qid)
        record = retriever.records.get(item.case_id)
        if question is None or record is None:
            continue
        if question.id not in searched:
            asker = Market(question.asker) if question.asker else None
            result = retriever.search(question.q, k=10, asker=asker)
            searched[question.id] = {h.record.case_id: h for h in result.hits}
        hit = searched[question.id].get(item.case_id) or CaseHit(record, 0.0)
        candidates = did_candidates(record, question.lang)
        for name, pick in chosen.items():
            picks[name].append((question.split, item, pick(question, hit, candidates)))
    return {
        name: {split: _scores([(i, p) for s, i, p in rows if s == split]) for split in _splits()}
        for name, rows in picks.items()
    }


def run_moves_eval(
    settings: Settings, out: Path, status: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Path]]:
    """`elsewhere eval moves`: open the index, grade every picker, write JSON and Markdown."""
    import time

    from app.retrieval import Retriever
    from evals.runner import checked_gold

    questions = checked_gold(settings)
    items = load_moves()
    status("opening the index")
    retriever = Retriever.open(settings)
    status(f"picking moves for {len(items)} graded (question, case) pairs")
    report = evaluate_moves(retriever, questions, items)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = {"json": out / f"moves-{stamp}.json", "markdown": out / f"moves-{stamp}.md"}
    paths["json"].write_text(json.dumps(report, indent=1), "utf-8")
    paths["markdown"].write_text(moves_markdown(report) + "\n", "utf-8")
    return report, paths


def _splits() -> tuple[str, ...]:
    from evals.gold import SPLITS

    return SPLITS


def _scores(rows: Sequence[tuple[MoveItem, str | None]]) -> dict[str, Any]:
    graded = [(item, item.grades.get(pick or "")) for item, pick in rows]
    known = [(item, g) for item, g in graded if g is not None]
    answerable = [g for item, g in known if item.answerable]
    return {
        "pairs": len(rows),
        "good": _share(sum(g == 2 for g in answerable), len(answerable)),
        "fits": _share(sum(g >= 1 for _, g in known), len(known)),
        "mean_grade": round(statistics.mean(g for _, g in known), 3) if known else None,
        "ungraded": len(rows) - len(known),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def moves_markdown(report: dict[str, Any]) -> str:
    """One row per picker and split."""
    lines = [
        "| picker | split | pairs | good move (grade 2, of answerable) | fits (grade >= 1) "
        "| mean grade | ungraded |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, splits in report.items():
        for split, s in splits.items():
            lines.append(
                f"| {name} | {split} | {s['pairs']} | {s['good']} | {s['fits']} "
                f"| {s['mean_grade']} | {s['ungraded']} |"
            )
    return "\n".join(lines)
