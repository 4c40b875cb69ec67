"""Wiring for answers: retriever + provider + engine, with the local model's lifetime managed.

A provider that cannot start (missing weights, corrupt file, unreachable server) never stops the
product: the engine runs without a model and every answer is the retrieval brief plus a notice.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from app.chain import AnswerEngine, Event, Turn, warm_messages, warm_prompt_cache
from app.errors import ElsewhereError
from app.retrieval import CaseScope, MarketChoice, Retriever
from ingest.schema import Market

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from app.compare import Comparison
    from app.llm import LocalLLMServer
    from app.settings import Settings
    from ingest.index import IngestReport

T = TypeVar("T")


@contextmanager
def answer_session(
    settings: Settings, retriever: Retriever | None = None
) -> Iterator[AnswerEngine]:
    """An AnswerEngine for the configured provider; stops the local model on exit.

    The local model starts, and reads the fixed part of its prompt, in a background thread
    while the retriever opens (its encoders take most of a cold start): a one-shot
    `elsewhere ask` then pays for the slower of the two, not for both."""
    from app.llm import describe_provider
    from ingest.tokens import encoding

    with ThreadPoolExecutor(1, thread_name_prefix="elsewhere-model") as pool:
        starting = pool.submit(_start_model, settings)
        try:
            retriever = retriever or Retriever.open(settings)
        finally:
            server, model, notice = starting.result()
    engine = AnswerEngine(
        retriever,
        model,
        encoding(str(settings.tiktoken_dir)),
        describe_provider(settings),
        case_tokens=settings.llm_case_tokens,
        answer_cases=settings.llm_answer_points,
        timeout=settings.llm_timeout,
        load_notice=notice,
        budget=settings.llm_answer_seconds,
        points=settings.llm_points,
        judge_moves=settings.llm_judge_moves,
    )
    try:
        yield engine
    finally:
        if server is not None:
            server.stop()


def _start_model(
    settings: Settings,
) -> tuple[LocalLLMServer | None, BaseChatModel | None, str | None]:
    """(server, chat model, notice): the configured provider started and its prompt cache
    warmed, or (None, None, why not)."""
    from app.llm import LocalLLMServer, make_chat_model, resolve_model_file

    server = None
    try:
        if settings.llm == "local":
            server = LocalLLMServer(settings, resolve_model_file(settings))
            server.start()
        model = make_chat_model(settings, server)
    except ElsewhereError as exc:
        if server is not None:
            server.stop()
        notice = f"The language model was unavailable ({exc}); showing the matched cases instead."
        return None, None, notice
    if model is not None and server is not None:
        _warm(server, model)
    return server, model, None


def _warm(server: LocalLLMServer, model: BaseChatModel) -> None:
    """Fill the model's cache with the fixed part of the point prompt: restored from the last
    run's saved cache in milliseconds, or computed (about 7 s on 2 cores) and saved."""
    messages = warm_messages()
    name = server.prompt_name("point", "\n".join(str(m.content) for m in messages))
    if not server.restore_prompt(name):
        warm_prompt_cache(model)
        server.save_prompt(name)


@dataclass(frozen=True)
class Queued:
    """Emitted while a request waits for the model: `ahead` requests are before it in line."""

    ahead: int


class AnswerService:
    """A long-lived engine for the web app: the model loads on first use, one job at a time.

    llama.cpp slows 3-10x when two generations (or a generation and an ingest) share the two
    cores, so answers, compare syntheses, re-indexing and eval runs all stand in one FIFO line.
    A request that has to wait is told its place (`Queued` events); one that is abandoned while
    waiting (the browser tab closed) leaves the line, so nobody behind it waits forever.
    """

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        engine_factory: Callable[[], AbstractContextManager[AnswerEngine]] | None = None,
    ):
        self.settings = settings
        self.retriever = retriever
        self._factory = engine_factory or (lambda: answer_session(settings, retriever))
        self._line: list[object] = []
        self._turns = threading.Condition()
        self._start_lock = threading.Lock()
        self._resources = ExitStack()
        self._engine: AnswerEngine | None = None

    def warm_up(self) -> threading.Thread:
        """Start the model and fill its prompt cache in the background, in line like any job,
        so the first question after start-up does not wait for either."""

        def job() -> None:
            self.exclusive(lambda: self.engine().warm())

        thread = threading.Thread(target=job, name="elsewhere-warm-up", daemon=True)
        thread.start()
        return thread

    def engine(self) -> AnswerEngine:
        """The engine, started on first use; two first requests never start two models."""
        with self._start_lock:
            if self._engine is None:
                self._engine = self._resources.enter_context(self._factory())
            return self._engine

    @contextmanager
    def _in_line(self) -> Iterator[object]:
        ticket = object()
        with self._turns:
            self._line.append(ticket)
        try:
            yield ticket
        finally:
            with self._turns:
                self._line.remove(ticket)
                self._turns.notify_all()

    def _wait_turn(self, ticket: object) -> Iterator[Queued]:
        """Yield Queued whenever the place in line changes; return once at the front."""
        shown: int | None = None
        while True:
            with self._turns:
                ahead = self._line.index(ticket)
                if ahead and ahead == shown:
                    self._turns.wait(timeout=5.0)
                    continue
            if ahead == 0:
                return
            shown = ahead
            yield Queued(ahead)

    def waiting(self) -> int:
        """How many requests are in line, the one being served included."""
        with self._turns:
            return len(self._line)

    def serialised(self, job: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """Run a streaming job when its turn comes: Queued events first, then the job's own."""
        with self._in_line() as ticket:
            yield from self._wait_turn(ticket)
            yield from job()

    def exclusive(self, job: Callable[[], T]) -> T:
        """Run a blocking job (ingest, an eval run) alone, after the requests already waiting."""
        with self._in_line() as ticket:
            for _ in self._wait_turn(ticket):
                pass
            return job()

    def stream(
        self,
        question: str,
        history: Sequence[Turn],
        market: MarketChoice = None,
        asker: Market | None = None,
        scope: CaseScope | None = None,
    ) -> Iterator[Event | Queued]:
        def job() -> Iterator[Event]:
            engine = self.engine()
            if scope is not None and (scope.sector or scope.lever):
                engine = copy.copy(engine)  # same model, a retriever view limited to the scope
                engine.retriever = self.retriever.scoped(scope)
            return engine.stream(question, history, market, asker)

        return self.serialised(job)

    def synthesize(self, comparison: Comparison, language_of: str = "") -> Iterator[str | Queued]:
        """A compare synthesis, through the same line as answers; sets comparison.notice when
        no model is available."""

        def job() -> Iterator[str]:
            from app.compare import synthesize

            engine = self.engine()
            if engine.chat_model is None:
                comparison.notice = engine.load_notice or "No language model is configured."
                return
            yield from synthesize(
                comparison, engine.chat_model, engine.encoding, self.retriever.records, language_of
            )

        return self.serialised(job)

    def reindex(self) -> IngestReport:
        """Ingest the case folder and reload the retriever, never while an answer streams."""
        from ingest.index import run_ingest

        def job() -> IngestReport:
            report = run_ingest(self.settings)
            self.retriever.reload(self.settings)
            return report

        return self.exclusive(job)

    def close(self) -> None:
        with self._start_lock:
            self._resources.close()
            self._engine = None
