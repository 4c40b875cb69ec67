"""`elsewhere cases new`: a correctly named case file with every section heading in place."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path

from app.errors import LibraryError
from ingest.schema import ID_PATTERN, LEVER_SECTIONS, SECTIONS, Market

_GUIDANCE = {
    "Context": "The company, market and moment (year, scale, competitors) in 2-4 sentences.",
    "Problem": "The pain as a product manager would describe it, and why it hurt economically.",
    "What they did": "The concrete moves, with dates.",
    "Results": "What happened, with dated figures from the sources; include setbacks.",
    "What transfers": "What another market could copy, what would not carry over, and why.",
}


def slugify(text: str) -> str:
    """'Full Truck Alliance' -> 'full-truck-alliance'; non-Latin names need an explicit id."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def render_template(company: str, market: Market, case_id: str) -> str:
    year = date.today().year
    company_zh = (
        'company_zh: ""        # required for china cases'
        if market is Market.CHINA
        else "# company_zh:          # optional Chinese name"
    )
    lines = [
        "---",
        f"id: {case_id}",
        f"company: {_yaml_quote(company)}",
        company_zh,
        f"market: {market.value}",
        "hq_country: XX           # ISO 3166-1 alpha-2, e.g. CN, US",
        "countries: [XX]",
        "sector: e-commerce       # one of the vocabulary in ingest/schema.py",
        f"years: {year - 3}-{year}",
        "problems:",
        "  - describe the pain as a PM would",
        "levers: [demand]         # supply, demand, acquisition, revenue, cost",
        "mechanisms: [subscription]  # 1-6 ids from ingest/data/mechanisms.yaml",
        "summary: >-",
        "  What they did and what happened, in one or two sentences.",
        "outcome: mixed           # worked, mixed or failed",
        f"as_of: {date.today():%Y-%m}         # year-month the facts were last checked",
        "sources:",
        "  - title: Annual report",
        "    publisher: The company",
        f"    year: {year}",
        "---",
        "",
    ]
    return "\n".join(lines) + body_template(company)


def body_template(company: str) -> str:
    """The body of a new case: a title and every section heading with what belongs there."""
    lines = [f"# {company}: headline", ""]
    for section in SECTIONS:
        hint = _GUIDANCE.get(section) or (
            f"This case's {LEVER_SECTIONS[section].value} model; "
            "if it did not apply, say so in one line."
        )
        lines += [f"## {section}", hint, ""]
    return "\n".join(lines)


def write_new_case(
    cases_dir: Path, company: str, market: Market, case_id: str | None = None
) -> Path:
    """Write the template to cases/<market>/<id>.md; never overwrite an existing file."""
    case_id = case_id or slugify(company)
    if not re.fullmatch(ID_PATTERN, case_id or ""):
        raise LibraryError(
            f"cannot make an id from {company!r}; pass one with --id, e.g. --id meituan-membership"
        )
    target = cases_dir / market.value / f"{case_id}.md"
    if target.exists():
        raise LibraryError(f"{target} already exists; choose another id with --id")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_template(company, market, case_id), encoding="utf-8")
    return target


def _yaml_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
