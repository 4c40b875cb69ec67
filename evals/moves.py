"""Which sentences a point is made of: the move the company made about the asker's problem,
and what happened.

`evals/moves.jsonl` holds, for gold questions and the cases the product answered them with,
every candidate move sentence (the case's What they did sentences; for a Chinese question its
Chinese 做法 key points) and every candidate result sentence (its Results sentences; Chinese:
结果), each graded by a reader against the question: 2 what a PM who asked would want, 1 related
or acceptable, 0 off the question. `elsewhere eval moves` scores the product's picks
(`app.points.quoted_point`, the path the answer takes) beside naive pickers from the same run:
the analyst's first sentence, shared words, and the question's USE cosine alone. With
ELSEWHERE_LLM_JUDGE_MOVES=3 the product's row includes the configured model's judgement of the
best few moves (app/judge.py), and "product, encoders only" is the same path without it; by
default (0), with ELSEWHERE_LLM=none or with `--no-judge`, no model runs and the product row is
the encoders' alone.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.judge import MoveJudge
    from app.retrieval import CaseHit, Retriever
    from app.settings import Settings
    from evals.gold import GoldQuestion

MOVES_PATH = Path(__file__).with_name("moves.jsonl")
GRADES = (0, 1, 2)


PARTS = ("move", "result")


@dataclass(frozen=True)
class MoveItem:
    """One (question, case) pair: each candidate move sentence with its grade, and each
    candidate result sentence with its grade (empty where results were not graded)."""

    qid: str
    case_id: str
    grades: dict[str, int]
    results: dict[str, int] = field(default_factory=dict)

    def graded(self, part: str) -> dict[str, int]:
        return self.grades if part == "move" else self.results


def load_moves(path: Path = MOVES_PATH) -> list[MoveItem]:
    """Read moves.jsonl; a malformed line is an error naming the line."""
    from evals.gold import read_jsonl

    return read_jsonl(path, _move_item, "a graded move")


def _move_item(row: dict[str, Any]) -> MoveItem:
    grades = _grades(row["sentences"])
    if not grades:
        raise ValueError("no graded sentences")
    results = _grades(row.get("results", []))
    return MoveItem(str(row["qid"]), str(row["case_id"]), grades, results)


def _grades(sentences: list[dict[str, Any]]) -> dict[str, int]:
    grades = {str(s["text"]): int(s["grade"]) for s in sentences}
    if any(g not in GRADES for g in grades.values()):
        raise ValueError(f"grades must be one of {GRADES}")
    return grades


Pick = tuple[str | None, str | None]  # (move, result)
Picker = Callable[["GoldQuestion", "CaseHit"], Pick]


def pickers(retriever: Retriever, judge: MoveJudge | None = None) -> dict[str, Picker]:
    """The product's picks (with `judge`, also without it) and the naive ones, each given the
    question and the case as retrieved for it. The naive rankings pass through the same
    checks as the product's (a sentence naming a company that is not among the cases given
    cannot be shown), so the rows compare the ranking alone."""
    from app.checks import Company
    from app.extract import SentencePicker, did_candidates, result_candidates
    from app.points import Checker, Point, case_text, first_passing, quoted_point

    matcher = retriever.matcher
    multilingual = matcher.embeddings if matcher is not None else None
    encoder = SentencePicker(multilingual, retriever.encoder("minilm"))
    use_only = SentencePicker(multilingual)
    words = SentencePicker(None)
    known = [Company(r.company, r.company_zh) for r in retriever.records.values()]

    def checker(question: GoldQuestion, hit: CaseHit) -> Checker:
        return Checker(known, [hit.record], question.lang, question.q)

    def product(judged: MoveJudge | None) -> Picker:
        def pick(question: GoldQuestion, hit: CaseHit) -> Pick:
            check = checker(question, hit)
            for item in quoted_point(1, hit, question.q, check, encoder, judged):
                if isinstance(item, Point):
                    return item.fields.get("did"), item.fields.get("result")
            return None, None

        return pick

    def naive(rank: Callable[[str, list[str]], list[str]]) -> Picker:
        def pick(question: GoldQuestion, hit: CaseHit) -> Pick:
            check, source = checker(question, hit), case_text(hit.record)
            moves = rank(question.q, did_candidates(hit.record, question.lang))
            move = first_passing(moves, check, source)
            results = rank(question.q, result_candidates(hit.record, question.lang))
            return move, first_passing([s for s in results if s != move], check, source)

        return pick

    ours = {"product": product(judge)}
    if judge is not None:
        ours["product, encoders only"] = product(None)
    return {
        **ours,
        "first sentence": naive(lambda q, c: c),
        "shared words": naive(words.best),
        "question cosine (USE)": naive(use_only.best),
    }


def evaluate_moves(
    retriever: Retriever,
    questions: Sequence[GoldQuestion],
    items: Sequence[MoveItem],
    judge: MoveJudge | None = None,
    on_pair: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Each picker's move and result graded, per split: `good` the share of pairs with a
    grade-2 sentence whose pick is one, `fits` the share of pairs picked at grade 1 or 2,
    `ungraded` picks the set does not know (a case edited since it was graded)."""
    from app.retrieval import CaseHit
    from ingest.schema import Market

    by_id = {q.id: q for q in questions}
    chosen = pickers(retriever, judge)
    picks: dict[str, list[tuple[str, MoveItem, Pick]]] = {name: [] for name in chosen}
    searched: dict[str, dict[str, CaseHit]] = {}
    for done, item in enumerate(items, start=1):
        if on_pair is not None:
            on_pair(done, len(items))
        question = by_id.get(item.qid)
        record = retriever.records.get(item.case_id)
        if question is None or record is None:
            continue
        if question.id not in searched:
            asker = Market(question.asker) if question.asker else None
            result = retriever.search(question.q, k=10, asker=asker)
            searched[question.id] = {h.record.case_id: h for h in result.hits}
        hit = searched[question.id].get(item.case_id) or CaseHit(record, 0.0)
        for name, pick in chosen.items():
            picks[name].append((question.split, item, pick(question, hit)))
    return {
        name: {
            part: {
                split: _scores(
                    [
                        (i.graded(part), p[index])
                        for s, i, p in rows
                        if s == split and i.graded(part)
                    ]
                )
                for split in _splits()
            }
            for index, part in enumerate(PARTS)
        }
        for name, rows in picks.items()
    }


