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
SearchFn = Callable[[GoldQuestion], list[tuple[str, str]]]  # -> [(case_id, market)] best first


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    description: str
    retrieval: RetrievalConfig | None  # None: the naive LangChain baseline
    embedders: tuple[str, ...] = ("minilm",)


PLAIN = RetrievalConfig(geo_filter=False, lever_boost=0.0)  # no market filter, no lever boost
# fmt: off
CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec("naive-langchain", "what a user would build: RecursiveCharacterTextSplitter"
               "(1000/200) + Chroma top-50 chunks -> cases (MiniLM)", None),
    ConfigSpec("bm25", "BM25 alone", replace(PLAIN, use_dense=False), ()),
    ConfigSpec("dense-minilm", "MiniLM dense alone", replace(PLAIN, use_keyword=False)),
    ConfigSpec("dense-use", "multilingual USE dense alone", replace(PLAIN, use_keyword=False),
               ("use",)),
    ConfigSpec("hybrid", "BM25 + MiniLM, RRF", PLAIN),
    ConfigSpec("hybrid+geo+lever", "BM25 + MiniLM, RRF, market filter, lever boost",
               RetrievalConfig()),
    ConfigSpec("hybrid-use", "BM25 + USE, RRF", PLAIN, ("use",)),
    ConfigSpec("hybrid3+geo+lever", "BM25 + USE + MiniLM (weight 0.2), RRF, filter, boost",
               RetrievalConfig(dense_weights=(1.0, 0.2)), ("use", "minilm")),
    ConfigSpec("hybrid-use+geo+lever", "the product: BM25 + USE, RRF, market filter, lever "
               "boost", RetrievalConfig(), ("use",)),
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
    records, keyword = load_index(settings)
    searchers: dict[str, SearchFn] = {}
    for spec in specs:
        if spec.retrieval is None:
            searchers[spec.name] = _naive_searcher(settings, records, models["minilm"], status)
            continue
        retriever = Retriever(records, keyword, [stores[e] for e in spec.embedders], spec.retrieval)
        searchers[spec.name] = _retriever_searcher(retriever)
    return searchers


def _retriever_searcher(retriever: Retriever) -> SearchFn:
    def search(question: GoldQuestion) -> list[tuple[str, str]]:
        asker = Market(question.asker) if question.asker else None
        result = retriever.search(question.q, k=K, asker=asker)
        return [(hit.record.case_id, hit.record.market) for hit in result.hits]

    return search


def naive_store(
    settings: Settings, records: dict[str, Any], embeddings: Embeddings, status: Status
) -> Chroma:
    """What a user would build from the LangChain tutorial, over the same case files:
    RecursiveCharacterTextSplitter(1000, 200) chunks in a Chroma collection (built once per
    library version under the data dir). The retrieval and the answer baselines both use it."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    files = sorted(settings.cases_dir.rglob("*.md"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    folder = settings.data_dir / "eval-naive" / digest
    fresh = not folder.exists()
    client = chromadb.PersistentClient(str(folder), ChromaSettings(anonymized_telemetry=False))
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

    def search(question: GoldQuestion) -> list[tuple[str, str]]:
        ranked: list[str] = []
        for doc in store.similarity_search(question.q, k=50):
            case_id = doc.metadata["case_id"]
            if case_id not in ranked:
                ranked.append(case_id)
        return [(cid, records[cid].market) for cid in ranked[:K]]

    return search


def evaluate_configs(
    questions: list[GoldQuestion],
    searchers: dict[str, SearchFn],
    specs: tuple[ConfigSpec, ...],
    status: Status,
) -> list[ConfigResult]:
    from ranx import Qrels, Run, evaluate

    qrels_all = {q.id: dict(q.relevant) for q in questions}
    results = []
    for spec in specs:
        status(f"evaluating {spec.name}")
        run: dict[str, dict[str, float]] = {}
        wrong: dict[str, list[float]] = {"tune": [], "holdout": [], "all": []}
        times = []
        for question in questions:
            started = time.perf_counter()
            ranked = searchers[spec.name](question)
            times.append((time.perf_counter() - started) * 1000)
            # Scores that preserve our ranking exactly (ranx sorts by score).
            run[question.id] = {cid: float(K + 1 - i) for i, (cid, _) in enumerate(ranked)}
            if question.market and ranked:
                share = sum(m != question.market for _, m in ranked) / len(ranked)
                wrong[question.split].append(share)
                wrong["all"].append(share)
        metrics: dict[str, dict[str, float]] = {}
        per_question: dict[str, dict[str, float]] = {}
        for split in ("tune", "holdout", "all"):
            ids = [q.id for q in questions if split == "all" or q.split == split]
            if not ids:
                metrics[split] = {m: float("nan") for m in METRICS}
                continue
            qrels = Qrels({qid: qrels_all[qid] for qid in ids})
            split_run = Run({qid: run[qid] or {"__none__": 0.0} for qid in ids})
            scores = evaluate(qrels, split_run, METRICS, return_mean=False)
            metrics[split] = {m: round(float(scores[m].mean()), 4) for m in METRICS}
            if split == "all":
                for index, qid in enumerate(sorted(ids)):
                    per_question[qid] = {m: round(float(scores[m][index]), 4) for m in METRICS}
        results.append(
            ConfigResult(
                spec.name,
                spec.description,
                metrics,
                {s: round(sum(v) / len(v), 4) if v else 0.0 for s, v in wrong.items()},
                run,
                per_question,
                round(sorted(times)[len(times) // 2], 2),
            )
        )
    return results
