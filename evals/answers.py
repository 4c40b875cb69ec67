"""`elsewhere eval --answers`: run the answer chain on gold questions and check what it says.

Per answer: were the model's citations valid (before the checker removed bad ones), are all the
companies it cites or names from the requested market, how many gold companies it cited, and
how fast it was. Works with any provider; with `none` it checks the brief (no citations).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from evals.gold import GoldQuestion
from ingest.schema import Market

if TYPE_CHECKING:
    from app.chain import AnswerEngine


@dataclass
class AnswerCheck:
    id: str
    lang: str
    citations_made: int
    citations_valid: int
    cited_companies: list[str]
    named_wrong_market: list[str]
    gold_recall: float | None
    first_token_ms: float | None
    total_ms: float
    prompt_tokens: int
    notice: str | None


def check_answer(engine: AnswerEngine, question: GoldQuestion) -> AnswerCheck:
    asker = Market(question.asker) if question.asker else None
    answer = engine.ask(question.q, asker=asker)
    made = len(answer.citations) + len(answer.invalid_citations)
    records = engine.retriever.records
    cited = sorted({c.company for c in answer.citations})
    wrong = []
    if question.market:
        wrong = sorted(
            {c.company for c in answer.citations if records[c.case_id].market != question.market}
        )
        wrong += [w for w in answer.warnings if "(market " in w]
    gold = {
        records[cid].company
        for cid, grade in question.relevant.items()
        if grade == 2 and cid in records
    }
    recall = len(gold & set(cited)) / len(gold) if gold and engine.chat_model else None
    return AnswerCheck(
        question.id,
        question.lang,
        made,
        len(answer.citations),
        cited,
        wrong,
        recall,
        answer.timings["first_token_ms"],
        float(answer.timings["total_ms"] or 0),
        answer.prompt_tokens,
        answer.notice,
    )


def summarize(checks: list[AnswerCheck], market_questions: set[str]) -> dict[str, Any]:
    made = sum(c.citations_made for c in checks)
    valid = sum(c.citations_valid for c in checks)
    scoped = [c for c in checks if c.id in market_questions]
    firsts = [c.first_token_ms for c in checks if c.first_token_ms is not None]
    recalls = [c.gold_recall for c in checks if c.gold_recall is not None]
    return {
        "answers": len(checks),
        "model_citation_validity": round(valid / made, 3) if made else None,
        "shown_citation_validity": 1.0,  # invalid citations are removed before display
        "answers_with_citations": sum(c.citations_valid > 0 for c in checks),
        "market_questions": len(scoped),
        "share_only_requested_market": (
            round(sum(not c.named_wrong_market for c in scoped) / len(scoped), 3)
            if scoped
            else None
        ),
        "gold_company_recall": round(statistics.mean(recalls), 3) if recalls else None,
        "median_first_token_ms": round(statistics.median(firsts), 1) if firsts else None,
        "median_total_ms": round(statistics.median(c.total_ms for c in checks), 1),
        "median_prompt_tokens": statistics.median(c.prompt_tokens for c in checks),
        "degraded": sum(c.notice is not None for c in checks),
        "per_answer": [asdict(c) for c in checks],
    }


def run_answer_eval(
    engine: AnswerEngine, questions: list[GoldQuestion], limit: int | None, status: Any
) -> dict[str, Any]:
    picked = _spread(questions, limit) if limit else questions
    checks = []
    for n, question in enumerate(picked, start=1):
        status(f"answer {n}/{len(picked)}: {question.id}")
        checks.append(check_answer(engine, question))
    report = summarize(checks, {q.id for q in picked if q.market})
    report["provider"] = engine.provider
    return report


def _spread(questions: list[GoldQuestion], limit: int) -> list[GoldQuestion]:
    """A deterministic mix: English and Chinese, with and without a market."""
    zh = [q for q in questions if q.lang == "zh"]
    en = [q for q in questions if q.lang != "zh"]
    n_zh = max(1, limit // 4) if zh else 0
    return sorted(en[: limit - n_zh] + zh[:n_zh], key=lambda q: q.id)


def answers_markdown(report: dict[str, Any]) -> str:
    keys = [
        "answers",
        "model_citation_validity",
        "shown_citation_validity",
        "answers_with_citations",
        "share_only_requested_market",
        "gold_company_recall",
        "median_first_token_ms",
        "median_total_ms",
        "median_prompt_tokens",
        "degraded",
    ]
    lines = [f"Answer checks ({report['provider']})", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {report[k]} |" for k in keys]
    return "\n".join(lines) + "\n"
