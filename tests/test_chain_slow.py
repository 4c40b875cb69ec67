"""Slow tier: the whole answer path on a real local model (SmolLM2-135M, the smallest packaged
GGUF): load, answer over real case files (points quoted by default, or JSON-constrained points
the model writes with ELSEWHERE_LLM_POINTS=model), check them, shut down."""

from __future__ import annotations

import re
import shutil

import pytest

from app.checks import CITATION, unsupported_figures
from app.points import case_text
from app.session import answer_session
from app.settings import load_settings
from ingest.index import run_ingest
from tests.conftest import ROOT
from tests.models import smol_model_file

pytestmark = pytest.mark.slow


REAL_CASES = [
    "overseas/doordash-dashpass.md", "overseas/amazon-prime.md", "overseas/deliveroo-editions.md",
    "china/meituan-delivery-membership.md", "china/ele-me-subsidy-war.md",
]  # fmt: skip
POINT_SHAPE = re.compile(r"^\*\*\[(\d)\] [^*]+\*\* — .{8,} \[\1\]$", re.DOTALL)


@pytest.mark.parametrize("points", ["quoted", "model"])
def test_real_cases_give_points_in_the_required_shape(monkeypatch, settings, points):
    for rel in REAL_CASES:
        target = settings.cases_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "cases" / rel, target)
    monkeypatch.setenv("ELSEWHERE_LLM", "local")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(smol_model_file()))
    monkeypatch.setenv("ELSEWHERE_LLM_POINTS", points)
    monkeypatch.setenv("ELSEWHERE_LLM_JUDGE_MOVES", "3")  # opt-in: the judge on a real model
    settings = load_settings()
    run_ingest(settings)
    with answer_session(settings) as engine:
        answer = engine.ask("how did delivery apps outside China keep customers ordering?")
        # the judge of quoted moves reads the real server's logprobs (app/judge.py)
        assert engine.judge is not None
        yes = engine.judge.yes("how do we keep customers ordering?", "DoorDash", "It sold a pass.")
    assert yes is not None and 0.0 <= yes <= 1.0 and not engine.judge.unsupported
    assert all(p.quoted for p in answer.points) == (points == "quoted")
    assert answer.notice is None and answer.market_filter == "overseas"
    assert answer.points, answer.corrections  # the grammar forces fields; checks keep some
    records = engine.retriever.records
    for point in answer.points:
        assert POINT_SHAPE.match(point.text), point.text
        assert records[point.case_id].market == "overseas"
        body = CITATION.sub(" ", point.text)  # the [n] markers are not figures
        assert unsupported_figures(body, case_text(records[point.case_id])) == []
    assert [c.n for c in answer.citations] == [p.n for p in answer.points]
    assert answer.answer_markdown.startswith("**[1] ")


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
    assert answer.timings.first_token_ms is not None
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
        monkeypatch.setenv("ELSEWHERE_LLM_JUDGE_MOVES", "3")
        settings = load_settings()
        run_ingest(settings)
        with answer_session(settings) as engine:
            answer = engine.ask("membership fee outside China")
            assert engine.judge is not None  # logprobs come back through the /v1 API too
            yes = engine.judge.yes("membership fee?", "Amazon", "It charged a yearly fee.")
    assert yes is not None and 0.0 <= yes <= 1.0
    assert answer.provider == "openai" and answer.notice is None
    assert answer.timings.first_token_ms is not None and answer.answer_markdown.strip()
    assert server.api_key not in str(answer.as_json())
