from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from app.settings import Settings, load_settings
from tests.casegen import write_starter

ROOT = Path(__file__).resolve().parent.parent
# Set (by .ci/run) to a running Chroma server's URL: every test then uses it, each test with
# collections of its own (ELSEWHERE_COLLECTION_PREFIX), instead of the embedded store.
TEST_SERVER_VARIABLE = "ELSEWHERE_TEST_CHROMA_URL"
# The answer object's documented fields (DESIGN.md / the answers issue), checked by several tests.
ANSWER_KEYS = {
    "question", "standalone_question", "market_filter", "answer_markdown", "citations",
    "invalid_citations", "cases", "timings", "provider", "model",
}  # fmt: skip


def heavy_imports_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after running `code`."""
    import subprocess
    import sys

    probe = f"{code}\nimport sys; print(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in out.stdout.strip().split(",") if name]


@pytest.fixture(autouse=True)
def env_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """Every test gets its own data dir and cases dir; nothing touches the real ones."""
    for name in ("ELSEWHERE_CHROMA_URL", "ELSEWHERE_ASKER_MARKET", "ELSEWHERE_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ELSEWHERE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ELSEWHERE_CASES_DIR", str(tmp_path / "cases"))
    monkeypatch.setenv("ELSEWHERE_EMBEDDER", "hash")
    monkeypatch.setenv("ELSEWHERE_LLM", "none")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shared = os.environ.get(TEST_SERVER_VARIABLE)
    if shared:  # CI's second pass: the same tests against a real Chroma server
        monkeypatch.setenv("ELSEWHERE_CHROMA_URL", shared)
        monkeypatch.setenv("ELSEWHERE_COLLECTION_PREFIX", f"t{uuid.uuid4().hex[:16]}")
    cache = tmp_path_factory.getbasetemp() / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    (tmp_path / "cases").mkdir()


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def starter(settings: Settings) -> list[str]:
    """Six small synthetic cases (3 china, 3 overseas) in the test's cases dir."""
    return write_starter(settings.cases_dir)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.txt")


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A real Chroma server on 127.0.0.1 with its data in this test's temp dir."""
    from tests.chroma_server import ChromaServer

    server = ChromaServer(tmp_path / "chroma-server").start()
    try:
        yield server
    finally:
        server.stop()
