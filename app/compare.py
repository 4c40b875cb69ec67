"""Compare two to four cases lever by lever; every cell is quoted from its own case.

Works without any model. With one, a short cited synthesis of the differences follows, checked
like any answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import CaseNotFoundError, ElsewhereError
from ingest.state import CaseRecord

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.language_models import BaseChatModel

    from app.chain import Citation

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
    from app.chain import failure_notice
    from app.prompts import instruction, render

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
    checked = check_citations("".join(parts), comparison.cases, library)
    comparison.synthesis = checked.text.strip() or None
    comparison.citations = [asdict(c) for c in checked.citations]
    comparison.invalid_citations = checked.invalid
    comparison.warnings = [w.text for w in checked.warnings]


@dataclass(frozen=True)
class Unverified:
    """Something wrong with a synthesis: it names a company not compared, or cites nothing."""

    kind: str  # "company" or "uncited"
    company: str | None = None

    @property
    def text(self) -> str:
        if self.kind == "company":
            return f"names {self.company}, which was not among the cases given"
        return "cites no case: treat the text as unverified"


@dataclass(frozen=True)
class CitationCheck:
    text: str  # with citations of cases that were not given removed
    citations: list[Citation]
    invalid: list[int]
    warnings: list[Unverified]


def check_citations(
    text: str, given: Sequence[CaseRecord], library: dict[str, CaseRecord]
) -> CitationCheck:
    """Keep only citations of cases that were given; flag companies that were not given."""
    from app.chain import CITATION, Citation
    from app.checks import mentions

    valid: dict[int, Citation] = {}
    invalid: list[int] = []

    def replace(match: re.Match[str]) -> str:
        kept = []
        for part in re.split(r"\s*[,，]\s*", match.group(1)):
            n = int(part)
            if 1 <= n <= len(given):
                valid.setdefault(n, Citation(n, given[n - 1].case_id, given[n - 1].company))
                kept.append(f"[{n}]")
            else:
                invalid.append(n)
        return "".join(kept)

    cleaned = CITATION.sub(replace, text)
    given_companies = {record.company for record in given}
    warnings = {
        Unverified("company", record.company)
        for record in library.values()
        if record.company not in given_companies
        and any(mentions(cleaned, name) for name in (record.company, record.company_zh) if name)
    }
    ordered = sorted(warnings, key=lambda w: w.company or "")
    if not valid and cleaned.strip():
        ordered.append(Unverified("uncited"))
    return CitationCheck(
        cleaned, sorted(valid.values(), key=lambda c: c.n), sorted(set(invalid)), ordered
    )


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ") or "—"
