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
def uploads(tmp_path, monkeypatch):
    """Gradio's upload folder for this test, so tests can see what stays on disk."""
    folder = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def _stored(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def served(settings, starter, uploads):
    from app.ui import build_app, launch_options

    run_ingest(settings)
    retriever = Retriever.open(settings)
    service = AnswerService(settings, retriever)
    app = build_app(settings, retriever, service)
    port = _free_port()
    options = {**launch_options(settings), "server_port": port}
    app.launch(**options, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
        service.close()


@pytest.fixture
def client(served):
    from gradio_client import Client

    yield Client(served, verbose=False)


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
    assert "a case with id `new-one` already exists" in again
    summary, *_ = client.predict(api_name="/reindex")
    assert summary.startswith("Indexed: 1 added, 0 updated, 0 removed, 6 unchanged, 0 failed")
    assert client.predict("new-one", api_name="/open_case").startswith("## NewOne")
    found = client.predict("NewOne topic", "any", 3, api_name="/search")
    assert "NewOne" in found


def test_upload_reusing_an_id_of_the_other_market_names_both_files(client, settings, tmp_path):
    from gradio_client import handle_file

    impostor = tmp_path / "impostor.md"
    impostor.write_text(case_text("dash-club", "Impostor", market="china"), encoding="utf-8")
    verdict = client.predict(handle_file(str(impostor)), api_name="/check_upload")
    assert "nothing was saved" in verdict
    assert "cases/china/dash-club.md line 2: `id` 'dash-club' is also the id of " in verdict
    assert "cases/overseas/dash-club.md" in verdict
    assert not (settings.cases_dir / "china" / "dash-club.md").exists()


def test_upload_alias_bomb_is_refused_quickly(client, settings, tmp_path):
    from gradio_client import handle_file

    from tests.test_parse import BOMB

    bomb = tmp_path / "bomb.md"
    bomb.write_text(BOMB.replace("years: *i", "id: *i"), encoding="utf-8")
    verdict = client.predict(handle_file(str(bomb)), api_name="/check_upload")
    assert "may not use YAML anchors or aliases" in verdict


def test_oversize_upload_is_refused_by_the_server_before_it_is_stored(served, uploads, settings):
    import httpx

    big = b"x" * (settings.max_case_bytes * 4)
    response = httpx.post(
        served + "gradio_api/upload", files={"files": ("big.md", big, "text/markdown")}
    )
    assert response.status_code == 413
    assert _stored(uploads) == []


def test_refused_and_accepted_uploads_leave_nothing_in_the_upload_folder(client, uploads, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "bad.md"
    bad.write_text(case_text("new-one", "NewOne").replace("outcome: worked", "outcome: ok"))
    assert "nothing was saved" in client.predict(handle_file(str(bad)), api_name="/check_upload")
    good = tmp_path / "good.md"
    good.write_text(case_text("new-two", "NewTwo"))
    assert "Saved" in client.predict(handle_file(str(good)), api_name="/check_upload")
    assert [name for name in _stored(uploads) if name.endswith(".md")] == []


HOSTILE = (
    'Before <img src="http://tracker.invalid/p.png"> and '
    '<form action="http://phish.invalid"><input name="pw"></form> then '
    "<script>alert(1)</script> and ![pixel](http://tracker.invalid/q.png)."
)


def test_html_in_a_case_is_shown_as_text(settings, uploads):
    from gradio_client import Client

    from app.ui import build_app, launch_options
    from tests.casegen import write_case

    write_case(settings.cases_dir, "evil", "Evil", extra={"Context": HOSTILE})
    run_ingest(settings)
    retriever = Retriever.open(settings)
    service = AnswerService(settings, retriever)
    app = build_app(settings, retriever, service)
    port = _free_port()
    app.launch(**{**launch_options(settings), "server_port": port}, prevent_thread_lock=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        page = client.predict("evil", api_name="/open_case")
        found = client.predict("tracker phish pixel", "any", 3, api_name="/search")
    finally:
        app.close()
        service.close()
    for text in (page, found):
        assert "<img" not in text and "<form" not in text and "<script" not in text
        assert "![" not in text
    assert '&lt;img src="http://tracker.invalid/p.png">' in page
    assert "&lt;form" in page and "&lt;script>" in page


# (gradio_client cannot send a lone surrogate; clean_question's own tests cover that kind.)
@pytest.mark.parametrize("raw,message", [("   ", "the question is empty"), ("\x07", "empty")])
def test_ask_and_search_refuse_bad_questions_with_a_message(client, raw, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(raw, [], "auto (from the question)", api_name="/ask")
    with pytest.raises(AppError, match=message):
        client.predict(raw, "any", 3, api_name="/search")


def test_search_clips_a_huge_question_and_says_so(client):
    text = client.predict("membership " * 20_000, "any", 3, api_name="/search")
    assert "only the first" in text and "DashClub" in text
