"""Compare two to four cases lever by lever; every cell is quoted from its own case.

Works without any model. With one, a short cited synthesis of the differences follows, checked
like any answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import CaseNotFoundError, ElsewhereError
from ingest.state import CaseRecord

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.language_models import BaseChatModel

ROWS = (
    "Problem",
    "What they did",
    "Supply model",
    "Demand model",
    "Acquisition model",
    "Revenue model",
    "Cost model",
    "Results",
    "What transfers",
)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
CELL_WORDS = 55


@dataclass
class Comparison:
    cases: list[CaseRecord]
    rows: dict[str, list[str]]
    synthesis: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notice: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": [
                {
                    "n": n,
                    "case_id": r.case_id,
                    "company": r.company,
                    "market": r.market,
                    "outcome": r.outcome,
                    "path": r.relpath,
                    "source": primary_source(r),
                }
                for n, r in enumerate(self.cases, start=1)
            ],
            "rows": {
                row: [
                    {"case_id": r.case_id, "text": text}
                    for r, text in zip(self.cases, cells, strict=True)
                ]
                for row, cells in self.rows.items()
            },
            "synthesis": self.synthesis,
            "citations": self.citations,
            "invalid_citations": self.invalid_citations,
            "warnings": self.warnings,
            "notice": self.notice,
        }

    def markdown(self) -> str:
        names = [
            f"[{n}] {r.company} ({r.market}, {r.outcome})"
            for n, r in enumerate(self.cases, start=1)
        ]
        lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for row, cells in self.rows.items():
            lines.append(f"| **{row}** | " + " | ".join(_cell(c) for c in cells) + " |")
        sources = [
            f"[{n}] `{r.relpath}` — {primary_source(r)}" for n, r in enumerate(self.cases, start=1)
        ]
        lines += ["", "Sources: " + "; ".join(sources)]
        if self.synthesis:
            lines += ["", "**How they differ**", "", self.synthesis]
        if self.warnings:
            lines += [f"> ⚠ Not verified: the synthesis {w}." for w in self.warnings]
        if self.notice:
            lines += ["", f"_{self.notice}_"]
        return "\n".join(lines)


def primary_source(record: CaseRecord) -> str:
    if not record.sources:
        return record.relpath
    source = record.sources[0]
    return f"{source['title']}, {source['publisher']}, {source['year']}"


def excerpt(text: str, words: int = CELL_WORDS) -> str:
    """The first sentences of a section, up to `words` words."""
    flat = " ".join(text.replace("\n- ", " ").split()).lstrip("- ")
    out: list[str] = []
    for sentence in SENTENCE_END.split(flat):
        if out and len(" ".join(out + [sentence]).split()) > words:
            break
        out.append(sentence)
    joined = " ".join(out)
    tokens = joined.split()
    return joined if len(tokens) <= words else " ".join(tokens[:words]) + "..."


def compare_cases(records: dict[str, CaseRecord], case_ids: list[str]) -> Comparison:
    if not 2 <= len(case_ids) <= 4:
        raise ElsewhereError(f"compare takes 2 to 4 case ids, got {len(case_ids)}")
    if len(set(case_ids)) != len(case_ids):
        raise ElsewhereError("compare needs different case ids")
    missing = [cid for cid in case_ids if cid not in records]
    if missing:
        raise CaseNotFoundError(
            f"no indexed case with id {', '.join(missing)}; see `elsewhere search` or the "
            "Library tab for ids (and run `elsewhere ingest` after adding cases)"
        )
    cases = [records[cid] for cid in case_ids]
    rows = {row: [excerpt(case.sections.get(row, "")) for case in cases] for row in ROWS}
    return Comparison(cases, rows)


def synthesize(
    comparison: Comparison,
    chat_model: BaseChatModel,
    encoding: tiktoken.Encoding,
    library: dict[str, CaseRecord],
    language_of: str = "",
    budget: int = 420,
) -> Iterator[str]:
    """Stream a cited synthesis; fills comparison.synthesis/citations/warnings when done.

    `language_of` is text in the asker's language (Chinese text -> a Chinese synthesis).
    """
    from app.chain import check_citations, failure_notice
    from app.prompts import instruction, render
    from app.retrieval import CaseHit

    per_case = max(60, budget // len(comparison.cases))
    blocks = []
    for n, case in enumerate(comparison.cases, start=1):
        levers = "; ".join(f"{row}: {comparison.rows[row][n - 1]}" for row in ROWS[2:7])
        text = f"[{n}] {case.company} | market: {case.market} | outcome: {case.outcome}\n{levers}"
        tokens = encoding.encode(" ".join(text.split()))
        blocks.append(encoding.decode(tokens[:per_case]))
    messages = render(
        "compare", instruction=instruction("compare", language_of), cases="\n\n".join(blocks)
    )
    parts: list[str] = []
    try:
        for chunk in chat_model.stream(messages):
            piece = str(chunk.content)
            parts.append(piece)
            yield piece
    except Exception as exc:  # noqa: BLE001 - the table stands without the synthesis
        comparison.notice = failure_notice(exc, bool(parts))
    hits = [CaseHit(case, 0.0) for case in comparison.cases]
    text, citations, invalid, warnings = check_citations("".join(parts), hits, library, None)
    comparison.synthesis = text.strip() or None
    comparison.citations = [c.__dict__ for c in citations]
    comparison.invalid_citations, comparison.warnings = invalid, warnings


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ") or "—"
