"""Browsing the case library: filter by market, sector, lever and outcome, full-text search,
and the labels a case picker shows (company, Chinese name, id)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingest.state import CaseRecord


@dataclass(frozen=True)
class CaseFilter:
    market: str | None = None
    sector: str | None = None
    lever: str | None = None
    outcome: str | None = None
    text: str = ""  # every word must appear somewhere in the case (case-insensitive)


def case_text(record: CaseRecord) -> str:
    """Everything searchable in a case, lower-cased."""
    parts = [
        record.case_id, record.company, record.company_zh, record.summary, record.title,
        " ".join(record.problems), " ".join(record.sections.values()),
    ]  # fmt: skip
    return "\n".join(parts).lower()


def filter_cases(records: Iterable[CaseRecord], wanted: CaseFilter) -> list[CaseRecord]:
    """The cases matching every given filter, sorted by company."""
    words = wanted.text.lower().split()
    found = []
    for record in records:
        if wanted.market and record.market != wanted.market:
            continue
        if wanted.sector and record.sector != wanted.sector:
            continue
        if wanted.lever and wanted.lever not in record.levers:
            continue
        if wanted.outcome and record.outcome != wanted.outcome:
            continue
        if words:
            text = case_text(record)
            if not all(word in text for word in words):
                continue
        found.append(record)
    return sorted(found, key=lambda r: (r.company.lower(), r.case_id))


def picker_label(record: CaseRecord) -> str:
    """'Meituan (美团) · meituan-delivery-membership': findable by any of the three."""
    name = record.company + (f" ({record.company_zh})" if record.company_zh else "")
    return f"{name} · {record.case_id}"
