"""Markdown views of results, shared by the CLI and the web UI (no UI library here)."""

from __future__ import annotations

from app.retrieval import SearchResult
from ingest.state import CaseRecord


def case_line(record: CaseRecord) -> str:
    name = record.company + (f" ({record.company_zh})" if record.company_zh else "")
    return f"**{name}** · {record.market} · {record.sector} · {record.years} · {record.outcome}"


def brief_markdown(result: SearchResult) -> str:
    """The structured part of an answer: matched cases, shown the moment retrieval ends."""
    scope = result.market_filter or "any market"
    if not result.hits:
        return f"No cases matched *{result.query}* in {scope}."
    lines = [f"**{len(result.hits)} case(s)** · market filter: {scope}", ""]
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


def case_markdown(record: CaseRecord) -> str:
    """A whole case as Markdown, with its sources."""
    lines = [
        f"## {record.title or record.company}",
        case_line(record),
        "",
        f"*{record.summary}*",
        "",
        "**Problems:** " + "; ".join(record.problems),
        "",
    ]
    for section, text in record.sections.items():
        lines += [f"### {section}", text, ""]
    lines.append("### Sources")
    for source in record.sources:
        title = source["title"]
        title = f"[{title}]({source['url']})" if source.get("url") else title
        lines.append(f"- {title}, {source['publisher']}, {source['year']}")
    return "\n".join(lines)


def html_free(markdown: str) -> str:
    """Markdown for a web page with no HTML from case files (or a model) in it.

    Case files are untrusted text: `<img src=...>` would load from outside (tracking) and a
    `<form>` could phish. Our own Markdown never emits HTML, so every `<` becomes `&lt;` (shown
    as a literal "<"), and Markdown image syntax `![..](..)` is broken into text so nothing
    loads. Links stay links.
    """
    return markdown.replace("<", "&lt;").replace("![", "!\\[")
