"""`elsewhere eval beir DIR`: the product's retrieval code on a public BEIR-format dataset.

Each document becomes one chunk (title + text; SciFact documents are abstracts, which MiniLM
truncates at 256 word pieces as in MTEB's runs). BM25 is our `KeywordIndex` (same tokenizer),
dense is MiniLM in Chroma through langchain-chroma, hybrid is our weighted RRF `fuse` plus the
per-document pooling of `Retriever.rank_cases`. Fusion weights and BM25 parameters are tuned on
the tune split only; the reported split is never used to choose anything.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import ElsewhereError
from app.retrieval import RetrievalConfig, Retriever, fuse
from app.settings import EMBEDDER_IDS
from ingest.keyword import ChunkRecord, KeywordIndex
from ingest.state import CaseRecord

if TYPE_CHECKING:
    from app.settings import Settings
    from evals.harness import Status

# Published nDCG@10 on the SciFact test split (../shared/datasets/scifact/README.md).
PUBLISHED = {
    "scifact": {
        "BM25 (BEIR paper)": 0.665,
        "BM25 flat k1=0.9 b=0.4 (Anserini)": 0.679,
        "BM25 + cross-encoder (BEIR paper)": 0.688,
        "all-MiniLM-L6-v2 dense (MTEB)": 0.645,
        "bge-small-en-v1.5 dense (MTEB)": 0.713,
    }
}
DEPTH = 100
BM25_GRID = [(0.9, 0.4), (1.2, 0.75), (1.5, 0.75)]
RRF_GRID = [10, 30, 60, 100]
WEIGHT_GRID = [0.5, 0.75, 1.0, 1.5, 2.0]


@dataclass
class BeirResult:
    dataset: str
    split: str
    configs: dict[str, dict[str, float]]
    tuned: dict[str, Any] = field(default_factory=dict)
    queries: int = 0
    documents: int = 0

    def markdown(self) -> str:
        lines = [
            f"{self.dataset} ({self.split} split, {self.queries} queries, "
            f"{self.documents} documents); BM25 and fusion tuned on the "
            f"{self.tuned.get('split')} split (tune nDCG@10 {self.tuned.get('tune_ndcg@10')})",
            "",
            "| system | nDCG@10 | Recall@100 |",
            "|---|---|---|",
        ]
        systems = self.tuned.get("systems", {})
        for name, scores in self.configs.items():
            what = f": {systems[name]}" if name in systems else ""
            lines.append(
                f"| {name} (ours{what}) | {scores['ndcg@10']:.3f} | {scores['recall@100']:.3f} |"
            )
        for name, score in PUBLISHED.get(self.dataset, {}).items():
            lines.append(f"| {name} (published) | {score:.3f} | |")
        return "\n".join(lines) + "\n"


def load_beir(
    folder: Path, split: str
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus rows, query texts and qrels for one split, with clear errors for a bad folder."""
    try:
        corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")]
        queries = {}
        for line in (folder / "queries.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            queries[str(row["_id"])] = row["text"]
        qrels: dict[str, dict[str, int]] = {}
        with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    except (OSError, ValueError, KeyError) as exc:
        raise ElsewhereError(
            f"{folder} is not a BEIR dataset with a {split!r} split "
            f"(need corpus.jsonl, queries.jsonl, qrels/{split}.tsv): {exc}"
        ) from None
    return corpus, queries, qrels


def run_beir(
    settings: Settings,
    folder: Path,
    split: str,
    tune_split: str,
    limit: int | None,
    status: Status,
) -> BeirResult:
    from ranx import Qrels, Run, evaluate

    corpus, queries, test_qrels = load_beir(folder, split)
    tune_qrels = (
        load_beir(folder, tune_split)[2]
        if (folder / "qrels" / f"{tune_split}.tsv").exists()
        else {}
    )
    test_ids = sorted(q for q in test_qrels if q in queries)[:limit]
    tune_ids = sorted(q for q in tune_qrels if q in queries)[:limit]
    status(f"{folder.name}: {len(corpus)} documents, {len(test_ids)} {split} queries")
    retriever = _beir_retriever(settings, folder, corpus, status)

    def dense_ranked(store: Any, ids: list[str]) -> dict[str, list[str]]:
        return {q: retriever.dense_ranking(store, queries[q], None) for q in ids}

    def keyword_ranked(ids: list[str], keyword: KeywordIndex) -> dict[str, list[str]]:
        scoped = Retriever(retriever.records, keyword, [], retriever.config)
        return {q: scoped.keyword_ranking(queries[q], None) for q in ids}

    def docs(rankings: list[tuple[list[str], float]], rrf_k: int = 60) -> dict[str, float]:
        return _doc_scores(retriever, fuse(rankings, rrf_k))

    def score(
        runs: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], ids: list[str]
    ) -> dict[str, float]:
        qr = Qrels({q: qrels[q] for q in ids})
        run = Run({q: runs[q] or {"__none__": 0.0} for q in ids})
        result = evaluate(qr, run, ["ndcg@10", "recall@100"])
        return {k: round(float(v), 4) for k, v in result.items()}

    names = list(settings.dense_embedders)
    texts = [record["text"] for record in retriever.keyword.records]
    tuned: dict[str, Any] = {"split": tune_split if tune_ids else None, "encoders": names}
    keyword, weights, rrf_k = retriever.keyword, (1.0,) * len(names), 60
    if tune_ids:
        status(f"tuning BM25 and fusion on {len(tune_ids)} {tune_split} queries")
        dense_tune = [dense_ranked(store, tune_ids) for store in retriever.dense]
        best = -1.0
        for k1, b in BM25_GRID:
            candidate = KeywordIndex.build(texts, keyword.records, keyword.stamp, k1=k1, b=b)
            kw = keyword_ranked(tune_ids, candidate)
            value = score({q: docs([(kw[q], 1.0)]) for q in tune_ids}, tune_qrels, tune_ids)
            if value["ndcg@10"] > best:
                best, kw_tune, chosen = value["ndcg@10"], kw, candidate
                tuned["bm25_k1_b"] = [k1, b]
        keyword = chosen
        grids = [[0.0, *WEIGHT_GRID]] * len(names)
        values = {
            (ws, k): score(
                {
                    q: docs(
                        [
                            *((d[q], w) for d, w in zip(dense_tune, ws, strict=True)),
                            (kw_tune[q], 1.0),
                        ],
                        k,
                    )
                    for q in tune_ids
                },
                tune_qrels,
                tune_ids,
            )["ndcg@10"]
            for ws in itertools.product(*grids)
            if any(ws)
            for k in RRF_GRID
        }
        weights, rrf_k = max(values, key=lambda key: values[key])
        tuned.update(
            {
                "dense_weights": dict(zip(names, weights, strict=True)),
                "rrf_k": rrf_k,
                "tune_ndcg@10": values[(weights, rrf_k)],
            }
        )
    status(f"scoring {len(test_ids)} {split} queries")
    dense_test = [dense_ranked(store, test_ids) for store in retriever.dense]
    kw_test = keyword_ranked(test_ids, keyword)
    runs = {"bm25": {q: docs([(kw_test[q], 1.0)]) for q in test_ids}}
    systems = {"bm25": f"BM25 (bm25s, k1/b {tuned.get('bm25_k1_b', 'default')})"}
    for n, (name, ranked) in enumerate(zip(names, dense_test, strict=True)):
        key = "dense" if n == 0 else f"dense-{name}"
        runs[key] = {q: docs([(ranked[q], 1.0)]) for q in test_ids}
        systems[key] = f"dense {EMBEDDER_IDS[name]} in Chroma"
    runs["hybrid"] = {
        q: docs(
            [*((d[q], w) for d, w in zip(dense_test, weights, strict=True)), (kw_test[q], 1.0)],
            rrf_k,
        )
        for q in test_ids
    }
    systems["hybrid"] = f"RRF k={rrf_k} of BM25 (weight 1) + " + " + ".join(
        f"{name} (weight {w})" for name, w in zip(names, weights, strict=True)
    )
    tuned["systems"] = systems
    configs = {name: score(run, test_qrels, test_ids) for name, run in runs.items()}
    return BeirResult(folder.name, split, configs, tuned, len(test_ids), len(corpus))


