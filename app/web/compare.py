"""Compare: pick two to four cases, see them lever by lever; an optional cited synthesis goes
through the same serialised model service as answers."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from app.compare import compare_cases
from app.library import picker_label
from app.session import Queued
from app.web.common import WebContext, esc, t, user_errors


def choices(ctx: WebContext) -> list[tuple[str, str]]:
    records = sorted(ctx.retriever.records.values(), key=lambda r: r.company.lower())
    return [(picker_label(r), r.case_id) for r in records]


def browser_language(request: gr.Request | None) -> str:
    """Text in the browser's language for the synthesis ("中文" when it prefers Chinese)."""
    headers = getattr(request, "headers", None) or {}
    accept = str(headers.get("accept-language", "")).strip().lower()
    return "中文" if accept.startswith("zh") else ""


def build(ctx: WebContext) -> gr.Dropdown:
    @user_errors
    def compare(case_ids: list[str], synthesis: bool, request: gr.Request) -> Iterator[str]:
        comparison = compare_cases(ctx.retriever.records, list(case_ids or []))
        table = esc(comparison.markdown())
        yield table
        if not synthesis:
            return
        text = ""
        for piece in ctx.service.synthesize(comparison, browser_language(request)):
            if isinstance(piece, Queued):
                yield table + f"\n\n⏳ Queued: {piece.ahead} request(s) ahead of this synthesis."
            else:
                text += piece
                yield table + "\n\n**How they differ**\n\n" + esc(text)
        yield esc(comparison.markdown())

    with gr.Tab(t("tab_compare"), id="compare"):
        picks = gr.Dropdown(
            choices(ctx),
            multiselect=True,
            max_choices=4,
            filterable=True,
            label=t("pick"),
            elem_id="compare-picks",
        )
        with_model = gr.Checkbox(label=t("synthesis"), elem_id="compare-synthesis")
        run = gr.Button(t("compare"), variant="primary", elem_id="compare-run")
        table = gr.Markdown(elem_id="compare-table")
        run.click(compare, [picks, with_model], table, concurrency_limit=None)
    return picks
