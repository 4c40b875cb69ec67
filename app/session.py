"""Wiring for answers: retriever + provider + engine, with the local model's lifetime managed.

A provider that cannot start (missing weights, corrupt file, unreachable server) never stops the
product: the engine runs without a model and every answer is the retrieval brief plus a notice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from app.chain import AnswerEngine, Event, Turn
from app.errors import ElsewhereError
from app.retrieval import MarketChoice, Retriever

if TYPE_CHECKING:
    from app.settings import Settings
    from ingest.index import IngestReport


@contextmanager
def answer_session(
    settings: Settings, retriever: Retriever | None = None
) -> Iterator[AnswerEngine]:
    """An AnswerEngine for the configured provider; stops the local model on exit."""
    from app.llm import LocalLLMServer, describe_provider, make_chat_model, resolve_model_file
    from ingest.tokens import encoding

    retriever = retriever or Retriever.open(settings)
    server = None
    model = None
    notice = None
    try:
        if settings.llm == "local":
            server = LocalLLMServer(settings, resolve_model_file(settings))
            server.start()
        model = make_chat_model(settings, server)
    except ElsewhereError as exc:
        notice = f"The language model was unavailable ({exc}); showing the matched cases instead."
        if server is not None:
            server.stop()
            server = None
    engine = AnswerEngine(
        retriever,
        model,
        encoding(str(settings.data_dir / "tiktoken")),
        describe_provider(settings),
        case_tokens=settings.llm_case_tokens,
        answer_cases=settings.llm_answer_points,
        timeout=settings.llm_timeout,
        load_notice=notice,
    )
    try:
        yield engine
    finally:
        if server is not None:
            server.stop()


class AnswerService:
    """A long-lived engine for the web app: the model loads on first use, one answer at a time
    (llama.cpp slows 3-10x when two generations share the two cores)."""

    def __init__(self, settings: Settings, retriever: Retriever):
        import threading

        self.settings = settings
        self.retriever = retriever
        self._lock = threading.Lock()
        self._resources = ExitStack()
        self._engine: AnswerEngine | None = None

    def engine(self) -> AnswerEngine:
        if self._engine is None:
            self._engine = self._resources.enter_context(
                answer_session(self.settings, self.retriever)
            )
        return self._engine

    def stream(
        self, question: str, history: Sequence[Turn], market: MarketChoice = None
    ) -> Iterator[Event]:
        with self._lock:
            yield from self.engine().stream(question, history, market)

    def reindex(self) -> IngestReport:
        """Ingest the case folder and reload the retriever, never while an answer streams."""
        from ingest.index import run_ingest

        with self._lock:
            report = run_ingest(self.settings)
            self.retriever.reload(self.settings)
        return report

    def close(self) -> None:
        self._resources.close()
        self._engine = None
