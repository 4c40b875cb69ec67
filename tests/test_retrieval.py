"""Case-level hybrid retrieval over a real Chroma index (deterministic embedder)."""

from __future__ import annotations

import pytest

from app.errors import IndexNotReadyError
from app.retrieval import RetrievalConfig, Retriever
from ingest.index import run_ingest
from ingest.schema import Market


@pytest.fixture
def retriever(settings, starter):
    run_ingest(settings)
    return Retriever.open(settings)


def test_one_result_per_case_best_first(retriever):
    result = retriever.search("membership subscription fee delivery", k=6)
    ids = [hit.record.case_id for hit in result.hits]
    assert len(ids) == len(set(ids)) == 6
    assert ids[0] == "dash-club"
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_geography_in_question_filters_market(retriever):
    result = retriever.search("bike sharing deposits outside China", k=6)
    assert result.market_filter == "overseas"
    assert {hit.record.market for hit in result.hits} == {"overseas"}
    assert result.hits[0].record.case_id == "scoot"


def test_market_override_beats_question(retriever):
    result = retriever.search("bike sharing outside China", k=6, market=Market.CHINA)
    assert result.market_filter == "china"
    assert result.hits[0].record.case_id == "bike-go"
    anywhere = retriever.search("bike sharing outside China", k=6, market="any")
    assert anywhere.market_filter is None
    assert {hit.record.market for hit in anywhere.hits} == {"china", "overseas"}


def test_evidence_comes_from_the_case_and_names_its_section(retriever):
    result = retriever.search("lucky money red envelopes bind bank cards", k=3)
    top = result.hits[0]
    assert top.record.case_id == "red-bag"
    assert top.evidence[0].section == "Acquisition model"
    assert "red envelopes" in top.evidence[0].text
    assert not top.evidence[0].text.startswith("RedBag")  # context header stripped


def test_lever_boost_prefers_the_asked_lever_section(retriever):
    plain = retriever.with_config(RetrievalConfig(lever_boost=0.0))
    boosted = retriever.with_config(RetrievalConfig(lever_boost=2.0))
    question = "BikeGo costs"
    assert boosted.search(question, k=1).hits[0].evidence[0].section == "Cost model"
    assert plain.search(question, k=1).hits[0].record.case_id == "bike-go"


def test_keyword_only_and_dense_only_both_work(retriever):
    for config in (RetrievalConfig(use_dense=False), RetrievalConfig(use_keyword=False)):
        hits = retriever.with_config(config).search("team purchase invite friends", k=2).hits
        assert hits[0].record.case_id == "team-buy"


def test_search_json_shape(retriever):
    payload = retriever.search("membership", k=2).as_json()
    # the documented shape plus compatible additions (issue 9): weak, match, mechanisms,
    # uncovered_industries, and market_reason (what in the question set the market filter)
    assert set(payload) == {
        "query", "market_filter", "market_reason", "results", "weak", "uncovered_industries",
        "match", "mechanisms",
    }  # fmt: skip
    assert isinstance(payload["weak"], bool) and isinstance(payload["match"], float)
    assert set(payload["results"][0]) == {
        "mechanisms",
        "case_id",
        "company",
        "market",
        "sector",
        "score",
        "summary",
        "evidence",
    }
    assert set(payload["results"][0]["evidence"][0]) == {"section", "text"}


def test_queries_never_rebuild_the_keyword_index(retriever, monkeypatch):
    def fail(*_a, **_k):
        raise AssertionError("BM25 rebuilt at query time")

    monkeypatch.setattr("ingest.keyword.KeywordIndex.build", fail)
    assert retriever.search("delivery", k=1).hits


def test_no_index_is_a_clear_error(settings):
    with pytest.raises(IndexNotReadyError, match="run `elsewhere ingest`"):
        Retriever.open(settings)


def test_search_refuses_a_lost_vector_store_instead_of_running_on_bm25_alone(settings, starter):
    from ingest.index import run_ingest
    from tests.test_ingest import wipe_vector_store

    run_ingest(settings)
    wipe_vector_store(settings)
    with pytest.raises(IndexNotReadyError, match=r"holds (no Elsewhere index|0 of the 66)"):
        Retriever.open(settings)


