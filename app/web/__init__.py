"""The Gradio web app (`elsewhere serve`): Ask, Compare, Library, Add case, Evals.

One module per tab; each only wires components to core functions (`app.session`,
`app.compare`, `app.library`, `app.feedback`, `ingest.submit`, `evals`). Errors become
`gr.Error` in one adapter (`common.user_errors`). Labels follow the browser's language
(English or Chinese).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.feedback import FeedbackStore
from app.retrieval import Retriever
from app.session import AnswerService
from app.settings import Settings
from app.web import add_case, ask, compare, evals, library
from app.web.common import CSS, I18N, LINK_JS, WebContext, t

RUNS_DIR = Path("evals/runs")
MAX_QUEUED = 32  # requests waiting for the model beyond this are refused by Gradio's queue


@dataclass(frozen=True)
class Access:
    host: str
    login: tuple[str, str] | None
    message: str


def access(settings: Settings) -> Access:
    """Where to listen and who may use the app: a login when ELSEWHERE_AUTH is set, otherwise
    loopback only whatever ELSEWHERE_HOST says (the app has no other access control)."""
    login = settings.login()
    url = f"http://{settings.host}:{settings.port}"
    if login is not None:
        return Access(settings.host, login, f"Elsewhere on {url} (login required)")
    if _loopback(settings.host):
        return Access(settings.host, None, f"Elsewhere on {url}: loopback only, no login")
    return Access(
        "127.0.0.1",
        None,
        f"ELSEWHERE_AUTH is not set, so Elsewhere listens on loopback only "
        f"(http://127.0.0.1:{settings.port}), not on {settings.host}; "
        "set ELSEWHERE_AUTH=user:password to serve other machines",
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(
    settings: Settings,
    retriever: Retriever,
    service: AnswerService,
    feedback: FeedbackStore | None = None,
    runs_dir: Path = RUNS_DIR,
) -> gr.Blocks:
    ctx = WebContext(
        settings, retriever, service, feedback or FeedbackStore.under(settings.data_dir), runs_dir
    )
    with gr.Blocks(title="Elsewhere") as app:
        gr.Markdown("# Elsewhere")
        gr.Markdown(t("tagline"))
        with gr.Tabs():
            ask.build(ctx)
            picks = compare.build(ctx)
            table = library.build(ctx)
            add_case.build(ctx, picks, table)
            evals.build(ctx)
    app.queue(max_size=MAX_QUEUED, default_concurrency_limit=None)
    built: gr.Blocks = app
    return built


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch` that every launch shares (tests included)."""
    return {
        "css": CSS,
        "js": LINK_JS,
        "i18n": I18N,
        "max_file_size": settings.max_case_bytes,
        "show_error": False,
    }


def serve(settings: Settings, say: object = print) -> None:
    """Start the app; `say` receives the start-up line (where it listens, login or not)."""
    where = access(settings)
    retriever = Retriever.open(settings)
    service = AnswerService(settings, retriever)
    if settings.llm != "none":
        service.warm_up()  # the model loads while the page opens, not on the first question
    say(where.message)  # type: ignore[operator]
    try:
        build_app(settings, retriever, service).launch(
            server_name=where.host,
            server_port=settings.port,
            auth=where.login,
            **launch_options(settings),
        )
    finally:
        service.close()
