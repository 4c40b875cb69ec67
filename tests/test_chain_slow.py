"""Slow tier: the whole answer path on a real local model (SmolLM2-135M, the smallest packaged
GGUF): load, stream, check citations, shut down."""

from __future__ import annotations

import pytest

from app.llm import smol_model_file
from app.session import answer_session
from app.settings import load_settings
from ingest.index import run_ingest

pytestmark = pytest.mark.slow


def test_one_question_end_to_end_with_a_real_gguf(monkeypatch, starter):
    monkeypatch.setenv("ELSEWHERE_LLM", "local")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(smol_model_file()))
    monkeypatch.setenv("ELSEWHERE_LLM_CONTEXT", "2048")
    settings = load_settings()
    run_ingest(settings)
    with answer_session(settings) as engine:
        assert engine.chat_model is not None, engine.load_notice
        answer = engine.ask("membership fee outside China")
        follow = engine.ask("and in China?", [("membership fee outside China", "...")])
    assert answer.provider == "local" and answer.notice is None
    assert answer.timings["first_token_ms"] is not None
    assert answer.market_filter == "overseas"
    assert answer.answer_markdown.strip()
    assert all(c.case_id in {h["case_id"] for h in answer.cases} for c in answer.citations)
    assert follow.standalone_question
    assert follow.answer_markdown.strip()


def test_missing_model_file_degrades_to_the_brief(monkeypatch, starter, tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"not a gguf at all" * 100)
    monkeypatch.setenv("ELSEWHERE_LLM", "local")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(bogus))
    settings = load_settings()
    run_ingest(settings)
    with answer_session(settings) as engine:
        answer = engine.ask("membership fee outside China")
    assert engine.chat_model is None
    assert answer.notice is not None and "unavailable" in answer.notice
    assert "case(s)" in answer.answer_markdown


def test_openai_provider_against_a_real_openai_compatible_server(monkeypatch, starter):
    """The `openai` provider path, for real: llama.cpp's server speaks the same /v1 API as
    OpenAI, vLLM and Ollama, so point ELSEWHERE_LLM_BASE_URL at it."""
    from app.llm import LocalLLMServer

    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(smol_model_file()))
    with LocalLLMServer(load_settings(llm="local")) as server:
        monkeypatch.setenv("ELSEWHERE_LLM", "openai")
        monkeypatch.setenv("ELSEWHERE_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("ELSEWHERE_LLM_MODEL", server.model_name)
        monkeypatch.setenv("ELSEWHERE_LLM_API_KEY", server.api_key)
        settings = load_settings()
        run_ingest(settings)
        with answer_session(settings) as engine:
            answer = engine.ask("membership fee outside China")
    assert answer.provider == "openai" and answer.notice is None
    assert answer.timings["first_token_ms"] is not None and answer.answer_markdown.strip()
    assert server.api_key not in str(answer.as_json())