def _mechanism_library(settings):
    from tests.casegen import write_case

    write_case(
        settings.cases_dir,
        "cheap-phone",
        "CheapPhone",
        sector="consumer-electronics",
        topic="handset pricing",
        mechanisms=["razor-and-blade"],
    )
    write_case(
        settings.cases_dir,
        "gadget-store",
        "GadgetStore",
        sector="consumer-electronics",
        topic="handset pricing",
        mechanisms=["franchising"],
    )
    write_case(
        settings.cases_dir,
        "print-co",
        "PrintCo",
        sector="retail",
        topic="office printers",
        mechanisms=["razor-and-blade", "subscription"],
    )
    run_ingest(settings)


QUESTION = "we sell the device at cost and earn later from refills"


def test_mechanism_signal_finds_cases_of_other_sectors(settings):
    _mechanism_library(settings)
    config = RetrievalConfig(mechanism_weight=2.0, mechanism_min_sim=0.3)
    retriever = Retriever.open(settings, config)
    result = retriever.search(QUESTION, k=3)
    assert result.mechanisms[0].id == "razor-and-blade"
    ids = [hit.record.case_id for hit in result.hits]
    assert set(ids[:2]) == {"cheap-phone", "print-co"}  # both razor-and-blade cases first
    assert {h.record.case_id: h.mechanisms for h in result.hits}["print-co"] == ["razor-and-blade"]
    without = retriever.with_config(RetrievalConfig(mechanism_weight=0.0)).search(QUESTION, k=3)
    gap = {h.record.case_id: h.score for h in result.hits}
    base = {h.record.case_id: h.score for h in without.hits}
    # the signal lifts the cases using the mechanism, not the same-sector case without it
    assert gap["print-co"] - base["print-co"] > 0
    assert gap["gadget-store"] == pytest.approx(base["gadget-store"])
    payload = result.as_json()
    assert payload["results"][0]["mechanisms"] == ["razor-and-blade"]
    assert payload["mechanisms"][0]["id"] == "razor-and-blade"
    assert {"query", "market_filter", "results", "weak", "match"} <= set(payload)


def test_weak_flag_follows_the_calibrated_bar(settings):
    _mechanism_library(settings)
    strict = Retriever.open(settings, RetrievalConfig(weak_below=0.99))
    off_topic = strict.search("container shipping overcapacity pensions", k=3)
    assert off_topic.weak and off_topic.match is not None and off_topic.match < 0.99
    lenient = strict.with_config(RetrievalConfig(weak_below=0.0))
    assert not lenient.search("handset pricing", k=3).weak


