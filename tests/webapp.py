"""Launching the real web app on loopback for gradio_client and browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from app.chain import AnswerEngine
from app.llm import Provider
from app.retrieval import Retriever
from app.session import AnswerService
from app.settings import Settings
from ingest.index import run_ingest
from ingest.tokens import encoding

POINTS = [
    ("It replaced per-order delivery fees with a monthly pass, so members stopped comparing "
     "coupons.", "Members ordered more often."),
    ("It bundled free shipping into a yearly membership that customers paid for up front.",
     "Members bought again within the year."),
    ("It swapped batteries in the street instead of collecting every scooter to charge it.",
     "Charging got cheaper per ride."),
    ("It let friends team up for a lower group price, so each buyer recruited the next.",
     "New buyers came through invitations."),
]  # fmt: skip


class PacedModel(GenericFakeChatModel):
    """Streams a JSON point (the shape the answer chain asks for) word by word, `delay` seconds
    apart, a different one on each call: a stand-in for the local model so that streaming and
    queueing can be watched (the model is not under test)."""

    messages: Any = iter(())
    delay: float = 0.05
    running: int = 0
    most_at_once: int = 0
    calls: int = 0

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        import json

        did, result = POINTS[self.calls % len(POINTS)]
        self.calls += 1
        text = json.dumps({"did": did, "result": result})
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            for word in text.split(" "):
                time.sleep(self.delay)
                yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
        finally:
            self.running -= 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    settings: Settings
    retriever: Retriever
    service: AnswerService
    model: PacedModel | None


@contextmanager
def running_app(
    settings: Settings, model: PacedModel | None = None, runs_dir: Path | None = None
) -> Iterator[RunningApp]:
    """Ingest the test library, build the app with `model` (None: no model), serve it."""
    from app.web import build_app, launch_options

    run_ingest(settings)
    retriever = Retriever.open(settings)

    @contextmanager
    def engine() -> Iterator[AnswerEngine]:
        enc = encoding(str(settings.data_dir / "tiktoken"))
        # the model writes the points, so the app's streaming of model text is what is tested
        info = Provider("fake", "paced")
        yield AnswerEngine(retriever, model, enc, info, points="model")

    service = AnswerService(settings, retriever, engine_factory=engine if model else None)
    app = build_app(settings, retriever, service, runs_dir=runs_dir or settings.data_dir / "runs")
    port = free_port()
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(settings),
    )
    try:
        yield RunningApp(f"http://127.0.0.1:{port}/", settings, retriever, service, model)
    finally:
        app.close()
        service.close()


def in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    thread.start()
    return thread, out
