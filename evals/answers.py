"""`elsewhere eval answers`: does the answer help a PM, compared with what a user would build?

The same questions go through two systems on the same model, in the same run:
- **elsewhere**: the product's chain (`app.chain.AnswerEngine`);
- **baseline**: a plain LangChain "stuff" chain, RecursiveCharacterTextSplitter + Chroma
  similarity search, top 4 chunks pasted into one prompt (`prompts/baseline.yaml`).

Each shown answer is cut into points (ours: one per case; the baseline's: its bullets or
paragraphs) and every point goes through the checks of `app.checks`, the same rules the chain
applies before it shows anything. A metric here can fail the bad thing: a bare list of names is
a names-only point, a copied summary is a verbatim copy, an invented figure is unfaithful, an
uncited point has no valid citation and none of its figures count as found.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.checks import (
    CITATION,
    NAMES_ONLY_WORDS,
    REPEAT_SIMILARITY,
    Company,
    content_words,
    copy_ratio,
    figures,
    foreign_companies,
    language_ok,
    similarity,
    unsupported_figures,
)
from app.points import case_text
from evals.gold import GoldQuestion
from ingest.schema import Market

if TYPE_CHECKING:
    from langchain_chroma import Chroma

    from app.chain import AnswerEngine
    from app.settings import Settings
    from ingest.state import CaseRecord

Status = Callable[[str], None]
SUBSET = 40  # the fixed answer-eval subset: all no-match questions, >= 10 Chinese, the rest English
SUBSET_ZH = 12
BASELINE_CHUNKS = 4
BASELINE_MAX_TOKENS = 160  # as much as one of our generations (llm_max_answer_tokens)
SYSTEMS = ("elsewhere", "baseline")
DONT_KNOW = re.compile(
    r"(don't|do not|doesn't|does not) (know|mention|contain|provide|include)|no (information|"
    r"relevant|mention)|not (mentioned|provided|contain)|cannot (answer|find|be determined)|"
    r"not possible to|不知道|没有(提到|相关|直接)|无法|未提及|并非直接",
    re.IGNORECASE,
)
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)、])\s+")


@dataclass(frozen=True)
class CitedPoint:
    text: str
    cases: tuple[str, ...]  # the cases it cites (validly); empty: uncited
    closing: bool = False  # the closing "what to borrow" line: not a point about one case


@dataclass
class Shown:
    """What one system showed for one question, ready to check."""

    system: str
    text: str
    points: list[CitedPoint]
    given: list[str]  # case ids the system answered from
    said_no_match: bool
    brief_ms: float | None = None
    first_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0
    notice: str | None = None
    quoted: int = 0  # points written from the case's own sentences, not by the model


@dataclass
class AnswerCheck:
    id: str
    system: str
    lang: str
    kind: str
    points: int
    names_only: int
    cited_points: int
    figures: int
    figures_found: int
    foreign: list[str]
    repeats: int
    language_ok: bool
    copies: int
    gold_recall: float | None
    said_no_match: bool
    brief_ms: float | None
    first_ms: float | None
    total_ms: float
    prompt_tokens: int
    notice: str | None
    quoted: int = 0
    unfaithful: list[str] = field(default_factory=list)
    on_topic: int = 0  # points on a case the gold set marks relevant to the question


def check_shown(
    shown: Shown, question: GoldQuestion, records: dict[str, CaseRecord]
) -> AnswerCheck:
    """Every measure of one shown answer."""
    known = [Company(r.company, r.company_zh) for r in records.values()]
    names = [name for c in known for name in c.names()]
    allowed = [Company(records[c].company, records[c].company_zh) for c in shown.given]
    case_points = [p for p in shown.points if not p.closing]
    found, unfaithful = 0, []
    for point in shown.points:
        source = "\n".join(case_text(records[c]) for c in point.cases)
        shown_text = CITATION.sub(" ", point.text)
        missing = unsupported_figures(shown_text, source)
        found += len(figures(shown_text)) - len(missing)
        unfaithful += missing
    gold = {cid for cid, grade in question.relevant.items() if grade == 2}
    cited = {c for p in case_points for c in p.cases}
    return AnswerCheck(
        id=question.id,
        system=shown.system,
        lang=question.lang,
        kind=question.kind,
        points=len(case_points),
        names_only=sum(content_words(p.text, names) < NAMES_ONLY_WORDS for p in case_points),
        cited_points=sum(bool(p.cases) for p in case_points),
        figures=found + len(unfaithful),
        figures_found=found,
        foreign=foreign_companies(shown.text, known, allowed),
        repeats=_repeats([p.text for p in case_points]),
        language_ok=language_ok(shown.text, question.lang),
        copies=sum(_is_copy(p, records) for p in case_points),
        gold_recall=len(gold & cited) / len(gold) if gold else None,
        said_no_match=shown.said_no_match,
        brief_ms=shown.brief_ms,
        first_ms=shown.first_ms,
        total_ms=shown.total_ms,
        prompt_tokens=shown.prompt_tokens,
        notice=shown.notice,
        quoted=shown.quoted,
        unfaithful=unfaithful,
        on_topic=sum(
            bool(p.cases) and all(question.relevant.get(c, 0) > 0 for c in p.cases)
            for p in case_points
        ),
    )


def _repeats(texts: Sequence[str]) -> int:
    return sum(
        any(similarity(text, earlier) >= REPEAT_SIMILARITY for earlier in texts[:i])
        for i, text in enumerate(texts)
    )


def _is_copy(point: CitedPoint, records: dict[str, CaseRecord]) -> bool:
    from app.checks import COPY_SHARE

    return any(copy_ratio(point.text, records[c].summary) >= COPY_SHARE for c in point.cases)


# --- the two systems -------------------------------------------------------------------------


def ours(engine: AnswerEngine, question: GoldQuestion) -> Shown:
    asker = Market(question.asker) if question.asker else None
    answer = engine.ask(question.q, asker=asker)
    points = [CitedPoint(p.text, (p.case_id,)) for p in answer.points]
    given = [p.case_id for p in answer.points]
    if answer.transfer:
        points.append(CitedPoint(answer.transfer, tuple(given), closing=True))
    if answer.weak:
        given = [hit["case_id"] for hit in answer.cases[:3]]
    elif answer.notice or not answer.points:
        given = [hit["case_id"] for hit in answer.cases]  # the brief lists every matched case
    return Shown(
        system="elsewhere",
        text=answer.answer_markdown,
        points=points,
        given=given,
        said_no_match=answer.weak,
        brief_ms=answer.timings.brief_ms,
        first_ms=answer.timings.first_token_ms,
        total_ms=answer.timings.total_ms or 0.0,
        prompt_tokens=answer.prompt_tokens,
        notice=answer.notice,
        quoted=sum(p.quoted for p in answer.points),
    )


class StuffBaseline:
    """The answer chain a user would build from the LangChain tutorial, on our model."""

    def __init__(self, store: Chroma, chat_model: Any, encoding: Any):
        self.store = store
        self.chat_model = chat_model.bind(max_tokens=BASELINE_MAX_TOKENS)
        self.encoding = encoding

    def answer(self, question: GoldQuestion) -> Shown:
        import time

        from app.prompts import render

        started = time.perf_counter()
        docs = self.store.similarity_search(question.q, k=BASELINE_CHUNKS)
        brief_ms = _ms(started)
        context = "\n\n".join(f"[{n}] {doc.page_content}" for n, doc in enumerate(docs, 1))
        messages = render("baseline", context=context, question=question.q)
        parts: list[str] = []
        first = None
        notice = None
        try:
            for chunk in self.chat_model.stream(messages):
                if chunk.content and first is None:
                    first = _ms(started)
                parts.append(str(chunk.content))
        except Exception as exc:  # noqa: BLE001 - a failed baseline answer is measured as empty
            notice = type(exc).__name__
        text = "".join(parts).strip()
        cases = [str(doc.metadata["case_id"]) for doc in docs]
        return Shown(
            system="baseline",
            text=text,
            points=split_points(text, cases),
            given=sorted(set(cases)),
            said_no_match=bool(DONT_KNOW.search(text[:300])),
            brief_ms=brief_ms,
            first_ms=first,
            total_ms=_ms(started),
            prompt_tokens=sum(len(self.encoding.encode(str(m.content))) for m in messages),
            notice=notice,
        )


def split_points(text: str, cases: Sequence[str]) -> list[CitedPoint]:
    """A free-form answer's points: its bullets, else its paragraphs; [n] maps to chunk n."""
    lines = [line for line in text.splitlines() if line.strip()]
    bullets = [BULLET.sub("", line) for line in lines if BULLET.match(line)]
    chunks = bullets if len(bullets) >= 2 else [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    points = []
    for chunk in chunks:
        cited = []
        for match in CITATION.finditer(chunk):
            for part in re.split(r"\s*[,，]\s*", match.group(1)):
                n = int(part)
                if 1 <= n <= len(cases) and cases[n - 1] not in cited:
                    cited.append(cases[n - 1])
        points.append(CitedPoint(" ".join(chunk.split()), tuple(cited)))
    return points


# --- the run ---------------------------------------------------------------------------------


def answer_subset(questions: Sequence[GoldQuestion], size: int = SUBSET) -> list[GoldQuestion]:
    """The fixed subset: every no-match question, SUBSET_ZH Chinese, then English, by id."""
    by_id = sorted(questions, key=lambda q: q.id)
    picked = [q for q in by_id if q.no_match]
    zh = [q for q in by_id if q.lang == "zh" and not q.no_match]
    en = [q for q in by_id if q.lang != "zh" and not q.no_match]
    picked += _every_nth(zh, SUBSET_ZH)
    picked += _every_nth(en, max(0, SUBSET - len(picked)))
    if size < len(picked):  # a quick look: a spread of the same subset
        picked = _every_nth(sorted(picked, key=lambda q: (q.kind, q.lang, q.id)), size)
    return sorted(picked, key=lambda q: q.id)


def _every_nth(items: list[GoldQuestion], n: int) -> list[GoldQuestion]:
    if n <= 0 or not items:
        return []
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def run_answer_eval(
    engine: AnswerEngine,
    questions: list[GoldQuestion],
    limit: int | None,
    status: Status,
    baseline: StuffBaseline | None = None,
) -> dict[str, Any]:
    """Answer the subset with our chain (all first, so llama.cpp's prompt cache is ours), then
    with the baseline; check every answer; return the report (per answer and in aggregate)."""
    picked = answer_subset(questions, limit or SUBSET)
    records = engine.retriever.records
    shown: dict[str, list[Shown]] = {name: [] for name in SYSTEMS}
    for n, question in enumerate(picked, start=1):
        status(f"elsewhere {n}/{len(picked)}: {question.id}")
        shown["elsewhere"].append(ours(engine, question))
    if baseline is not None:
        for n, question in enumerate(picked, start=1):
            status(f"baseline {n}/{len(picked)}: {question.id}")
            shown["baseline"].append(baseline.answer(question))
    report: dict[str, Any] = {"provider": asdict(engine.provider), "questions": len(picked)}
    for system, answers in shown.items():
        if answers:
            checks = [check_shown(s, q, records) for s, q in zip(answers, picked, strict=True)]
            report[system] = summarize(checks, picked)
    report["texts"] = [
        {"id": q.id, "q": q.q, **{s: shown[s][i].text for s in SYSTEMS if shown[s]}}
        for i, q in enumerate(picked)
    ]
    return report


def summarize(checks: list[AnswerCheck], questions: Sequence[GoldQuestion]) -> dict[str, Any]:
    answered = [c for c in checks if c.kind != "no-match"]
    points = sum(c.points for c in checks)
    figure_total = sum(c.figures for c in checks)
    expected = {q.id for q in questions if q.no_match}
    said = {c.id for c in checks if c.said_no_match}
    recalls = [c.gold_recall for c in answered if c.gold_recall is not None]
    return {
        "answers": len(checks),
        "names_only_answers": sum(c.names_only > 0 for c in checks),
        "names_only_points": sum(c.names_only for c in checks),
        "points_per_answer": _round(statistics.mean(c.points for c in answered))
        if answered
        else None,
        "cited_point_share": _share(sum(c.cited_points for c in checks), points),
        "figure_faithfulness": _share(sum(c.figures_found for c in checks), figure_total),
        "figures": figure_total,
        "foreign_companies_shown": sum(len(c.foreign) for c in checks),
        "repeated_points": sum(c.repeats for c in checks),
        "language_match": _share(sum(c.language_ok for c in checks), len(checks)),
        "verbatim_copy_share": _share(sum(c.copies for c in checks), points),
        "quoted_point_share": _share(sum(c.quoted for c in checks), points),
        "on_topic_share": _share(
            sum(c.on_topic for c in answered), sum(c.points for c in answered)
        ),
        "gold_recall": _round(statistics.mean(recalls)) if recalls else None,
        "no_match_recall": _share(len(said & expected), len(expected)),
        "no_match_precision": _share(len(said & expected), len(said)),
        "brief_ms": _quantiles([c.brief_ms for c in checks]),
        "first_text_ms": _quantiles([c.first_ms for c in answered]),
        "total_ms": _quantiles([c.total_ms for c in answered]),
        **{
            f"{key}_{lang}": _quantiles(
                [getattr(c, attr) for c in answered if (c.lang == "zh") == (lang == "zh")]
            )
            for key, attr in (("first_text_ms", "first_ms"), ("total_ms", "total_ms"))
            for lang in ("en", "zh")
        },
        "answering_seconds": round(sum(c.total_ms or 0 for c in checks) / 1000),
        "prompt_tokens_median": statistics.median(c.prompt_tokens for c in checks),
        "degraded": sum(c.notice is not None for c in checks),
        "per_answer": [asdict(c) for c in checks],
    }


def _quantiles(values: Sequence[float | None]) -> dict[str, float] | None:
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    p90 = known[min(len(known) - 1, int(round(0.9 * (len(known) - 1))))]
    return {"median": round(statistics.median(known), 1), "p90": round(p90, 1)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _round(value: float) -> float:
    return round(value, 2)


def _ms(start: float) -> float:
    import time

    return round((time.perf_counter() - start) * 1000, 1)


MEASURES = (
    ("names_only_answers", "answers with a names-only point (goal 0)"),
    ("points_per_answer", "points per answer"),
    ("cited_point_share", "points with a valid citation (goal 1.0)"),
    ("figure_faithfulness", "figures found in the cited case (goal 1.0)"),
    ("figures", "figures shown"),
    ("foreign_companies_shown", "companies shown that were not given (goal 0)"),
    ("repeated_points", "repeated points (goal 0)"),
    ("language_match", "answer in the question's language (goal 1.0)"),
    ("verbatim_copy_share", "points that copy the case summary"),
    ("quoted_point_share", "points quoted from the case, not written by the model"),
    ("on_topic_share", "points on a case the gold set marks relevant"),
    ("gold_recall", "gold companies among the cited cases"),
    ("no_match_recall", "no-match questions answered 'no direct answer'"),
    ("no_match_precision", "'no direct answer' that were right"),
    ("brief_ms", "time to the brief, ms (median / p90)"),
    ("first_text_ms", "time to the first answer text, ms"),
    ("total_ms", "time to the complete answer, ms"),
    ("first_text_ms_en", "  English questions: first text, ms"),
    ("total_ms_en", "  English questions: complete answer, ms"),
    ("first_text_ms_zh", "  Chinese questions: first text, ms"),
    ("total_ms_zh", "  Chinese questions: complete answer, ms"),
    ("answering_seconds", "time spent answering all questions, s"),
    ("prompt_tokens_median", "prompt tokens (median; ours: sum over its generations)"),
    ("degraded", "answers that fell back to the brief"),
)


def answers_markdown(report: dict[str, Any]) -> str:
    """The side-by-side table of every measure, ours against the baseline."""
    systems = [s for s in SYSTEMS if s in report]
    lines = [
        f"Answer checks on {report['questions']} gold questions ({report['provider']})",
        "",
        "| measure | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for key, title in MEASURES:
        cells = [_cell(report[s].get(key)) for s in systems]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value['median']:.0f} / {value['p90']:.0f}"
    return "—" if value is None else str(value)


def texts_markdown(report: dict[str, Any]) -> str:
    """Every answer, ours and the baseline's, for a person to read side by side."""
    out = []
    for item in report["texts"]:
        out += [f"## {item['id']}: {item['q']}", ""]
        for system in SYSTEMS:
            if system in item:
                out += [f"### {system}", "", item[system] or "*(empty)*", ""]
    return "\n".join(out)


def write_answer_run(report: dict[str, Any], folder: Path) -> dict[str, Path]:
    """answers-STAMP.json (everything), answers-STAMP.md (the table, which the web app's Evals
    tab shows) and answer-texts-STAMP.md (every answer, ours beside the baseline's)."""
    from evals.report import run_stamp

    stamp = run_stamp(folder)
    paths = {
        "json": folder / f"answers-{stamp}.json",
        "markdown": folder / f"answers-{stamp}.md",
        "texts": folder / f"answer-texts-{stamp}.md",
    }
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    paths["markdown"].write_text(answers_markdown(report), "utf-8")
    paths["texts"].write_text(texts_markdown(report), "utf-8")
    return paths


def make_baseline(settings: Settings, engine: AnswerEngine, status: Status) -> StuffBaseline:
    from evals.harness import naive_store
    from ingest.embed import make_embeddings

    store = naive_store(settings, engine.retriever.records, make_embeddings("minilm"), status)
    return StuffBaseline(store, engine.chat_model, engine.encoding)


def evaluate_answers(
    settings: Settings, limit: int | None, status: Status, out: Path, baseline: bool = True
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The whole `eval answers` run: our chain and (unless `baseline` is False) the baseline on
    one model, outputs written under `out` (see write_answer_run)."""
    from app.session import answer_session
    from evals.runner import checked_gold

    questions = checked_gold(settings)
    with answer_session(settings) as engine:
        if engine.load_notice:
            status(engine.load_notice)
        stuff = make_baseline(settings, engine, status) if engine.chat_model and baseline else None
        report = run_answer_eval(engine, questions, limit, status, stuff)
    return report, write_answer_run(report, out)