def _exact_nearest(store, question: str, market: str, chunks) -> list[float]:
    """Brute force over every stored vector: the cosine distances of the market's nearest
    chunks, the filtered search's answer by definition."""
    import numpy as np

    from ingest.store import collection_of

    stored = collection_of(store).get(include=["embeddings"])
    vectors = np.asarray(stored["embeddings"], dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = np.asarray(store.embeddings.embed_query(question), dtype=np.float64)
    distances = 1.0 - vectors @ (query / np.linalg.norm(query))
    pairs = zip(stored["ids"], distances, strict=True)
    inside = [d for cid, d in pairs if chunks[cid]["market"] == market]
    return sorted(inside)


@pytest.mark.parametrize("claimed_share", [None, 1.0])
def test_market_filtered_dense_search_is_the_exact_filtered_nearest(
    retriever, claimed_share, monkeypatch
):
    """The market is filtered after an over-fetch, not by Chroma's slow `where`; the chunks it
    returns are still the market's nearest (compared by distance: the test encoder has ties).
    The store is asked again with the filter exactly when the over-fetch holds fewer than
    `candidates` of the market's chunks (the test encoder's ties make that depend on the HNSW
    graph built in the run); claiming the market holds every chunk makes the over-fetch too
    small, so there it must happen, and the answer is the same."""
    import dataclasses

    scoped = retriever.with_config(RetrievalConfig(candidates=5))
    if claimed_share is not None:
        snapshot = scoped._snapshot
        claimed = {market: claimed_share for market in snapshot.market_share}
        scoped._snapshot = dataclasses.replace(snapshot, market_share=claimed)
    calls: list[tuple[object, list[tuple[str, float]]]] = []
    nearest = scoped._nearest

    def recording(*args):
        found = nearest(*args)
        calls.append((args[3], found))
        return found

    monkeypatch.setattr(scoped, "_nearest", recording)
    store = scoped.dense[0]
    question = "deposits for shared bikes and scooters"
    refiltered = 0
    for market in (Market.CHINA, Market.OVERSEAS):
        calls.clear()
        got = scoped.dense_scored(store, question, market)
        exact = _exact_nearest(store, question, market.value, scoped._chunks)[:5]
        assert [round(d, 4) for _, d in got] == [round(d, 4) for d in exact]
        assert {scoped._chunks[cid]["market"] for cid, _ in got} == {market.value}
        (first_where, fetched), *again = calls
        inside = [cid for cid, _ in fetched if scoped._chunks[cid]["market"] == market.value]
        short = len(inside) < 5 and len(fetched) < len(scoped._chunks)
        assert first_where is None
        assert [where for where, _ in again] == ([{"market": market.value}] if short else [])
        refiltered += bool(again)
    if claimed_share is not None:
        assert refiltered


def test_failed_cases_are_preferred_only_when_the_question_asks_for_failures(settings):
    from tests.casegen import write_case

    for case_id, company, outcome in (("alpha-grocer", "AlphaGrocer", "worked"),
                                      ("beta-grocer", "BetaGrocer", "failed")):  # fmt: skip
        write_case(
            settings.cases_dir, case_id, company, sector="grocery", topic="ten minute grocery",
            outcome=outcome,
        )  # fmt: skip
    run_ingest(settings)
    plain = Retriever.open(settings, RetrievalConfig(use_dense=False, failure_boost=0.0))
    boosted = plain.with_config(RetrievalConfig(use_dense=False, failure_boost=0.3))

    def scores(retriever, question):
        return {h.record.case_id: h.score for h in retriever.search(question, k=2).hits}

    asked = "which ten minute grocery startups failed?"
    before, after = scores(plain, asked), scores(boosted, asked)
    assert after["beta-grocer"] == pytest.approx(before["beta-grocer"] * 1.3)
    assert after["alpha-grocer"] == pytest.approx(before["alpha-grocer"])
    described = "our ten minute grocery startup loses money on every basket"
    assert scores(boosted, described) == pytest.approx(scores(plain, described))


def test_cases_in_the_regions_the_question_names_are_preferred(settings):
    from tests.casegen import write_case

    for case_id, company, countries in (("us-grocer", "UsGrocer", ["US"]),
                                        ("latam-grocer", "LatamGrocer", ["BR", "MX"])):  # fmt: skip
        write_case(
            settings.cases_dir, case_id, company, sector="grocery", topic="ten minute grocery",
            countries=countries,
        )  # fmt: skip
    run_ingest(settings)
    assert RetrievalConfig().region_boost == 0.5  # on by default
    plain = Retriever.open(settings, RetrievalConfig(use_dense=False, region_boost=0.0))
    boosted = plain.with_config(RetrievalConfig(use_dense=False))

    def scores(retriever, question):
        return {h.record.case_id: h.score for h in retriever.search(question, k=2).hits}

    for asked in ("ten minute grocery in Latin America", "拉美的ten minute grocery"):
        before, after = scores(plain, asked), scores(boosted, asked)
        assert after["latam-grocer"] == pytest.approx(before["latam-grocer"] * 1.5)
        assert after["us-grocer"] == pytest.approx(before["us-grocer"])
    unnamed = "ten minute grocery delivery"
    assert scores(boosted, unnamed) == pytest.approx(scores(plain, unnamed))
