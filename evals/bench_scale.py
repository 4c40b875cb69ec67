"""`make bench-scale`: how ingest and search grow with the library, on synthetic cases.

    BENCH_CHUNKS=1000,10000 BENCH_MODES=embedded,server make bench-scale
    BENCH_KEEP=DIR ... make bench-scale; BENCH_KEEP=DIR BENCH_PHASES=search make bench-scale

For each size (in chunks; about 13 per synthetic case) and mode (embedded Chroma, or a `chroma
run` server on loopback), in a temp dir that is removed afterwards:
- raw encoder throughput on exactly the chunk texts ingest will embed, then a full ingest with
  the same (already loaded) model: the ratio is ingest's overhead;
- warm search latency p50/p95 over the gold questions, query encoding excluded (query vectors are
  computed in a warm-up pass and served from a cache), with the dense and BM25 parts;
- peak RSS of the encoder, ingest and search processes (each phase is its own process) and of
  the Chroma server; the index size on disk;
- server mode only: how long a second instance (own data dir, no ingest) takes to open, which
  includes pulling records and chunk texts and building its BM25 index.
With BENCH_PROFILE=1 the ingest and search phases of the largest size run under cProfile; the
functions with the most cumulative and own time go to .bench/profile-<mode>-<phase>.txt.
Results go to .bench/bench-scale.json. Numbers, not assertions: the machine is shared.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHUNKS_PER_CASE = 13
PHASES = (
    "encode",
    "ingest",
    "search",
    "open",
)  # what the synthetic generator yields at the default 220-token budget


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        _phase(sys.argv[2], json.loads(sys.argv[3]))
        return
    sizes = [int(n) for n in os.environ.get("BENCH_CHUNKS", "1000").split(",")]
    modes = os.environ.get("BENCH_MODES", "embedded,server").split(",")
    profile = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    results = []
    for size in sizes:
        for mode in modes:  # each result is shown and saved as soon as it is measured
            results.append(run_size(size, mode, profile and size == max(sizes)))
            (out / "bench-scale.json").write_text(json.dumps(results, indent=1), "utf-8")
            sys.stdout.write(_line(results[-1]) + "\n")
            sys.stdout.flush()


def run_size(chunks: int, mode: str, profile: bool = False) -> dict[str, Any]:
    from evals.synthetic import write_synthetic_library

    keep = os.environ.get("BENCH_KEEP")
    phases = os.environ.get("BENCH_PHASES", "encode,ingest,search").split(",")
    with _workdir(keep, f"{mode}-{chunks}", fresh="ingest" in phases) as root:
        if "ingest" in phases or not (root / "cases").is_dir():
            cases = write_synthetic_library(root / "cases", math.ceil(chunks / CHUNKS_PER_CASE))
        else:  # BENCH_KEEP + BENCH_PHASES=search: the library and index of an earlier run
            cases = root / "cases"
        server = _start_server(root) if mode == "server" else None
        try:
            base = {"cases_dir": str(cases), "data_dir": str(root / "data")}
            if server is not None:
                base["chroma_url"] = server.url
            result: dict[str, Any] = {"mode": mode, "target_chunks": chunks}
            profiled = {"_profile": f".bench/profile-{mode}"} if profile else {}
            for phase in ("encode", "ingest", "search"):
                if phase in phases:
                    options = base if phase == "encode" else {**base, **profiled}
                    result[phase] = _child(phase, options)
            if server is not None:
                shutil.rmtree(root / "reader-data", ignore_errors=True)  # a kept dir's last one
                reader = {**base, "data_dir": str(root / "reader-data")}
                result["second_instance"] = _child("open", reader)
                result["server_peak_rss_mb"] = _peak_rss_mb(server.pid)
            data = root / "data"
            result["index_mb"] = round(
                _size_mb(data / "chroma") + _size_mb(data / "index") + _size_mb(root / "server"), 1
            )
        finally:
            if server is not None:
                server.stop()
    if "ingest" in result and "encode" in result:
        result["overhead_ratio"] = round(
            result["ingest"]["seconds"] / result["encode"]["seconds"], 3
        )
    return result


@contextmanager
def _workdir(keep: str | None, name: str, fresh: bool) -> Iterator[Path]:
    """A temp dir removed afterwards, or with BENCH_KEEP=DIR the kept DIR/<name> (so that a
    later BENCH_PHASES=search run re-measures search on the same index); `fresh` empties a
    kept one first, so an ingest is always measured from nothing."""
    if keep:
        root = Path(keep) / name
        if fresh and root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="elsewhere-bench-") as tmp:
        yield Path(tmp)


def _start_server(root: Path) -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.chroma_server import ChromaServer

    return ChromaServer(root / "server").start()


def _child(phase: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run one phase in a fresh process (so its peak RSS is its own); returns its JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench_scale", "--phase", phase, json.dumps(options)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _phase(phase: str, options: dict[str, Any]) -> None:
    from app.settings import load_settings

    profile = options.pop("_profile", None)
    settings = load_settings(
        **{k: Path(v) if k.endswith("_dir") else v for k, v in options.items()}
    )
    run = {"encode": _encode, "ingest": _ingest, "search": _search, "open": _open}[phase]
    try:
        if profile:
            report = _profiled(run, settings, Path(f"{profile}-{phase}.txt"))
        else:
            report = run(settings)
    except Exception as exc:  # reported, so the phases measured before it are still saved
        report = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sys.stdout.write(json.dumps(report) + "\n")


def _profiled(run: Any, settings: Any, out: Path) -> dict[str, Any]:
    """`run(settings)` under cProfile; the top functions by cumulative and by own time to `out`."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    report: dict[str, Any] = profiler.runcall(run, settings)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    out.parent.mkdir(exist_ok=True)
    out.write_text(text.getvalue(), "utf-8")
    report["profile"] = str(out)
    return report


