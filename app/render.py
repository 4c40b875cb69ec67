"""Markdown views of results, shared by the CLI and the web UI (no UI library here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.retrieval import SearchResult
from ingest.state import CaseRecord

Escape = Callable[[str], str]


def case_name(record: CaseRecord, language: str = "en") -> str:
    """ "Meituan" in English; "美团 (Meituan)" in Chinese where the case has a Chinese name."""
    if language == "zh" and record.company_zh:
        return f"{record.company_zh} ({record.company})"
    return record.company


def _same(text: str) -> str:
    return text


def case_line(record: CaseRecord, esc: Escape = _same) -> str:
    name = esc(record.company) + (f" ({esc(record.company_zh)})" if record.company_zh else "")
    return (
        f"**{name}** · {record.market} · {record.sector} · {esc(record.years)} · {record.outcome}"
    )


def market_reason(result: SearchResult, esc: Escape = _same) -> str:
    """` (from "in india")` when words of the question set the market filter, so a filtered
    brief says why the other market's cases are missing; empty otherwise."""
    if not result.market_reason:  # set only with a filter (app.retrieval)
        return ""
    return f' (from "{esc(result.market_reason)}")'


def brief_markdown(result: SearchResult) -> str:
    """The structured part of an answer: matched cases, shown the moment retrieval ends."""
    scope = result.market_filter or "any market"
    if not result.hits:
        return f"No cases matched *{result.query}* in {scope}."
    lines = [f"**{len(result.hits)} case(s)** · market filter: {scope}{market_reason(result)}", ""]
    for n, hit in enumerate(result.hits, start=1):
        record = hit.record
        lines.append(f"[{n}] {case_line(record)}  \n`{record.case_id}` — {record.summary}")
        if hit.evidence:
            best = hit.evidence[0]
            snippet = " ".join(best.text.split())
            snippet = snippet if len(snippet) <= 300 else snippet[:297] + "..."
            lines.append(f"> *{best.section}:* {snippet}")
        lines.append("")
    return "\n".join(lines)


def case_markdown(record: CaseRecord, esc: Escape = _same) -> str:
    """A whole case as Markdown, with its sources. `esc` is applied to every text taken from
    the case file (the web app passes an HTML escaper: case files are untrusted)."""
    lines = [
        f"## {esc(record.title or record.company)}",
        case_line(record, esc),
        "",
        f"*{esc(record.summary)}*",
        "",
        "**Problems:** " + "; ".join(esc(p) for p in record.problems),
        "",
    ]
    for section, text in record.sections.items():
        lines += [f"### {esc(section)}", esc(text), ""]
    lines.append("### Sources")
    lines += [f"- {source_line(source, esc)}" for source in record.sources]
    if record.as_of:
        lines += ["", f"*Facts last checked against the sources: {record.as_of}*"]
    return "\n".join(lines)


def source_line(source: dict[str, Any], esc: Escape = _same) -> str:
    """`title, publisher, year`, the title a link when the source has a URL."""
    title = esc(str(source["title"]))
    url = str(source.get("url") or "")
    if url.startswith(("https://", "http://")):
        safe_url = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        title = f"[{title}]({safe_url})"
    return f"{title}, {esc(str(source['publisher']))}, {source['year']}"


def answer_export(
    question: str, answer_markdown: str, cited: Sequence[CaseRecord], esc: Escape = _same
) -> str:
    """The answer and the cases behind it as one Markdown document (the web app's Export)."""
    lines = [f"# {esc(question)}", "", answer_markdown.strip(), "", "## Sources", ""]
    for n, record in enumerate(cited, start=1):
        lines += [f"**[{n}]** {case_line(record, esc)}", "", esc(record.summary), ""]
        lines += [f"- {source_line(source, esc)}" for source in record.sources]
        lines.append("")
    return "\n".join(lines)


def html_free(markdown: str) -> str:
    """Markdown for a web page with no HTML from case files (or a model) in it.

    Case files are untrusted text: `<img src=...>` would load from outside (tracking) and a
    `<form>` could phish. Our own Markdown never emits HTML, so every `<` becomes `&lt;` (shown
    as a literal "<"), and Markdown image syntax `![..](..)` is broken into text so nothing
    loads. Links stay links.
    """
    return markdown.replace("<", "&lt;").replace("![", "!\\[")