def run_moves_eval(
    settings: Settings, out: Path, status: Callable[[str], None], judge: bool = True
) -> tuple[dict[str, Any], dict[str, Path]]:
    """`elsewhere eval moves`: open the index (and, with `judge`, the configured model), grade
    every picker, write JSON and Markdown."""
    import time

    from app.judge import MIN_CANDIDATES
    from app.session import answer_session
    from evals.runner import checked_gold

    questions = checked_gold(settings)
    items = load_moves()
    judge = judge and settings.llm_judge_moves >= MIN_CANDIDATES
    if not judge:  # no model to start
        settings = settings.model_copy(update={"llm": "none"})
    status("opening the index" + (" and starting the model" if judge else ""))
    with answer_session(settings) as engine:
        if judge and engine.judge is None:
            status(f"no model judge ({engine.load_notice})")
        status(f"picking moves for {len(items)} graded (question, case) pairs")

        def progress(done: int, total: int) -> None:
            if engine.judge is not None and (done % 25 == 0 or done == total):
                status(f"judged {done}/{total} pairs")

        report = evaluate_moves(engine.retriever, questions, items, engine.judge, progress)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = {"json": out / f"moves-{stamp}.json", "markdown": out / f"moves-{stamp}.md"}
    paths["json"].write_text(json.dumps(report, indent=1), "utf-8")
    paths["markdown"].write_text(moves_markdown(report) + "\n", "utf-8")
    return report, paths


def _splits() -> tuple[str, ...]:
    from evals.gold import SPLITS

    return SPLITS


def _scores(rows: Sequence[tuple[dict[str, int], str | None]]) -> dict[str, Any]:
    """`rows`: each pair's graded sentences and the sentence picked for it (None: nothing)."""
    graded = [(grades, grades.get(pick or "")) for grades, pick in rows]
    known = [(grades, g) for grades, g in graded if g is not None]
    answerable = [g for grades, g in known if 2 in grades.values()]
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
    """One row per picker, part (move, result) and split."""
    lines = [
        "| picker | part | split | pairs | good (grade 2, of pairs that have one) "
        "| fits (grade >= 1) | mean grade | ungraded |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, parts in report.items():
        for part, splits in parts.items():
            for split, s in splits.items():
                lines.append(
                    f"| {name} | {part} | {split} | {s['pairs']} | {s['good']} | {s['fits']} "
                    f"| {s['mean_grade']} | {s['ungraded']} |"
                )
    return "\n".join(lines)