def _chunk_texts(settings: Any) -> list[str]:
    from ingest.chunk import chunk_case
    from ingest.parse import scan_library
    from ingest.tokens import encoding

    enc = encoding(str(settings.tiktoken_dir))
    scan = scan_library(settings.cases_dir, max_bytes=settings.max_case_bytes)
    return [c.text for case in scan.cases for c in chunk_case(case, enc, settings.chunk_tokens)]


def _loaded_model(settings: Any) -> Any:
    from ingest.embed import make_embeddings

    model = make_embeddings(settings.embedder)
    model.embed_documents(["warm-up text for the encoder"] * 4)
    return model


def _encode(settings: Any) -> dict[str, Any]:
    from ingest.embed import embed_sorted

    texts = _chunk_texts(settings)
    model = _loaded_model(settings)
    started = time.perf_counter()
    embed_sorted(model, texts)  # the same slicing ingest uses, nothing else
    seconds = time.perf_counter() - started
    return {
        "chunks": len(texts),
        "seconds": round(seconds, 2),
        "per_s": round(len(texts) / seconds, 1),
    }


def _ingest(settings: Any) -> dict[str, Any]:
    from ingest.index import run_ingest

    model = _loaded_model(settings)
    started = time.perf_counter()
    report = run_ingest(settings, embeddings=model)
    seconds = time.perf_counter() - started
    chunks = report.chunks_total
    return {"chunks": chunks, "seconds": round(seconds, 2), "per_s": round(chunks / seconds, 1)}


def _search(settings: Any, repeats: int = 3) -> dict[str, Any]:
    from app.retrieval import Retriever
    from evals.gold import load_gold

    questions = [q.q for q in load_gold()]
    retriever = Retriever.open(settings, embeddings=_CachedQueries(_loaded_model(settings)))
    for question in questions:  # warm-up: fills the query-vector cache
        retriever.search(question)
    totals: list[float] = []
    dense: list[float] = []
    keyword: list[float] = []
    for _ in range(repeats):
        for question in questions:
            timings = retriever.search(question).timings
            totals.append(timings.total_ms)
            dense.append(timings.dense_ms)
            keyword.append(timings.keyword_ms)
    return {
        "searches": len(totals),
        "p50_ms": _pct(totals, 0.5),
        "p95_ms": _pct(totals, 0.95),
        "dense_p50_ms": _pct(dense, 0.5),
        "keyword_p50_ms": _pct(keyword, 0.5),
    }


def _open(settings: Any) -> dict[str, Any]:
    from app.retrieval import RetrievalConfig, Retriever

    started = time.perf_counter()
    retriever = Retriever.open(settings, RetrievalConfig(use_dense=False))
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "chunks": len(retriever.keyword.records),
    }


class _CachedQueries:
    """The real model for documents; query vectors computed once per text, then cached."""

    def __init__(self, model: Any):
        self._model = model
        self._cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return list(self._model.embed_documents(texts))

    def embed_query(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = self._model.embed_query(text)
        return self._cache[text]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else 0.0


def _size_mb(folder: Path) -> float:
    if not folder.exists():
        return 0.0
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def _peak_rss_mb(pid: int | None) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    line = next((row for row in status.splitlines() if row.startswith("VmHWM:")), None)
    return round(int(line.split()[1]) / 1024, 1) if line else None


def _line(r: dict[str, Any]) -> str:
    failed = [
        f"{phase} failed: {r[phase]['error']}" for phase in PHASES if "error" in r.get(phase, {})
    ]
    if failed:
        return f"[{r['mode']}] {r['target_chunks']} chunks: " + "; ".join(failed)
    parts = [f"[{r['mode']}] {r['target_chunks']} chunks:"]
    if "encode" in r and "ingest" in r:
        e, i = r["encode"], r["ingest"]
        parts.append(
            f"raw encode {e['per_s']}/s, ingest {i['per_s']}/s ({i['chunks']} chunks) -> "
            f"{r['overhead_ratio']}x; peak RSS encode {e['peak_rss_mb']} / ingest "
            f"{i['peak_rss_mb']} MB;"
        )
    if "search" in r:
        s = r["search"]
        parts.append(
            f"search p50 {s['p50_ms']} ms p95 {s['p95_ms']} ms (dense {s['dense_p50_ms']}, "
            f"BM25 {s['keyword_p50_ms']}; query encoding excluded), peak RSS {s['peak_rss_mb']} MB;"
        )
    text = " ".join(parts) + f" index {r['index_mb']} MB"
    if "second_instance" in r:
        text += (
            f"; server peak {r['server_peak_rss_mb']} MB; a second instance opened (pull + BM25) "
            f"in {r['second_instance']['seconds']} s"
        )
    return text


if __name__ == "__main__":
    main()
