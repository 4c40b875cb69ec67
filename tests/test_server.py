"""Server mode for real: `chroma run` on loopback, several app instances, faults on the way.

Each "instance" is its own data dir (and cases dir); only the Chroma server is shared.
"""

from __future__ import annotations

import pytest

from app.errors import IndexNotReadyError, VectorStoreError
from app.retrieval import RetrievalConfig, Retriever
from app.settings import load_settings
from ingest.index import run_ingest
from ingest.store import open_store
from tests.casegen import write_case, write_starter

KEYWORD_ONLY = RetrievalConfig(use_dense=False)


def instance(tmp_path, name: str, url: str, **overrides):
    cases = tmp_path / f"{name}-cases"
    cases.mkdir(exist_ok=True)
    return load_settings(
        data_dir=tmp_path / f"{name}-data", cases_dir=cases, chroma_url=url, **overrides
    )


def case_ids(result) -> list[str]:
    return [hit.record.case_id for hit in result.hits]


def test_an_instance_that_never_ingested_searches_by_keyword_and_vector(tmp_path, chroma_server):
    writer = instance(tmp_path, "writer", chroma_server.url)
    write_starter(writer.cases_dir)
    assert run_ingest(writer).ok
    reader = instance(tmp_path, "reader", chroma_server.url)  # empty cases dir, no ingest
    keyword = Retriever.open(reader, KEYWORD_ONLY).search("membership fee outside China", k=3)
    assert case_ids(keyword)[0] == "dash-club"
    hybrid = Retriever.open(reader).search("membership fee outside China", k=3)
    expected = Retriever.open(writer).search("membership fee outside China", k=3)
    assert [h.as_json() for h in hybrid.hits] == [h.as_json() for h in expected.hits]


def test_a_case_added_through_one_instance_reaches_the_others_keyword_search(
    tmp_path, chroma_server
):
    writer = instance(tmp_path, "writer", chroma_server.url)
    write_starter(writer.cases_dir)
    run_ingest(writer)
    readers = [
        Retriever.open(instance(tmp_path, name, chroma_server.url, sync_seconds=0), KEYWORD_ONLY)
        for name in ("reader-1", "reader-2")
    ]
    question = "zeppelin airship cargo"
    assert all("zep-air" not in case_ids(r.search(question)) for r in readers)
    write_case(writer.cases_dir, "zep-air", "ZepAir", sector="logistics", topic=question)
    assert run_ingest(writer).added == ["zep-air"]
    for reader in readers:
        assert case_ids(reader.search(question))[0] == "zep-air"
        assert "zep-air" in reader.records


def test_the_check_for_a_new_ingest_is_rate_limited(tmp_path, chroma_server):
    writer = instance(tmp_path, "writer", chroma_server.url)
    write_starter(writer.cases_dir)
    run_ingest(writer)
    reader = Retriever.open(
        instance(tmp_path, "reader", chroma_server.url, sync_seconds=3600), KEYWORD_ONLY
    )
    write_case(writer.cases_dir, "zep-air", "ZepAir", topic="zeppelin airship cargo")
    run_ingest(writer)
    assert "zep-air" not in case_ids(reader.search("zeppelin airship cargo"))  # not due yet


def test_fresh_server_is_reported_and_ingest_restores_it(tmp_path, chroma_server):
    from tests.chroma_server import ChromaServer

    writer = instance(tmp_path, "writer", chroma_server.url)
    starter = write_starter(writer.cases_dir)
    run_ingest(writer)
    chroma_server.stop()
    fresh = ChromaServer(tmp_path / "fresh-server").start()
    try:
        writer2 = instance(tmp_path, "writer", fresh.url)
        reader = instance(tmp_path, "reader", fresh.url)
        with pytest.raises(IndexNotReadyError, match="holds no Elsewhere index"):
            Retriever.open(reader)
        with pytest.raises(IndexNotReadyError, match="holds no Elsewhere index"):
            Retriever.open(writer2)  # its own copy says indexed; the server says otherwise
        report = run_ingest(writer2)
        assert report.restored == sorted(starter) and report.unchanged == []
        assert case_ids(Retriever.open(reader).search("membership fee outside China"))[0] == (
            "dash-club"
        )
    finally:
        fresh.stop()


def test_server_down_from_the_start_is_named_before_embedding(tmp_path, monkeypatch):
    from tests.chroma_server import free_port

    def fail(*_a, **_k):
        raise AssertionError("nothing may be embedded before the server answers")

    monkeypatch.setattr("ingest.embed.make_embeddings", fail)
    url = f"http://127.0.0.1:{free_port()}"
    writer = instance(tmp_path, "writer", url)
    write_starter(writer.cases_dir)
    with pytest.raises(VectorStoreError, match=f"cannot reach the Chroma server at {url}"):
        run_ingest(writer)
    with pytest.raises(VectorStoreError, match="chroma run --path DIR --host 127.0.0.1"):
        Retriever.open(writer)


