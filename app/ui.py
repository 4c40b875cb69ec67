"""The Gradio web app: a thin adapter over core functions. Errors become `gr.Error` here only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

from app.errors import ElsewhereError
from app.render import brief_markdown, case_markdown
from app.retrieval import MarketChoice, Retriever
from app.settings import Settings
from ingest.schema import Market

MARKETS = ["auto (from the question)", "overseas", "china", "any"]


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ElsewhereError as exc:
            raise gr.Error(str(exc)) from None

    return wrapper


def _market(choice: str) -> MarketChoice:
    if choice.startswith("auto"):
        return None
    return "any" if choice == "any" else Market(choice)


def build_app(settings: Settings, retriever: Retriever) -> gr.Blocks:
    @_user_errors
    def search(question: str, market: str, k: float) -> str:
        if not question.strip():
            raise gr.Error("Type a question first.")
        return brief_markdown(retriever.search(question, k=int(k), market=_market(market)))

    @_user_errors
    def open_case(case_id: str) -> str:
        record = retriever.records.get(case_id)
        return case_markdown(record) if record else "Pick a case."

    case_ids = sorted(retriever.records)
    with gr.Blocks(title="Elsewhere") as app:
        gr.Markdown("# Elsewhere\nWho elsewhere solved X? Ask in English or Chinese.")
        with gr.Tab("Search"):
            with gr.Row():
                question = gr.Textbox(
                    label="Question",
                    scale=4,
                    placeholder="How did delivery apps outside China keep customers?",
                )
                market = gr.Dropdown(MARKETS, value=MARKETS[0], label="Market", scale=1)
                k = gr.Slider(1, 20, value=8, step=1, label="Cases", scale=1)
            go = gr.Button("Search", variant="primary")
            results = gr.Markdown()
            go.click(search, [question, market, k], results)
            question.submit(search, [question, market, k], results)
        with gr.Tab("Library"):
            pick = gr.Dropdown(case_ids, label=f"{len(case_ids)} cases", value=None)
            shown = gr.Markdown()
            pick.change(open_case, pick, shown)
    return app


def serve(settings: Settings) -> None:
    retriever = Retriever.open(settings)
    build_app(settings, retriever).launch(
        server_name=settings.host, server_port=settings.port, show_error=False
    )
