"""The eval harness: gold set integrity, metrics wiring, the CI gate, and the BEIR runner."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from evals.gold import GoldQuestion, gold_problems, load_gold
from ingest.parse import scan_library
from tests.conftest import ROOT


def test_gold_set_matches_the_library():
    scan = scan_library(ROOT / "cases")
    markets = {case.id: case.meta.market.value for case in scan.cases}
    questions = load_gold()
    assert gold_problems(questions, markets) == []
    assert len(questions) >= 80
    assert sum(q.lang == "zh" for q in questions) >= 15
    holdout = sum(q.split == "holdout" for q in questions)
    assert abs(holdout - len(questions) / 3) <= 2


def test_gold_check_catches_unknown_and_wrong_market_ids():
    questions = [
        GoldQuestion("q1", "x", "en", None, "overseas", {"nope": 2}, "tune"),
        GoldQuestion("q2", "x", "en", None, "overseas", {"a": 2, "b": 1}, "tune"),
        GoldQuestion("q2", "x", "en", None, None, {"a": 1}, "later"),
    ]
    problems = gold_problems(questions, {"a": "overseas", "b": "china"})
    assert "gold q1: names case 'nope', which does not exist" in problems
    assert "gold q2: b is not in market overseas" in problems
    assert "gold q2: duplicate id" in problems
    assert any("split must be one of" in p for p in problems)
    assert "gold q2: needs at least one case graded 2" in problems


def _tiny_gold(path):
    rows = [
        {
            "id": "q001",
            "q": "monthly pass for delivery outside China",
            "lang": "en",
            "asker": None,
            "market": "overseas",
            "relevant": {"dash-club": 2, "cart-prime": 1},
            "split": "tune",
        },
        {
            "id": "q002",
            "q": "red envelopes to bind bank cards",
            "lang": "en",
            "asker": None,
            "market": None,
            "relevant": {"red-bag": 2},
            "split": "tune",
        },
        {
            "id": "q003",
            "q": "bike sharing subsidies burned cash in China",
            "lang": "en",
            "asker": None,
            "market": "china",
            "relevant": {"bike-go": 2},
            "split": "holdout",
        },
        {
            "id": "q004",
            "q": "friends team purchase lower price",
            "lang": "en",
            "asker": "overseas",
            "market": None,
            "relevant": {"team-buy": 2},
            "split": "tune",
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), "utf-8")
    return load_gold(path)


def test_harness_end_to_end_with_outputs_and_gate(settings, starter, tmp_path):
    from evals.harness import CONFIGS, evaluate_configs, prepare_searchers
    from evals.report import check_baseline, save_baseline, write_outputs
    from ingest.embed import HashEmbeddings

    questions = _tiny_gold(tmp_path / "gold.jsonl")
    specs = tuple(
        s
        for s in CONFIGS
        if s.name in {"bm25", "hybrid", "product", "naive-langchain", "hybrid3+geo+lever"}
    )
    models = {"minilm": HashEmbeddings(), "use": HashEmbeddings()}
    searchers = prepare_searchers(settings, specs, lambda _: None, models)
    results = evaluate_configs(questions, searchers, specs, lambda _: None)
    by_name = {r.name: r for r in results}
    product = by_name["product"]
    assert product.metrics["all"]["recall@10"] == 1.0
    assert product.wrong_market["all"] == 0.0  # the geography filter at work
    assert by_name["hybrid"].wrong_market["all"] > 0.0
    assert set(product.per_question) == {"q001", "q002", "q003", "q004"}
    paths = write_outputs(results, tmp_path / "runs", {"questions": 4, "tune": 3, "holdout": 1})
    assert json.loads(paths["json"].read_text())["configs"][0]["name"] == specs[0].name
    assert "| product |" in paths["markdown"].read_text()
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"

    qrels = {q.id: q.relevant for q in questions}
    baseline = tmp_path / "baseline.json"
    save_baseline(product, baseline)
    assert check_baseline(product, qrels, baseline).passed
    worse = type(product)(**{**product.__dict__, "run": {q: {"scoot": 1.0} for q in product.run}})
    gate = check_baseline(worse, qrels, baseline)
    assert gate.current < gate.baseline
    assert "fails only if the drop" in gate.message


def test_gate_fails_on_a_significant_drop(tmp_path):
    from evals.harness import ConfigResult
    from evals.report import check_baseline, save_baseline

    qrels = {f"q{i}": {f"c{i}": 2} for i in range(30)}
    good = ConfigResult(
        "p", "", {}, {}, {q: {next(iter(r)): 2.0, "x": 1.0} for q, r in qrels.items()}
    )
    bad = ConfigResult(
        "p", "", {}, {}, {q: {"x": 2.0, next(iter(r)): 1.0} for q, r in qrels.items()}
    )
    save_baseline(good, tmp_path / "b.json")
    gate = check_baseline(bad, qrels, tmp_path / "b.json")
    assert not gate.passed and gate.p_value is not None and gate.p_value < 0.05
    assert check_baseline(good, qrels, tmp_path / "b.json").passed


SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"


@pytest.mark.skipif(not SCIFACT.exists(), reason="../shared/datasets/scifact not present")
def test_beir_runner_on_a_scifact_slice(settings, tmp_path, monkeypatch):
    """A small slice in BEIR format, run through the real runner (hash embedder)."""
    from evals.beir import run_beir

    qrels_lines = (SCIFACT / "qrels" / "test.tsv").read_text("utf-8").splitlines()
    pairs = [line.split("\t") for line in qrels_lines[1:31]]
    wanted_docs = {doc for _, doc, _ in pairs}
    corpus = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            row = json.loads(line)
            if row["_id"] in wanted_docs or n < 150:
                corpus.append(line)
    query_ids = {q for q, _, _ in pairs}
    queries = [
        line
        for line in (SCIFACT / "queries.jsonl").read_text("utf-8").splitlines()
        if json.loads(line)["_id"] in query_ids
    ]
    folder = tmp_path / "slice"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(corpus), "utf-8")
    (folder / "queries.jsonl").write_text("\n".join(queries), "utf-8")
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels_lines[:31]), "utf-8")
    result = run_beir(settings, folder, "test", "train", None, lambda _: None)
    payload = asdict(result)
    assert payload["dataset"] == "slice" and payload["split"] == "test"
    assert set(payload["configs"]) == {"bm25", "dense", "hybrid"}
    for scores in payload["configs"].values():
        assert set(scores) == {"ndcg@10", "recall@100"}
        assert 0.0 <= scores["ndcg@10"] <= 1.0
    assert payload["configs"]["bm25"]["ndcg@10"] > 0.3  # BM25 finds claims' abstracts
    assert "| hybrid (ours: RRF k=" in result.markdown()
    assert "hash (weight" in payload["tuned"]["systems"]["hybrid"]  # encoders and weights shown


def test_synthetic_cases_are_valid_marked_and_never_written_into_cases(tmp_path):
    from evals.synthetic import REPO_CASES, write_synthetic_library
    from ingest.parse import scan_library

    folder = write_synthetic_library(tmp_path / "cases", 6)
    scan = scan_library(folder)
    assert len(scan.cases) == 6 and scan.errors == []
    assert all(case.id.startswith("synthetic-") for case in scan.cases)
    assert all(case.meta.summary.startswith("SYNTHETIC") for case in scan.cases)
    assert 500 <= min(case.word_count for case in scan.cases)
    with pytest.raises(ValueError, match="never go into"):
        write_synthetic_library(REPO_CASES / "overseas", 1)


# --- the graded moves (evals/moves.jsonl) ------------------------------------------------------


def test_graded_moves_match_the_gold_set_and_the_cases():
    """Every graded pair names a gold question and a case of the library, and nearly every
    graded sentence is still one of its case's move or result candidates (a case edited since it was
    graded shows up here, and as `ungraded` in `elsewhere eval moves`)."""
    from app.extract import did_candidates, result_candidates
    from evals.moves import load_moves
    from ingest.state import CaseRecord

    records = {c.id: CaseRecord.from_case(c) for c in scan_library(ROOT / "cases").cases}
    gold = {q.id: q for q in load_gold()}
    items = load_moves()
    assert len(items) >= 250 and sum(gold[i.qid].lang == "zh" for i in items) >= 60
    assert {gold[i.qid].split for i in items} == {"tune", "holdout"}
    assert sum(bool(i.results) for i in items) >= 250
    current = total = 0
    for item in items:
        assert item.qid in gold and item.case_id in records
        record, lang = records[item.case_id], gold[item.qid].lang
        for grades, candidates in (
            (item.grades, did_candidates(record, lang)),
            (item.results, result_candidates(record, lang)),
        ):
            total += len(grades)
            current += len(set(candidates) & set(grades))
    assert current / total >= 0.9


def test_a_malformed_graded_move_names_its_line(tmp_path):
    from app.errors import ElsewhereError
    from evals.moves import load_moves

    path = tmp_path / "moves.jsonl"
    good = {"qid": "q1", "case_id": "a", "sentences": [{"text": "It did X.", "grade": 2}]}
    bad = {"qid": "q1", "case_id": "b", "sentences": [{"text": "It did Y.", "grade": 3}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", "utf-8")
    with pytest.raises(ElsewhereError, match="line 2"):
        load_moves(path)


def test_move_scores_count_good_picks_and_unknown_ones():
    from evals.moves import _scores

    answerable = {"Right move.": 2, "Side note.": 0}
    none_good = {"Related.": 1, "Off.": 0}
    scores = _scores([(answerable, "Side note."), (none_good, "Related."), (answerable, "New.")])
    # the off pick of an answerable pair is not good; the other pair has no good move to find
    assert scores == {"pairs": 3, "good": 0.0, "fits": 0.5, "mean_grade": 0.5, "ungraded": 1}
    scores = _scores([(answerable, "Right move."), (none_good, "Off."), (none_good, None)])
    assert scores["good"] == 1.0 and scores["fits"] == 0.5 and scores["ungraded"] == 1