def _doc_text(doc: dict[str, Any]) -> str:
    return f"{doc.get('title', '')}\n{doc.get('text', '')}".strip()


def _doc_scores(retriever: Retriever, chunk_scores: dict[str, float]) -> dict[str, float]:
    hits = retriever.rank_cases(chunk_scores)[:DEPTH]
    return {hit.record.case_id: float(DEPTH + 1 - i) for i, hit in enumerate(hits)}


def _beir_retriever(
    settings: Settings, folder: Path, corpus: list[dict[str, Any]], status: Status
) -> Retriever:
    """One chunk per document: BM25 in memory, vectors in a cached Chroma collection."""
    from langchain_chroma import Chroma

    from ingest.embed import make_embeddings
    from ingest.store import local_client

    texts = [_doc_text(doc) for doc in corpus]
    ids = [f"{doc['_id']}::0" for doc in corpus]
    records = [
        ChunkRecord(
            id=cid, case_id=str(doc["_id"]), section="document", lever="", market="", text=text
        )
        for cid, doc, text in zip(ids, corpus, texts, strict=True)
    ]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    keyword = KeywordIndex.build(texts, records, digest)
    stores = []
    for name in settings.dense_embedders:
        embeddings = make_embeddings(name)
        path = settings.data_dir / "beir" / f"{folder.name}-{name}-{digest}"
        client = local_client(path)
        store = Chroma(
            "beir_docs",
            embedding_function=embeddings,
            client=client,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        have = set(store.get(include=[])["ids"])
        todo = [i for i, cid in enumerate(ids) if cid not in have]
        if todo:
            status(f"embedding {len(todo)} documents with {name} (cached afterwards)")
        for start in range(0, len(todo), 256):
            batch = todo[start : start + 256]
            store.add_texts(
                [texts[i] for i in batch],
                ids=[ids[i] for i in batch],
                metadatas=[{"doc_id": str(corpus[i]["_id"])} for i in batch],
            )
            status(f"  {min(start + 256, len(todo))}/{len(todo)} documents embedded")
        stores.append(store)
    doc_records = {str(doc["_id"]): _doc_record(doc) for doc in corpus}
    config = RetrievalConfig(geo_filter=False, lever_boost=0.0, candidates=DEPTH * 2, pooling="max")
    return Retriever(doc_records, keyword, stores, config)


def _doc_record(doc: dict[str, Any]) -> CaseRecord:
    return CaseRecord(
        case_id=str(doc["_id"]),
        company=doc.get("title", "")[:80],
        company_zh="",
        market=None,
        sector="",
        outcome=None,
        years="",
        hq_country="",
        countries=[],
        problems=[],
        levers=[],
        summary="",
        title=doc.get("title", ""),
        relpath="",
        sources=[],
        sections={},
    )


def write_beir_outputs(result: BeirResult, out_dir: Path) -> dict[str, Path]:
    """The result as JSON and Markdown under `out_dir` (like the gold eval's outputs)."""
    from datetime import UTC, datetime

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"beir-{result.dataset}-{result.split}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(asdict(result), indent=1), "utf-8")
    paths["markdown"].write_text(result.markdown(), "utf-8")
    return paths
