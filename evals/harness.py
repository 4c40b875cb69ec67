"""Retrieval evals on the gold questions: several configurations, same questions, same run.

Every configuration is measured at the case level with ranx (nDCG@10 primary, Recall@5,
Recall@10, MRR@10) on the `tune` and `holdout` splits, plus the share of results from the wrong
market on questions that ask for one market. "What a user would build instead" is included:
LangChain's RecursiveCharacterTextSplitter + Chroma similarity search, top chunks mapped to cases.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from app.retrieval import RetrievalConfig, Retriever, load_index
from evals.gold import GoldQuestion
from ingest.schema import Market

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from app.settings import Settings

METRICS = ["ndcg@10", "recall@5", "recall@10", "mrr@10"]
PRIMARY = "ndcg@10"
K = 10
Status = Callable[[str], None]


@dataclass(frozen=True)
class Ranked:
    """One configuration's answer to one gold question."""

    hits: list[tuple[str, str]]  # (case_id, market), best first
    weak: bool = False  # the retriever's own "no good match" verdict
    match: float | None = None


SearchFn = Callable[[GoldQuestion], Ranked]


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    description: str
    retrieval: RetrievalConfig | None  # None: the naive LangChain baseline
    embedders: tuple[str, ...] = ("minilm",)


# No market filter, no lever boost, no mechanism, region or failure signal: the plain fusions.
PLAIN = RetrievalConfig(
    geo_filter=False,
    lever_boost=0.0,
    mechanism_weight=0.0,
    region_boost=0.0,
    failure_boost=0.0,
    industry_check=False,
)
PREVIOUS = RetrievalConfig(
    mechanism_weight=0.0,
    region_boost=0.0,
    failure_boost=0.0,
    dense_weights=None,
    industry_check=False,
)
# fmt: off
CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec("naive-langchain", "what a user would build: RecursiveCharacterTextSplitter"
               "(1000/200) + Chroma top-50 chunks -> cases (MiniLM)", None),
    ConfigSpec("bm25", "BM25 alone", replace(PLAIN, use_dense=False), ()),
    ConfigSpec("dense-minilm", "MiniLM dense alone", replace(PLAIN, use_keyword=False)),
    ConfigSpec("dense-use", "multilingual USE dense alone", replace(PLAIN, use_keyword=False),
               ("use",)),
    ConfigSpec("hybrid", "BM25 + MiniLM, RRF", PLAIN),
    ConfigSpec("hybrid-use", "BM25 + USE, RRF", PLAIN, ("use",)),
    ConfigSpec("hybrid-use+geo+lever", "previous product: BM25 + USE, RRF, market filter, "
               "lever boost", PREVIOUS, ("use",)),
    ConfigSpec("hybrid3+geo+lever", "BM25 + USE + MiniLM (default weights), RRF, filter, boost",
               replace(RetrievalConfig(), mechanism_weight=0.0, region_boost=0.0,
                       failure_boost=0.0),
               ("use", "minilm")),
    ConfigSpec("product", "the product (defaults): BM25 + USE + MiniLM, RRF, market filter, "
               "lever boost, mechanism signal, region boost", RetrievalConfig(),
               ("use", "minilm")),
)
# fmt: on


@dataclass
class ConfigResult:
    name: str
    description: str
    metrics: dict[str, dict[str, float]]  # split -> metric -> mean
    wrong_market: dict[str, float]  # split -> share of top-10 results from the wrong market
    run: dict[str, dict[str, float]]  # qid -> case_id -> score (rank-preserving)
    per_question: dict[str, dict[str, float]] = field(default_factory=dict)  # qid -> metric
    median_ms: float = 0.0
    # "tune/kind:mechanism", "holdout/lang:zh", "holdout/hard"... -> metric -> mean
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)
    no_match: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> P/R
    match: dict[str, float | None] = field(default_factory=dict)  # qid -> best dense cosine
    group_sizes: dict[str, int] = field(default_factory=dict)