def test_server_dying_mid_ingest_is_a_named_error_and_the_next_run_finishes(
    tmp_path, chroma_server
):
    from tests.chroma_server import ChromaServer

    writer = instance(tmp_path, "writer", chroma_server.url)
    starter = write_starter(writer.cases_dir)

    def kill_when_embedded(done: int, total: int) -> None:
        if total and done == total:
            chroma_server.stop()  # everything embedded, nothing written yet

    with pytest.raises(VectorStoreError) as info:
        run_ingest(writer, on_progress=kill_when_embedded)
    message = str(info.value)
    assert f"the Chroma vector store at {chroma_server.url} failed while indexing" in message
    assert "chroma run" in message and "Traceback" not in message
    again = ChromaServer(chroma_server.path, chroma_server.port).start()
    try:
        report = run_ingest(writer)
        assert report.ok and report.chunks_total == 66
        ids = open_store(writer, None).get(include=[])["ids"]
        assert len(ids) == len(set(ids)) == 66
        assert {i.split("::")[0] for i in ids} == set(starter)
    finally:
        again.stop()


def test_server_dying_under_a_search_is_a_named_error(tmp_path, chroma_server):
    writer = instance(tmp_path, "writer", chroma_server.url)
    write_starter(writer.cases_dir)
    run_ingest(writer)
    retriever = Retriever.open(writer)
    chroma_server.stop()
    with pytest.raises(VectorStoreError, match=f"at {chroma_server.url} failed while searching"):
        retriever.search("membership")


# --- one ingest at a time per server index, whichever instance runs it -----------------------


def _lock_row(client, settings, host: str, data_dir: str, expires_in: float) -> None:
    import time

    from ingest.lease import locks_name

    now = time.time()
    client.get_or_create_collection(locks_name(settings)).add(
        ids=[f"ingest:{settings.collection_name}"],
        documents=[f"{host} pid 1 data dir {data_dir}"],
        metadatas=[
            {
                "token": "t-other",
                "expires": now + expires_in,
                "since": now,
                "host": host,
                "data_dir": data_dir,
            }
        ],  # fmt: skip
        embeddings=[[1.0]],
    )


def test_a_second_instance_cannot_ingest_into_the_server_while_the_first_does(
    tmp_path, chroma_server
):
    from app.errors import IngestLockedError

    first = instance(tmp_path, "first", chroma_server.url)
    second = instance(tmp_path, "second", chroma_server.url)
    write_starter(first.cases_dir)
    write_starter(second.cases_dir)
    write_case(second.cases_dir, "zep-air", "ZepAir", sector="logistics", topic="airship cargo")
    refused: list[str] = []

    def second_ingest_midway(done: int, total: int) -> None:
        if done and not refused:  # the first ingest is writing: the second must not start
            with pytest.raises(IngestLockedError) as info:
                run_ingest(second)
            refused.append(str(info.value))

    assert run_ingest(first, on_progress=second_ingest_midway).ok
    assert refused and f"data dir {first.data_dir.resolve()}" in refused[0]
    assert chroma_server.url in refused[0] and "wait for it to finish" in refused[0]
    # the first one's lease is gone with it: the second now ingests, and both see its case
    assert "zep-air" in run_ingest(second).added
    assert "zep-air" in Retriever.open(instance(tmp_path, "first", chroma_server.url)).records


def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_named(tmp_path, chroma_server):
    from app.errors import IngestLockedError
    from ingest.lease import locks_name
    from ingest.store import open_client

    writer = instance(tmp_path, "writer", chroma_server.url)
    write_starter(writer.cases_dir)
    client = open_client(writer)
    _lock_row(client, writer, "build-host-7", "/srv/elsewhere", expires_in=600)
    with pytest.raises(IngestLockedError, match="build-host-7 pid 1 data dir /srv/elsewhere"):
        run_ingest(writer)
    client.delete_collection(locks_name(writer))
    _lock_row(client, writer, "build-host-7", "/srv/elsewhere", expires_in=-1)  # killed run
    assert run_ingest(writer).ok


def test_the_lease_is_renewed_while_the_ingest_runs(tmp_path, chroma_server):
    import time

    from app.errors import IngestLockedError
    from ingest.lease import locks_name, server_lease
    from ingest.store import open_client

    writer = instance(tmp_path, "writer", chroma_server.url)
    other = instance(tmp_path, "other", chroma_server.url)
    write_starter(other.cases_dir)
    client = open_client(writer)
    with server_lease(client, writer, lease_seconds=1.0, renew_seconds=0.2):
        time.sleep(1.6)  # past the first expiry: only the renewals keep it
        with pytest.raises(IngestLockedError):
            run_ingest(other)
    rows = client.get_collection(locks_name(writer)).get()
    assert rows["ids"] == []  # released
    assert run_ingest(other).ok
