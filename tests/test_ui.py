"""The web app, served for real on loopback and driven through gradio_client (no model)."""

from __future__ import annotations

import socket

import pytest

from app.retrieval import Retriever
from app.session import AnswerService
from ingest.index import run_ingest
from tests.casegen import case_text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def client(settings, starter):
    from gradio_client import Client

    from app.ui import build_app

    run_ingest(settings)
    retriever = Retriever.open(settings)
    service = AnswerService(settings, retriever)
    app = build_app(settings, retriever, service)
    port = _free_port()
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        show_error=False,
        quiet=True,
    )
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        app.close()
        service.close()


def _text(content) -> str:
    """Gradio 6 returns a message's content as a list of typed parts."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def test_search_tab_returns_the_brief(client):
    text = client.predict(
        "membership fee outside China", "auto (from the question)", 3, api_name="/search"
    )
    assert "market filter: overseas" in text
    assert "DashClub" in text and "BikeGo" not in text


def test_ask_tab_without_a_model_shows_the_brief(client):
    messages, brief, notice = client.predict(
        "bike sharing in China", [], "auto (from the question)", api_name="/ask"
    )
    assert _text(messages[0]["content"]) == "bike sharing in China"
    assert "BikeGo" in _text(messages[-1]["content"])
    assert "market filter: china" in brief


def test_compare_tab_quotes_each_case(client):
    table = client.predict(["dash-club", "bike-go"], False, api_name="/compare")
    assert "| **Revenue model** |" in table and "[2] BikeGo" in table


def test_compare_needs_two_cases(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="compare takes 2 to 4 case ids"):
        client.predict(["dash-club"], False, api_name="/compare")


def test_library_tab_opens_a_case(client):
    text = client.predict("scoot", api_name="/open_case")
    assert text.startswith("## Scoot") and "### Sources" in text


def test_upload_validates_and_saves_only_good_files(client, settings, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "bad.md"
    bad.write_text(case_text("new-one", "NewOne").replace("outcome: worked", "outcome: ok"))
    verdict = client.predict(handle_file(str(bad)), api_name="/check_upload")
    assert "nothing was saved" in verdict and "`outcome`" in verdict
    assert not (settings.cases_dir / "overseas" / "new-one.md").exists()
    good = tmp_path / "good.md"
    good.write_text(case_text("new-one", "NewOne"))
    verdict = client.predict(handle_file(str(good)), api_name="/check_upload")
    assert "Saved" in verdict
    assert (settings.cases_dir / "overseas" / "new-one.md").exists()
    again = client.predict(handle_file(str(good)), api_name="/check_upload")
    assert "already exists" in again
    summary, *_ = client.predict(api_name="/reindex")
    assert summary.startswith("Indexed: 1 added, 0 updated, 0 removed, 6 unchanged, 0 failed")
    assert client.predict("new-one", api_name="/open_case").startswith("## NewOne")
    found = client.predict("NewOne topic", "any", 3, api_name="/search")
    assert "NewOne" in found