def prepare_searchers(
    settings: Settings,
    specs: tuple[ConfigSpec, ...],
    status: Status,
    models: dict[str, Embeddings] | None = None,
) -> dict[str, SearchFn]:
    """Build (incrementally) every index the configurations need, then one search fn each.

    `models` maps embedder names to already-loaded embedders (tests pass small ones).
    """
    from ingest.embed import make_embeddings
    from ingest.index import run_ingest
    from ingest.store import open_store

    needed = sorted({e for spec in specs for e in spec.embedders} | {settings.embedder})
    if any(spec.retrieval is None for spec in specs):
        needed = sorted(set(needed) | {"minilm"})
    models = dict(models or {})
    for name in needed:
        if name not in models:
            models[name] = make_embeddings(name)  # type: ignore[arg-type]
    stores = {}
    for name in needed:
        scoped = settings.model_copy(update={"embedder": name})
        status(f"indexing cases with {name}")
        report = run_ingest(scoped, embeddings=models[name])
        if not report.ok:
            status(f"{len(report.failed)} case file problem(s); evaluating the valid cases")
        stores[name] = open_store(scoped, models[name])
    from app.mechanisms import MechanismMatcher

    records, keyword = load_index(settings)
    searchers: dict[str, SearchFn] = {}
    matchers: dict[str, MechanismMatcher] = {}
    for spec in specs:
        if spec.retrieval is None:
            searchers[spec.name] = _naive_searcher(settings, records, models["minilm"], status)
            continue
        matcher = None
        if spec.embedders and spec.retrieval.mechanism_weight > 0:
            first = spec.embedders[0]
            if first not in matchers:
                cache = settings.model_copy(update={"embedder": first}).index_dir
                matchers[first] = MechanismMatcher(models[first], cache_dir=cache)
            matcher = matchers[first]
        stores_used = [stores[e] for e in spec.embedders]
        # settings for the first encoder: the weak bar is calibrated per encoder (WEAK_BARS)
        first_settings = (
            settings.model_copy(update={"embedder": spec.embedders[0]}) if spec.embedders else None
        )
        retriever = Retriever(
            records, keyword, stores_used, spec.retrieval, settings=first_settings, matcher=matcher
        )
        searchers[spec.name] = _retriever_searcher(retriever)
    return searchers


def _retriever_searcher(retriever: Retriever) -> SearchFn:
    def search(question: GoldQuestion) -> Ranked:
        asker = Market(question.asker) if question.asker else None
        result = retriever.search(question.q, k=K, asker=asker)
        hits = [(hit.record.case_id, hit.record.market or "") for hit in result.hits]
        return Ranked(hits, result.weak, result.match)

    return search


