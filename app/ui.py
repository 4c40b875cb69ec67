"""The Gradio web app: Ask, Search, Compare, Library, Add case, Evals.

A thin adapter: every tab calls a core function and renders its result. Our errors become
`gr.Error` in one decorator; nothing else here knows about retrieval or models.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from app.chain import Brief, Done, Token
from app.errors import ElsewhereError
from app.question import clean_question, clip_notice
from app.render import brief_markdown, case_markdown, html_free
from app.retrieval import MarketChoice, Retriever
from app.session import AnswerService
from app.settings import Settings
from ingest.schema import Market

MARKETS = ["auto (from the question)", "overseas", "china", "any"]


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into a clean message in the page; never a traceback."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from func(*args, **kwargs)
            except ElsewhereError as exc:
                raise gr.Error(str(exc)) from None

        return stream

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ElsewhereError as exc:
            raise gr.Error(str(exc)) from None

    return call


def _market(choice: str) -> MarketChoice:
    if choice.startswith("auto"):
        return None
    return "any" if choice == "any" else Market(choice)


def _history_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    pairs, pending = [], None
    for message in messages:
        if message["role"] == "user":
            pending = str(message["content"])
        elif pending is not None:
            pairs.append((pending, str(message["content"])))
            pending = None
    return pairs


def build_app(settings: Settings, retriever: Retriever, service: AnswerService) -> gr.Blocks:
    @_user_errors
    def ask(raw: str, messages: list[dict[str, Any]], market: str) -> Iterator[Any]:
        checked = clean_question(raw or "")
        question, clipped = checked.text, clip_notice(checked) or ""
        history = _history_pairs(messages or [])
        messages = [
            *(messages or []),
            {"role": "user", "content": html_free(question)},
            {"role": "assistant", "content": "Searching the case library..."},
        ]
        yield messages, "", clipped
        brief, text = "", ""
        for event in service.stream(question, history, _market(market)):
            if isinstance(event, Brief):
                brief = html_free(brief_markdown(event.result))
                messages[-1]["content"] = "Writing a cited brief..."
                yield messages, brief, clipped
            elif isinstance(event, Token):
                text += event.text
                messages[-1]["content"] = html_free(text)
                yield messages, brief, clipped
            elif isinstance(event, Done):
                answer = event.answer
                messages[-1]["content"] = html_free(answer.answer_markdown)
                footer = f"{clipped} {answer.notice or ''}"
                if answer.invalid_citations:
                    footer += f" Removed invalid citations: {answer.invalid_citations}."
                yield messages, brief, html_free(footer.strip())

    @_user_errors
    def search(raw: str, market: str, k: float) -> str:
        checked = clean_question(raw or "")
        result = retriever.search(checked.text, k=int(k), market=_market(market))
        notice = clip_notice(checked)
        return html_free((f"*{notice}*\n\n" if notice else "") + brief_markdown(result))

    @_user_errors
    def compare(case_ids: list[str], synthesis: bool) -> Iterator[str]:
        from app.compare import compare_cases, synthesize

        comparison = compare_cases(retriever.records, list(case_ids or []))
        yield html_free(comparison.markdown())
        if synthesis:
            engine = service.engine()
            if engine.chat_model is None:
                comparison.notice = engine.load_notice or "No language model is configured."
            else:
                for _ in synthesize(
                    comparison, engine.chat_model, engine.encoding, retriever.records
                ):
                    pass
            yield html_free(comparison.markdown())

    @_user_errors
    def open_case(case_id: str | None) -> str:
        record = retriever.records.get(case_id or "")
        return html_free(case_markdown(record)) if record else "Pick a case."

    @_user_errors
    def check_upload(path: str | None) -> str:
        return _check_upload(settings, path)

    @_user_errors
    def reindex() -> tuple[str, Any, Any]:
        report = service.reindex()
        counts = ", ".join(f"{n} {name}" for name, n in report.counts().items())
        problems = "".join(f"\n- {line}" for line in report.failed)
        ids = sorted(retriever.records)
        summary = html_free(f"Indexed: {counts}; {report.chunks_total} chunks.{problems}")
        return summary, gr.update(choices=ids), gr.update(choices=ids)

    case_ids = sorted(retriever.records)
    with gr.Blocks(title="Elsewhere") as app:
        gr.Markdown("# Elsewhere\nWho elsewhere solved X? Ask in English or Chinese.")
        with gr.Tab("Ask"):
            chat = gr.Chatbot(label="Brief", height=420)
            with gr.Row():
                question = gr.Textbox(
                    label="Question",
                    scale=4,
                    placeholder=("How did delivery apps outside China keep customers ordering?"),
                )
                market = gr.Dropdown(MARKETS, value=MARKETS[0], label="Market", scale=1)
            with gr.Row():
                send = gr.Button("Ask", variant="primary")
                gr.ClearButton([chat, question], value="New conversation")
            notice = gr.Markdown()
            brief = gr.Markdown(label="Matched cases")
            send.click(ask, [question, chat, market], [chat, brief, notice])
            question.submit(ask, [question, chat, market], [chat, brief, notice])
            send.click(lambda: "", None, question)
        with gr.Tab("Search"):
            with gr.Row():
                query = gr.Textbox(label="Question", scale=4)
                smarket = gr.Dropdown(MARKETS, value=MARKETS[0], label="Market", scale=1)
                k = gr.Slider(1, 20, value=8, step=1, label="Cases", scale=1)
            go = gr.Button("Search", variant="primary")
            results = gr.Markdown()
            go.click(search, [query, smarket, k], results)
            query.submit(search, [query, smarket, k], results)
        with gr.Tab("Compare"):
            picks = gr.Dropdown(
                case_ids, multiselect=True, max_choices=4, label="Two to four cases"
            )
            with_model = gr.Checkbox(label="Add a model-written synthesis (slower)")
            run_compare = gr.Button("Compare", variant="primary")
            table = gr.Markdown()
            run_compare.click(compare, [picks, with_model], table)
        with gr.Tab("Library"):
            pick = gr.Dropdown(case_ids, label=f"{len(case_ids)} cases", value=None)
            shown = gr.Markdown()
            pick.change(open_case, pick, shown)
        with gr.Tab("Add case"):
            gr.Markdown(
                "Upload a case file (Markdown with YAML front matter; start from "
                "`elsewhere cases new`). It is validated, then saved under the cases "
                "folder; run `elsewhere ingest` to index it."
            )
            upload = gr.File(file_types=[".md"], label="Case file")
            verdict = gr.Markdown()
            upload.upload(check_upload, upload, verdict)
            index_now = gr.Button("Index the library now")
            indexed = gr.Markdown()
            index_now.click(reindex, None, [indexed, pick, picks])
        with gr.Tab("Evals"):
            gr.Markdown(_latest_eval())
    return app


def _check_upload(settings: Settings, path: str | None) -> str:
    """Validate an uploaded case file and save it if it is valid and new; the uploaded copy
    is always removed from Gradio's upload folder, accepted or not."""
    from ingest.upload import add_case_file

    if not path:
        return "No file."
    source = Path(path)
    try:
        target = add_case_file(settings.cases_dir, source, settings.max_case_bytes)
    except ElsewhereError as exc:
        lines = "\n".join(f"- {line}" for line in str(exc).splitlines())
        return html_free("Problems found; nothing was saved:\n\n" + lines)
    finally:
        source.unlink(missing_ok=True)
    return html_free(f"Saved `{target}`. Index it with the button below.")


def _latest_eval() -> str:
    runs = sorted(Path("evals/runs").glob("eval-*.md"))
    if not runs:
        return "No eval run yet: `make eval` writes a table here."
    return f"Latest run: `{runs[-1].name}`\n\n" + runs[-1].read_text("utf-8")


def launch_options(settings: Settings) -> dict[str, Any]:
    """How the app is served; `max_file_size` makes Gradio refuse an oversize upload while it
    streams in, before anything is stored (our own check runs only on stored files)."""
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "show_error": False,
        "max_file_size": settings.max_case_bytes,
    }


def serve(settings: Settings) -> None:
    retriever = Retriever.open(settings)
    service = AnswerService(settings, retriever)
    try:
        build_app(settings, retriever, service).launch(**launch_options(settings))
    finally:
        service.close()
