"""Ask: the chat on the left, the sources beside it; feedback and export under the answer."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from app.chain import Brief, Done, Token
from app.feedback import Vote
from app.render import answer_export, case_markdown, market_reason
from app.retrieval import CaseScope, SearchResult
from app.session import Queued
from app.web.common import (
    WebContext,
    case_href,
    case_request_box,
    esc,
    link_citations,
    t,
    user_errors,
)
from ingest.schema import SECTORS, Lever, Market

ASKER_CHOICES = [("China", "china"), ("outside China", "overseas"), ("anywhere", "any")]
ANY = ""


def history_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    pairs, pending = [], None
    for message in messages:
        text = _text(message["content"])
        if message["role"] == "user":
            pending = text
        elif pending is not None:
            pairs.append((pending, text))
            pending = None
    return pairs


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def source_cards(result: SearchResult, scope: str = "ask") -> str:
    """One card per matched case, each a link that opens the case beside the chat."""
    if not result.hits:
        return f"<p>No cases matched in {esc(result.market_filter or 'any market')}.</p>"
    cards = []
    for n, hit in enumerate(result.hits, start=1):
        r = hit.record
        name = esc(r.company) + (f" ({esc(r.company_zh)})" if r.company_zh else "")
        cards.append(
            f'<a class="case-card" data-case="{esc(r.case_id)}" '
            f'href="{case_href(scope, r.case_id)}"><b>[{n}] {name}</b>'
            f'<div class="meta">{r.market} · {esc(r.sector)} · {esc(r.years)} · {r.outcome}</div>'
            f"<div>{esc(r.summary)}</div></a>"
        )
    scope_note = esc(result.market_filter or "any market") + market_reason(result, esc)
    head = f"<p>{len(result.hits)} case(s) · {scope_note}</p>"
    return f"<div class='sources'>{head}{''.join(cards)}</div>"


def build(ctx: WebContext) -> None:
    @user_errors
    def ask(
        question: str, messages: list[dict[str, Any]], asker: str, sector: str, lever: str
    ) -> Iterator[tuple[Any, ...]]:
        if not (question or "").strip():
            raise gr.Error("Type a question first.")
        history = history_pairs(messages or [])
        chat = [
            *(messages or []),
            {"role": "user", "content": esc(question)},
            {"role": "assistant", "content": "Searching the case library..."},
        ]
        cards, status, ids = "", "", []
        last: dict[str, Any] = {}
        yield chat, cards, status, last, gr.update(visible=False)
        text = ""
        events = ctx.service.stream(
            question,
            history,
            market=None,
            asker=Market(asker) if asker in ("china", "overseas") else None,
            scope=CaseScope(sector or None, lever or None),
        )
        for event in events:
            if isinstance(event, Queued):
                status = (
                    f"⏳ Queued: {event.ahead} request(s) ahead of yours; "
                    "the model answers one at a time."
                )
                chat[-1]["content"] = status
            elif isinstance(event, Brief):
                ids = [hit.record.case_id for hit in event.result.hits]
                cards = source_cards(event.result)
                status = "Writing a cited brief..."
                chat[-1]["content"] = status
            elif isinstance(event, Token):
                text += event.text
                chat[-1]["content"] = link_citations(esc(text), ids, "ask")
                status = ""
            elif isinstance(event, Done):
                answer = event.answer
                chat[-1]["content"] = link_citations(esc(answer.answer_markdown), ids, "ask")
                status = esc(answer.notice or "")
                cited = [c.case_id for c in answer.citations] or ids[:4]
                last = {
                    "question": question,
                    "answer": answer.answer_markdown,
                    "cited": cited,
                    "market": answer.market_filter,
                }
                yield chat, cards, status, last, gr.update(visible=True, value=_export(ctx, last))
                return
            else:
                continue  # an event type this page does not know yet: the Done text is final
            yield chat, cards, status, last, gr.update(visible=False)

    @user_errors
    def open_case(request: str) -> str:
        case_id = (request or "").split("@", 1)[0]
        record = ctx.retriever.records.get(case_id)
        return case_markdown(record, esc) if record else "That case is no longer in the index."

    @user_errors
    def vote(last: dict[str, Any], choice: Vote, comment: str) -> tuple[str, str]:
        if not last:
            raise gr.Error("Ask a question first; then rate its answer.")
        saved = ctx.feedback.add(
            last["question"],
            last["answer"],
            list(last["cited"]),
            choice,
            comment or "",
            last.get("market"),
        )
        return f"Thanks: feedback #{saved.id} saved ({saved.vote}).", ""

    with gr.Tab(t("tab_ask"), id="ask"):
        last = gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(label=t("chat"), height=460, elem_id="ask-chat")
                with gr.Row():
                    question = gr.Textbox(
                        label=t("question"),
                        scale=4,
                        elem_id="ask-question",
                        placeholder="How did delivery apps outside China keep customers ordering?",
                    )
                    send = gr.Button(t("send"), variant="primary", scale=1, elem_id="ask-send")
                with gr.Row():
                    asker = gr.Radio(ASKER_CHOICES, value="any", label=t("asker"), elem_id="asker")
                    sector = gr.Dropdown(
                        [("any", ANY), *[(s, s) for s in SECTORS]],
                        value=ANY,
                        label=t("sector"),
                        elem_id="ask-sector",
                    )
                    lever = gr.Dropdown(
                        [("any", ANY), *[(v.value, v.value) for v in Lever]],
                        value=ANY,
                        label=t("lever"),
                        elem_id="ask-lever",
                    )
                status = gr.Markdown(elem_id="ask-status")
                with gr.Row():
                    up = gr.Button(t("up"), size="sm", elem_id="vote-up")
                    down = gr.Button(t("down"), size="sm", elem_id="vote-down")
                    comment = gr.Textbox(label=t("comment"), scale=3, elem_id="vote-comment")
                    export = gr.DownloadButton(t("export"), visible=False, elem_id="ask-export")
                voted = gr.Markdown(elem_id="vote-status")
                gr.ClearButton([chat, question], value=t("new_chat"))
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                cards = gr.HTML(elem_id="ask-sources")
                viewer = gr.Markdown(elem_id="ask-case")
        request = case_request_box("ask")
        outputs = [chat, cards, status, last, export]
        inputs = [question, chat, asker, sector, lever]
        send.click(ask, inputs, outputs, concurrency_limit=None).then(
            lambda: "", None, question, api_visibility="private"
        )
        question.submit(
            ask, inputs, outputs, concurrency_limit=None, api_visibility="private"
        ).then(lambda: "", None, question, api_visibility="private")
        request.change(open_case, request, viewer, api_name="open_case")
        up.click(
            lambda s, c: vote(s, "up", c), [last, comment], [voted, comment], api_name="vote_up"
        )
        down.click(
            lambda s, c: vote(s, "down", c), [last, comment], [voted, comment], api_name="vote_down"
        )


def _export(ctx: WebContext, last: dict[str, Any]) -> str:
    records = [ctx.retriever.records[c] for c in last["cited"] if c in ctx.retriever.records]
    text = answer_export(last["question"], last["answer"], records)
    folder = Path(tempfile.mkdtemp(prefix="elsewhere-export-"))
    path = folder / "elsewhere-answer.md"
    path.write_text(text, encoding="utf-8")
    return str(path)
