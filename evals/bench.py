"""`make bench`: performance numbers as ratios against a baseline measured in the same run.

1. Ingest throughput (chunks/s) of a full `run_ingest` vs raw `SentenceTransformer.encode` on the
   same chunk texts: the ratio is our overhead (target < 1.2x).
2. Re-ingest of an unchanged library vs `elsewhere --help`, both as fresh processes (target:
   < 2x and < 2 s for 100 cases).
3. Warm in-process search latency p50/p95 vs a plain LangChain `Chroma.similarity_search` on the
   same index.
Medians over repeats; the machine is noisy. Results also go to .bench/bench.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.settings import load_settings


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_ingest(repeats: int) -> dict:
    from ingest.chunk import chunk_case
    from ingest.embed import make_embeddings
    from ingest.index import run_ingest
    from ingest.parse import scan_library
    from ingest.tokens import encoding

    base = load_settings(embedder="minilm")
    embeddings = make_embeddings("minilm")
    enc = encoding(str(base.tiktoken_dir))
    scan = scan_library(base.cases_dir)
    texts = [c.text for case in scan.cases for c in chunk_case(case, enc, base.chunk_tokens)]
    model = embeddings._client  # the SentenceTransformer langchain-huggingface wraps
    model.encode(texts[:64], batch_size=32)  # warm-up
    raw = _median_time(
        lambda: model.encode(texts, batch_size=32, normalize_embeddings=True), repeats
    )

    def full_ingest() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            run_ingest(base.model_copy(update={"data_dir": Path(tmp)}), embeddings=embeddings)

    ours = _median_time(full_ingest, repeats)
    return {
        "chunks": len(texts),
        "cases": len(scan.cases),
        "raw_encode_s": round(raw, 2),
        "raw_chunks_per_s": round(len(texts) / raw, 1),
        "ingest_s": round(ours, 2),
        "ingest_chunks_per_s": round(len(texts) / ours, 1),
        "overhead_ratio": round(ours / raw, 3),
    }


def _cli_time(args: list[str], env: dict, repeats: int) -> float:
    exe = str(Path(sys.executable).with_name("elsewhere"))

    def run() -> None:
        quiet = subprocess.DEVNULL
        subprocess.run([exe, *args], env=env, check=False, stdout=quiet, stderr=quiet)

    run()  # warm the OS file cache
    return _median_time(run, repeats)


def bench_unchanged_reingest(repeats: int) -> dict:
    from ingest.index import run_ingest

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp))
        run_ingest(settings)
        env = {**os.environ, "ELSEWHERE_DATA_DIR": tmp}
        help_s = _cli_time(["--help"], env, repeats)
        ingest_s = _cli_time(["ingest"], env, repeats)
    return {
        "help_s": round(help_s, 3),
        "unchanged_ingest_s": round(ingest_s, 3),
        "ratio_vs_help": round(ingest_s / help_s, 2),
    }


def bench_search(repeats: int) -> dict:
    from app.retrieval import Retriever
    from evals.gold import load_gold
    from ingest.index import run_ingest

    settings = load_settings()  # the product's defaults
    run_ingest(settings)
    retriever = Retriever.open(settings)
    store = retriever.dense[0]
    questions = [q.q for q in load_gold()]
    retriever.search(questions[0])
    store.similarity_search(questions[0], k=10)

    def latencies(fn) -> list[float]:
        out = []
        for _ in range(repeats):
            for question in questions:
                started = time.perf_counter()
                fn(question)
                out.append((time.perf_counter() - started) * 1000)
        return sorted(out)

    ours = latencies(lambda q: retriever.search(q, k=10))
    plain = latencies(lambda q: store.similarity_search(q, k=10))

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 1)

    return {
        "questions": len(questions),
        "repeats": repeats,
        "ours_p50_ms": pct(ours, 0.5),
        "ours_p95_ms": pct(ours, 0.95),
        "langchain_p50_ms": pct(plain, 0.5),
        "langchain_p95_ms": pct(plain, 0.95),
        "p50_ratio": round(pct(ours, 0.5) / pct(plain, 0.5), 2),
    }


COVERAGE_COPIES = 47  # the library 47 times over: ~7.7k cases, as at 100k chunks


def bench_coverage(repeats: int) -> dict:
    """Industry coverage (`covered_industries`, run when the library loads) over the library
    repeated COVERAGE_COPIES times, against scanning every term's regex over the same text
    (what it did before the literal pre-check)."""
    from app.industries import _terms, case_about, covered_industries
    from ingest.parse import scan_library
    from ingest.state import CaseRecord

    settings = load_settings()
    cases = [CaseRecord.from_case(c) for c in scan_library(settings.cases_dir).cases]
    records = cases * COVERAGE_COPIES

    def every_regex() -> None:
        for r in records:
            lowered = case_about(r).lower()
            for term in _terms():
                list(term.pattern.finditer(lowered))

    ours = _median_time(lambda: covered_industries(records), repeats)
    plain = _median_time(every_regex, repeats)
    return {
        "cases": len(records),
        "ours_s": round(ours, 2),
        "every_regex_s": round(plain, 2),
        "speedup": round(plain / ours, 1),
    }


PHASES = ("ingest", "unchanged_reingest", "search", "coverage")


def main() -> None:
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    wanted = [p for p in os.environ.get("BENCH_PHASES", ",".join(PHASES)).split(",") if p]
    unknown = sorted(set(wanted) - set(PHASES))
    if unknown:
        sys.exit(f"unknown BENCH_PHASES {unknown}; choose from {', '.join(PHASES)}")
    runs = {
        "ingest": lambda: bench_ingest(repeats),
        "unchanged_reingest": lambda: bench_unchanged_reingest(max(5, repeats)),
        "search": lambda: bench_search(repeats),
        "coverage": lambda: bench_coverage(repeats),
    }
    results = {name: runs[name]() for name in PHASES if name in wanted}
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=1), "utf-8")
    lines = []
    if "ingest" in results:
        i = results["ingest"]
        lines.append(
            f"ingest: {i['cases']} cases, {i['chunks']} chunks; ours {i['ingest_chunks_per_s']} "
            f"chunks/s vs raw encode {i['raw_chunks_per_s']} chunks/s -> overhead "
            f"{i['overhead_ratio']}x (median of {repeats})"
        )
    if "unchanged_reingest" in results:
        u = results["unchanged_reingest"]
        lines.append(
            f"unchanged re-ingest: {u['unchanged_ingest_s']}s vs `elsewhere --help` "
            f"{u['help_s']}s -> {u['ratio_vs_help']}x"
        )
    if "search" in results:
        s = results["search"]
        lines.append(
            f"search ({s['questions']} questions x {s['repeats']}): ours p50 {s['ours_p50_ms']} "
            f"ms / p95 {s['ours_p95_ms']} ms; plain Chroma.similarity_search p50 "
            f"{s['langchain_p50_ms']} ms / p95 {s['langchain_p95_ms']} ms -> {s['p50_ratio']}x"
        )
    if "coverage" in results:
        c = results["coverage"]
        lines.append(
            f"industry coverage over {c['cases']} cases: {c['ours_s']}s vs every term's regex "
            f"{c['every_regex_s']}s -> {c['speedup']}x faster (median of {repeats})"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    shutil.rmtree(out / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
