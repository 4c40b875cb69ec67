"""The web app served for real on loopback, driven through gradio_client (same flows as the
browser tests). A paced fake model streams a fixed cited answer so streaming and queueing show."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.settings import load_settings
from tests.casegen import case_text, write_starter
from tests.webapp import PacedModel, running_app


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-api")
    settings = load_settings(
        data_dir=root / "data", cases_dir=root / "cases", embedder="hash", llm="none"
    )
    write_starter(settings.cases_dir)
    with running_app(settings, PacedModel(delay=0.02)) as app:
        yield app


@pytest.fixture(scope="module")
def client(web):
    from gradio_client import Client

    return Client(web.url, verbose=False)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def test_ask_streams_after_showing_source_cards(client):
    job = client.submit("membership fee outside China", [], "any", "", "", api_name="/ask")
    job.result()
    steps = job.outputs()
    first_cards = next(i for i, s in enumerate(steps) if "case-card" in s[1])
    final_chat, cards, _, export = steps[-1]
    assert "Searching" not in _text(final_chat[-1]["content"])
    assert first_cards < len(steps) - 2, "cards arrive before the answer has finished streaming"
    assert "[1] DashClub" in cards and 'href="#open:ask:dash-club"' in cards
    assert "(#open:ask:dash-club)" in _text(final_chat[-1]["content"])
    exported = Path(export["value"]).read_text("utf-8")
    assert exported.startswith("# membership fee outside China")
    assert "**[1]** **DashClub**" in exported and "**[2]** **CartPrime**" in exported


def test_a_follow_up_keeps_the_conversation(client):
    chat, *_ = client.predict("bike sharing deposits in China", [], "any", "", "", api_name="/ask")
    chat2, cards, *_ = client.predict("and the subsidies?", chat, "any", "", "", api_name="/ask")
    assert len(chat2) == 4
    assert "BikeGo" in cards  # the follow-up inherited the bike-sharing topic


def test_sector_filter_limits_the_cases(client):
    _, cards, *_ = client.predict("membership", [], "any", "e-commerce", "", api_name="/ask")
    assert "CartPrime" in cards and "DashClub" not in cards


def test_open_case_shows_sources(client):
    text = client.predict("scoot@1", api_name="/open_case")
    assert text.startswith("## Scoot") and "### Sources" in text and "as_of" not in text
    assert "last checked against the sources: 2026-11" in text


def test_vote_is_stored_and_becomes_a_gold_draft(client, web):
    import json

    client.predict("membership fee outside China", [], "any", "", "", api_name="/ask")
    # gr.State is per session: vote in the same client session after an answer
    note, comment = client.predict("missing a figure", api_name="/vote_down")
    assert note.startswith("Thanks: feedback #") and comment == ""
    number = int(note.split("#")[1].split()[0])
    draft = json.loads(client.predict(number, api_name="/gold_draft"))
    assert draft["q"] == "membership fee outside China" and draft["relevant"] == {}
    assert draft["draft"] == {"vote": "down", "comment": "missing a figure", "from": "feedback"}
    rows = client.predict(api_name="/feedback")["data"]
    assert any(row[0] == number and row[2] == "down" for row in rows)


def test_compare_two_cases_and_a_synthesis_through_the_line(client, web):
    table = client.predict(["dash-club", "bike-go"], False, api_name="/compare")
    assert "| **Revenue model** |" in table and "[2] BikeGo" in table
    with_model = client.predict(["dash-club", "bike-go"], True, api_name="/compare")
    assert "**How they differ**" in with_model


def test_compare_needs_two_cases(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="compare takes 2 to 4 case ids"):
        client.predict(["dash-club"], False, api_name="/compare")


def test_library_filters(client):
    table = client.predict("china", "", "", "", "", api_name="/library")
    assert table["label"] == "3 case(s)"
    ids = {row[0] for row in table["value"]["data"]}
    assert ids == {"red-bag", "bike-go", "team-buy"}
    table = client.predict("overseas", "", "demand", "", "swappable batteries", api_name="/library")
    assert [row[0] for row in table["value"]["data"]] == ["scoot"]


def test_two_answers_at_once_both_complete_one_generation_at_a_time(client, web):
    first = client.submit("membership fee", [], "any", "", "", api_name="/ask")
    time.sleep(0.3)
    second = client.submit("scooter batteries", [], "any", "", "", api_name="/ask")
    first.result(), second.result()
    assert any("Queued: 1 request(s) ahead" in s[2] for s in second.outputs())
    assert web.model.most_at_once == 1
    assert "(#open:ask:" in _text(second.outputs()[-1][0][-1]["content"])


def _form(client, **values):
    from ingest.submit import form_fields

    names = [f.name for f in form_fields()]
    return [values.get(n) for n in names]


def test_uploads_are_checked_like_cases_check(client, web, tmp_path):
    from gradio_client import handle_file

    cases = web.settings.cases_dir
    bad = tmp_path / "bad.md"
    bad.write_text(case_text("new-one", "NewOne").replace("outcome: worked", "outcome: ok"))
    verdict, *_ = client.predict(handle_file(str(bad)), False, api_name="/upload_case")
    assert "nothing was written" in verdict and "`outcome`" in verdict
    assert not (cases / "overseas" / "new-one.md").exists()
    # reusing an id of the other market is refused, whatever folder the upload claims
    clash = tmp_path / "clash.md"
    clash.write_text(case_text("dash-club", "DashClub Copy", market="china"))
    verdict, *_ = client.predict(handle_file(str(clash)), False, api_name="/upload_case")
    assert "is also the id of cases/overseas/dash-club.md" in verdict
    assert not (cases / "china" / "dash-club.md").exists()
    good = tmp_path / "good.md"
    good.write_text(case_text("new-one", "NewOne", topic="kiosk vending loyalty"))
    verdict, *_ = client.predict(handle_file(str(good)), False, api_name="/upload_case")
    assert "Saved `cases/overseas/new-one.md`" in verdict and "searchable now" in verdict
    again, *_ = client.predict(handle_file(str(good)), False, api_name="/upload_case")
    assert "tick “replace”" in again
    replaced, *_ = client.predict(handle_file(str(good)), True, api_name="/upload_case")
    assert replaced.startswith("✅ Replaced")
    _, cards, *_ = client.predict("kiosk vending loyalty", [], "any", "", "", api_name="/ask")
    assert "NewOne" in cards


def test_case_html_is_shown_as_text(client, web, tmp_path):
    from gradio_client import handle_file

    text = case_text("html-co", "HtmlCo", topic="<script>alert(1)</script> <img src=x>")
    path = tmp_path / "html.md"
    path.write_text(text)
    verdict, *_ = client.predict(handle_file(str(path)), False, api_name="/upload_case")
    assert verdict.startswith("✅")
    shown = client.predict("html-co@2", api_name="/open_case")
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "<img" not in shown


def test_oversize_upload_is_refused_by_the_server_before_it_is_stored(tmp_path, monkeypatch):
    """Gradio's max_file_size (= ELSEWHERE_MAX_CASE_BYTES) answers 413 while the upload streams
    in, so a 4x-too-large file never lands in the upload folder."""
    import httpx

    uploads = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    settings = load_settings(
        data_dir=tmp_path / "data", cases_dir=tmp_path / "cases", embedder="hash", llm="none"
    )
    write_starter(settings.cases_dir)
    with running_app(settings) as app:
        big = b"x" * (settings.max_case_bytes * 4)
        files = {"files": ("big.md", big, "text/markdown")}
        response = httpx.post(app.url + "gradio_api/upload", files=files)
    assert response.status_code == 413
    stored = [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []
    assert [p.name for p in stored if p.name.endswith(".md")] == []
