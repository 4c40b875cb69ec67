"""Library: every case in a table, filtered by market, sector, lever and outcome, with
full-text search; a selected row opens the case with its sources and as_of."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.library import CaseFilter, filter_cases
from app.render import case_markdown
from app.web.common import WebContext, esc, t, user_errors
from ingest.schema import SECTORS, Lever, Market, Outcome

COLUMNS = ["id", "company", "中文名", "market", "sector", "years", "outcome", "levers"]


def _any(values: list[str]) -> list[tuple[str, str]]:
    return [("any", ""), *[(v, v) for v in values]]


def rows(ctx: WebContext, wanted: CaseFilter) -> list[list[str]]:
    return [
        [
            r.case_id,
            r.company,
            r.company_zh,
            r.market or "",
            r.sector,
            r.years,
            r.outcome or "",
            ", ".join(r.levers),
        ]
        for r in filter_cases(ctx.retriever.records.values(), wanted)
    ]


def build(ctx: WebContext) -> gr.Dataframe:
    @user_errors
    def search(market: str, sector: str, lever: str, outcome: str, text: str) -> Any:
        found = rows(
            ctx,
            CaseFilter(market or None, sector or None, lever or None, outcome or None, text or ""),
        )
        return gr.update(value=found, label=f"{len(found)} case(s)")

    @user_errors
    def open_case(case_id: str) -> str:
        record = ctx.retriever.records.get((case_id or "").strip())
        return case_markdown(record, esc) if record else "Pick a case in the table."

    def open_row(evt: gr.SelectData) -> str:
        row = evt.row_value or []
        shown: str = open_case(str(row[0]) if row else "")
        return shown

    with gr.Tab(t("tab_library"), id="library"):
        with gr.Row():
            market = gr.Dropdown(
                _any([m.value for m in Market]), value="", label=t("market"), elem_id="lib-market"
            )
            sector = gr.Dropdown(
                _any(list(SECTORS)), value="", label=t("sector"), elem_id="lib-sector"
            )
            lever = gr.Dropdown(
                _any([v.value for v in Lever]), value="", label=t("lever"), elem_id="lib-lever"
            )
            outcome = gr.Dropdown(
                _any([o.value for o in Outcome]),
                value="",
                label=t("outcome"),
                elem_id="lib-outcome",
            )
            text = gr.Textbox(label=t("search"), elem_id="lib-search", scale=2)
        everything = rows(ctx, CaseFilter())
        with gr.Row(equal_height=False):
            table = gr.Dataframe(
                everything,
                headers=COLUMNS,
                interactive=False,
                label=f"{len(everything)} case(s)",
                elem_id="lib-table",
                max_height=520,
                scale=3,
            )
            viewer = gr.Markdown(elem_id="lib-case", min_height=200)
        filters = [market, sector, lever, outcome, text]
        for box in (market, sector, lever, outcome):
            box.change(search, filters, table, api_visibility="private")
        text.submit(search, filters, table, api_name="library")
        table.select(open_row, None, viewer, api_visibility="private")
        case_id = gr.Textbox(visible="hidden", elem_id="lib-open-id")
        case_id.submit(open_case, case_id, viewer, api_name="open_library_case")
    return table