def naive_store(
    settings: Settings, records: dict[str, Any], embeddings: Embeddings, status: Status
) -> Chroma:
    """What a user would build from the LangChain tutorial, over the same case files:
    RecursiveCharacterTextSplitter(1000, 200) chunks in a Chroma collection (built once per
    library version under the data dir). The retrieval and the answer baselines both use it."""
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.store import local_client

    files = sorted(settings.cases_dir.rglob("*.md"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    folder = settings.data_dir / "eval-naive" / digest
    fresh = not folder.exists()
    client = local_client(folder)
    store = Chroma("naive_baseline", embedding_function=embeddings, client=client)
    if fresh:
        status("building the naive LangChain baseline index")
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        for path in files:
            case_id = path.stem
            if case_id in records:
                docs = splitter.create_documents([path.read_text("utf-8")], [{"case_id": case_id}])
                store.add_documents(docs)
    return store


def _naive_searcher(
    settings: Settings, records: dict[str, Any], embeddings: Embeddings, status: Status
) -> SearchFn:
    store = naive_store(settings, records, embeddings, status)

    def search(question: GoldQuestion) -> Ranked:
        ranked: list[str] = []
        for doc in store.similarity_search(question.q, k=50):
            case_id = doc.metadata["case_id"]
            if case_id not in ranked:
                ranked.append(case_id)
        return Ranked([(cid, records[cid].market or "") for cid in ranked[:K]])

    return search


def evaluate_configs(
    questions: list[GoldQuestion],
    searchers: dict[str, SearchFn],
    specs: tuple[ConfigSpec, ...],
    status: Status,
) -> list[ConfigResult]:
    """Ranking metrics on the answerable questions (per split, kind and language); the
    no-match questions measure the weak-result signal (precision/recall per split)."""
    results = []
    for spec in specs:
        status(f"evaluating {spec.name}")
        run: dict[str, dict[str, float]] = {}
        answers: dict[str, Ranked] = {}
        wrong: dict[str, list[float]] = {"tune": [], "holdout": [], "all": []}
        times = []
        for question in questions:
            started = time.perf_counter()
            ranked = searchers[spec.name](question)
            times.append((time.perf_counter() - started) * 1000)
            answers[question.id] = ranked
            # Scores that preserve our ranking exactly (ranx sorts by score).
            run[question.id] = {cid: float(K + 1 - i) for i, (cid, _) in enumerate(ranked.hits)}
            if question.market and ranked.hits:
                share = sum(m != question.market for _, m in ranked.hits) / len(ranked.hits)
                wrong[question.split].append(share)
                wrong["all"].append(share)
        answerable = [q for q in questions if not q.no_match]
        groups = {
            split: [q for q in answerable if split == "all" or q.split == split]
            for split in ("tune", "holdout", "all")
        }
        metrics = {split: _mean_metrics(qs, run)[0] for split, qs in groups.items()}
        per_question = _mean_metrics(answerable, run)[1]
        hard = [q for q in answerable if q.kind != "plain"]
        by_group: dict[str, dict[str, float]] = {}
        sizes: dict[str, int] = {}
        for split in ("tune", "holdout"):
            plain = [q for q in answerable if q.kind == "plain" and q.split == split]
            by_group[f"{split}/kind:plain"] = _mean_metrics(plain, run)[0]
            sizes[f"{split}/kind:plain"] = len(plain)
            for name, members in _groups(hard, split).items():
                by_group[f"{split}/{name}"] = _mean_metrics(members, run)[0]
                sizes[f"{split}/{name}"] = len(members)
        results.append(
            ConfigResult(
                spec.name,
                spec.description,
                metrics,
                {s: round(sum(v) / len(v), 4) if v else 0.0 for s, v in wrong.items()},
                run,
                per_question,
                round(sorted(times)[len(times) // 2], 2),
                by_group,
                {split: no_match_detection(questions, answers, split) for split in SPLIT_NAMES},
                {q.id: answers[q.id].match for q in questions},
                sizes,
            )
        )
    return results


SPLIT_NAMES = ("tune", "holdout", "all")


def _groups(questions: list[GoldQuestion], split: str) -> dict[str, list[GoldQuestion]]:
    """Hard questions of one split by kind, by language, and all together."""
    chosen = [q for q in questions if q.split == split]
    groups: dict[str, list[GoldQuestion]] = {"hard": chosen}
    for q in chosen:
        groups.setdefault(f"kind:{q.kind}", []).append(q)
        groups.setdefault(f"lang:{q.lang}", []).append(q)
    return groups


def _mean_metrics(
    questions: list[GoldQuestion], run: dict[str, dict[str, float]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    from ranx import Qrels, Run, evaluate

    if not questions:
        return {m: float("nan") for m in METRICS}, {}
    ids = sorted(q.id for q in questions)
    qrels = Qrels({q.id: dict(q.relevant) for q in questions})
    split_run = Run({qid: run[qid] or {"__none__": 0.0} for qid in ids})
    scores = evaluate(qrels, split_run, METRICS, return_mean=False)
    means = {m: round(float(scores[m].mean()), 4) for m in METRICS}
    per_question = {
        qid: {m: round(float(scores[m][i]), 4) for m in METRICS} for i, qid in enumerate(ids)
    }
    return means, per_question


def no_match_detection(
    questions: list[GoldQuestion], answers: dict[str, Ranked], split: str
) -> dict[str, float]:
    """Precision and recall of `weak` at finding the no-match questions of one split."""
    chosen = [q for q in questions if split == "all" or q.split == split]
    flagged = [q for q in chosen if answers[q.id].weak]
    true_positive = sum(q.no_match for q in flagged)
    positives = sum(q.no_match for q in chosen)
    return {
        "precision": round(true_positive / len(flagged), 4) if flagged else float("nan"),
        "recall": round(true_positive / positives, 4) if positives else float("nan"),
        "flagged": float(len(flagged)),
        "no_match_questions": float(positives),
    }
