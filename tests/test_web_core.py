"""Core pieces behind the web app, without Gradio: the FIFO line, snapshots, submissions,
feedback, library filters, access rules."""

from __future__ import annotations

import threading
import time

import pytest

from app.errors import CaseFileError, ConfigError
from app.feedback import FeedbackStore, gold_draft
from app.library import CaseFilter, filter_cases
from app.retrieval import Retriever
from app.session import AnswerService, Queued
from app.settings import load_settings
from ingest.index import run_ingest
from ingest.submit import check_submission, compose_case, form_fields, save_submission
from tests.casegen import case_text


def test_the_line_serves_one_job_at_a_time_in_order_and_reports_places(settings):
    service = AnswerService(settings, retriever=None)  # type: ignore[arg-type]
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def slow_job():
        started.set()
        release.wait(5)
        order.append("first")
        yield "done"

    first = threading.Thread(target=lambda: list(service.serialised(slow_job)))
    first.start()
    started.wait(5)
    second = service.serialised(lambda: iter([order.append("second") or "ok"]))
    assert next(second) == Queued(1)
    release.set()
    assert list(second) == ["ok"]
    first.join(5)
    assert order == ["first", "second"]
    assert service.waiting() == 0


def test_an_abandoned_wait_leaves_the_line(settings):
    service = AnswerService(settings, retriever=None)  # type: ignore[arg-type]
    release = threading.Event()
    holder = threading.Thread(
        target=lambda: service.exclusive(lambda: release.wait(5)), daemon=True
    )
    holder.start()
    while service.waiting() == 0:
        time.sleep(0.01)
    waiting = service.serialised(lambda: iter(["never"]))
    assert next(waiting) == Queued(1)
    waiting.close()  # the browser tab went away
    assert service.waiting() == 1
    release.set()
    holder.join(5)
    assert service.exclusive(lambda: "next one runs") == "next one runs"


def test_the_model_starts_once_when_two_requests_race(settings):
    from contextlib import contextmanager

    starts = []

    @contextmanager
    def factory():
        starts.append(1)
        time.sleep(0.2)
        yield object()

    service = AnswerService(settings, retriever=None, engine_factory=factory)  # type: ignore[arg-type]
    threads = [threading.Thread(target=service.engine) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert starts == [1]


def test_reload_swaps_one_snapshot(settings, starter):
    run_ingest(settings)
    retriever = Retriever.open(settings)
    before = retriever._snapshot
    retriever.reload(settings)
    after = retriever._snapshot
    assert before is not after and after.records.keys() == before.records.keys()
    assert set(after.chunks) == {rec["id"] for rec in after.keyword.records}


def test_an_id_from_the_other_market_is_refused_and_nothing_written(settings, starter):
    raw = case_text("red-bag", "RedBag Abroad", market="overseas").encode()
    with pytest.raises(CaseFileError) as caught:
        save_submission(settings.cases_dir, raw, settings.max_case_bytes)
    [problem] = caught.value.problems
    assert problem.field == "id" and "cases/china/red-bag.md" in problem.message
    assert not (settings.cases_dir / "overseas" / "red-bag.md").exists()


def test_replace_needs_the_explicit_flag(settings, starter):
    raw = case_text("scoot", "Scoot", topic="new text").encode()
    with pytest.raises(CaseFileError, match="replace"):
        check_submission(settings.cases_dir, raw, settings.max_case_bytes)
    saved = save_submission(settings.cases_dir, raw, settings.max_case_bytes, replace=True)
    assert saved.replaces and "new text" in saved.target.read_text("utf-8")


@pytest.mark.parametrize(
    "raw, expected",
    [
        (case_text("../evil", "Evil").encode(), "`id` must match pattern"),
        (b"\xff\xfe---\n", "not valid UTF-8"),
        (case_text("big-one", "Big").encode() + b"x" * 70_000, "at most"),
    ],
)
def test_untrusted_uploads_are_refused(settings, raw, expected):
    with pytest.raises(CaseFileError, match=expected):
        save_submission(settings.cases_dir, raw, settings.max_case_bytes)
    assert not any(settings.cases_dir.rglob("*.md"))
    assert not any(settings.cases_dir.parent.rglob("evil.md"))


def test_the_form_covers_every_schema_field_and_composes_a_valid_case(settings):
    from ingest.schema import CaseMeta

    fields = {f.name: f for f in form_fields()}
    assert list(fields) == list(CaseMeta.model_fields)
    assert fields["sector"].kind == "choice" and "food-delivery" in fields["sector"].choices
    assert fields["levers"].kind == "multi" and fields["market"].choices == ("china", "overseas")
    assert (
        fields["mechanisms"].kind == "multi" and "razor-and-blade" in fields["mechanisms"].choices
    )
    body = case_text("form-co", "FormCo").split("---\n", 2)[2]
    values = {
        "id": "form-co", "company": "FormCo", "market": "overseas", "hq_country": "US",
        "countries": "US, GB", "sector": "retail", "years": "2019-2023",
        "problems": "repeat visits", "levers": ["demand"], "mechanisms": ["paid-membership"],
        "outcome": "mixed", "as_of": "2026-12",
        "summary": "FormCo ran a loyalty card and reported the results.",
        "sources": "FormCo annual report | FormCo | 2023 | https://example.com/r",
    }  # fmt: skip
    saved = save_submission(settings.cases_dir, compose_case(values, body), 65536)
    assert saved.target == settings.cases_dir / "overseas" / "form-co.md"


def test_feedback_is_stored_and_drafted(settings):
    import json

    store = FeedbackStore.under(settings.data_dir)
    saved = store.add("会员怎么提高复购", "answer [1]", ["dash-club"], "up", " good ", "overseas")
    again = FeedbackStore.under(settings.data_dir).get(saved.id)
    assert again.comment == "good" and again.cited == ("dash-club",)
    draft = json.loads(gold_draft(again))
    assert draft["lang"] == "zh" and draft["relevant"] == {"dash-club": 1}
    assert draft["market"] == "overseas"


def test_library_filters_combine(settings, starter):
    run_ingest(settings)
    records = Retriever.open(settings).records.values()
    found = filter_cases(records, CaseFilter(market="china", text="red envelopes"))
    assert [r.case_id for r in found] == ["red-bag"]
    assert filter_cases(records, CaseFilter(outcome="failed")) == []


def test_without_auth_the_app_stays_on_loopback(monkeypatch):
    from app.web import access

    assert access(load_settings(host="0.0.0.0")).host == "127.0.0.1"
    assert "loopback only" in access(load_settings(host="0.0.0.0")).message
    with_login = access(load_settings(host="0.0.0.0", auth="pm:s3cret"))
    assert with_login.host == "0.0.0.0" and with_login.login == ("pm", "s3cret")
    assert "s3cret" not in with_login.message
    with pytest.raises(ConfigError) as caught:
        load_settings(auth="nopassword")
    assert "nopassword" not in str(caught.value) and "ELSEWHERE_AUTH=***" in str(caught.value)
