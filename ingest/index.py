"""`elsewhere ingest`: bring the index to exactly the state of the case folder, incrementally.

Plan: validate every file, compare content hashes with the index state, then remove deleted
cases, (re)embed added and changed ones in groups, and rebuild the BM25 index if anything moved.
An unchanged library returns after hashing files: no model is loaded and Chroma is not opened.

Crash safety: a lock file stops two ingests at once. Before touching Chroma we drop a `dirty`
marker; a case's row in the state DB is committed only after its vectors are written, and any
chunk in Chroma that the state DB does not list is swept away on the next run. So a run killed
at any point is finished correctly by the next one: no duplicates, no orphans.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import IngestLockedError
from app.settings import EMBEDDER_IDS
from ingest.chunk import CHUNKER_VERSION, Chunk, chunk_case
from ingest.keyword import KeywordIndex
from ingest.parse import Case, scan_library
from ingest.state import IndexState

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from app.settings import Settings

ProgressFn = Callable[[int, int], None]
StatusFn = Callable[[str], None]
GROUP_CHUNKS = 64  # chunks embedded and committed together


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    kept_previous: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_total: int = 0
    swept_orphans: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {
            name: len(getattr(self, name))
            for name in ("added", "updated", "removed", "unchanged", "failed")
        }

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "counts": self.counts()}


def fingerprint(settings: Settings) -> str:
    """How chunks and vectors were made; a change forces one full rebuild."""
    model = EMBEDDER_IDS[settings.embedder]
    return f"{model}|chunker={CHUNKER_VERSION}|tokens={settings.chunk_tokens}"


def run_ingest(
    settings: Settings,
    on_progress: ProgressFn | None = None,
    on_status: StatusFn | None = None,
    embeddings: Embeddings | None = None,
) -> IngestReport:
    """Index the case folder into Chroma + BM25; see the module docstring for guarantees.

    Without an explicit `embeddings`, every encoder of the default fusion gets its own index
    (`settings.dense_embedders`); the report is the first one's (the others see the same files).
    """
    report = _run_one(settings, on_progress, on_status, embeddings)
    if embeddings is None:
        for name in settings.dense_embedders[1:]:
            scoped = settings.model_copy(update={"embedder": name})
            extra = _run_one(scoped, on_progress, on_status, None)
            report.chunks_embedded += extra.chunks_embedded
    return report


def _run_one(
    settings: Settings,
    on_progress: ProgressFn | None,
    on_status: StatusFn | None,
    embeddings: Embeddings | None,
) -> IngestReport:
    from filelock import FileLock, Timeout

    started = time.perf_counter()
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / "ingest.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise IngestLockedError(
            f"another `elsewhere ingest` is running on {settings.data_dir} "
            f"(lock {settings.index_dir / 'ingest.lock'}); wait for it to finish"
        ) from None
    try:
        report = _ingest_locked(settings, on_progress, on_status or (lambda _: None), embeddings)
    finally:
        lock.release()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _ingest_locked(
    settings: Settings,
    on_progress: ProgressFn | None,
    status: StatusFn,
    embeddings: Embeddings | None,
) -> IngestReport:
    report = IngestReport()
    scan = scan_library(settings.cases_dir, max_bytes=settings.max_case_bytes)
    failed_paths = {problem.path for error in scan.errors for problem in error.problems}
    report.failed = [str(problem) for error in scan.errors for problem in error.problems]
    state = IndexState(settings.index_dir / "state.sqlite")
    try:
        fresh = state.get_meta("fingerprint") != fingerprint(settings)
        stored = {} if fresh else state.hashes()
        current = {case.id: case for case in scan.cases}
        to_write = [
            case for case in scan.cases if stored.get(case.id, ("",))[0] != case.content_hash
        ]
        report.added = sorted(c.id for c in to_write if c.id not in stored)
        report.updated = sorted(c.id for c in to_write if c.id in stored)
        report.unchanged = sorted(set(current) - {c.id for c in to_write})
        report.kept_previous = sorted(
            cid for cid, (_, rel) in stored.items() if cid not in current and rel in failed_paths
        )
        report.removed = sorted(set(stored) - set(current) - set(report.kept_previous))
        dirty = settings.index_dir / "ingest.dirty"
        stale_bm25 = KeywordIndex.saved_stamp(settings.index_dir) != state.stamp()
        if not (fresh or to_write or report.removed or dirty.exists()):
            if stale_bm25:
                _rebuild_keyword_index(settings, state)
            report.chunks_total = len(state.chunk_ids())
            return report
        dirty.touch()
        _apply(settings, state, report, to_write, fresh, on_progress, status, embeddings)
        _rebuild_keyword_index(settings, state)
        dirty.unlink()
        report.chunks_total = len(state.chunk_ids())
        return report
    finally:
        state.close()


def _apply(
    settings: Settings,
    state: IndexState,
    report: IngestReport,
    to_write: list[Case],
    fresh: bool,
    on_progress: ProgressFn | None,
    status: StatusFn,
    embeddings: Embeddings | None,
) -> None:
    from ingest.embed import PrecomputedEmbeddings, embed_sorted, make_embeddings
    from ingest.store import open_store
    from ingest.tokens import encoding

    enc = encoding(str(settings.data_dir / "tiktoken"))
    planned = [(case, chunk_case(case, enc, settings.chunk_tokens)) for case in to_write]
    texts = [chunk.text for _, chunks in planned for chunk in chunks]
    if texts:
        if embeddings is None:
            status(f"loading embedding model ({settings.embedder})")
            embeddings = make_embeddings(settings.embedder)
        # Embed everything first, sorted by length (least padding), then write case groups:
        # the writes stay small and crash-safe while the model runs at full batch efficiency.
        vectors = embed_sorted(embeddings, texts, on_progress)
        embeddings = PrecomputedEmbeddings(vectors, embeddings)
    store = open_store(settings, embeddings)
    if fresh:
        status(
            "creating the index"
            if state.get_meta("fingerprint") is None
            else "index built with other settings: rebuilding from scratch"
        )
        store.reset_collection()
        state.reset(fingerprint(settings))
    if report.removed:
        _delete_cases(store, report.removed)
        state.remove_cases(report.removed)
    for group in _groups(planned):
        _delete_cases(store, [case.id for case, _ in group])
        chunks = [chunk for _, case_chunks in group for chunk in case_chunks]
        store.add_texts(
            [c.text for c in chunks],
            metadatas=[dict(c.metadata) for c in chunks],
            ids=[c.id for c in chunks],
        )
        state.commit_cases(group)
        report.chunks_embedded += len(chunks)
    report.swept_orphans = _sweep_orphans(store, state.chunk_ids())


def _groups(planned: list[tuple[Case, list[Chunk]]]) -> Iterator[list[tuple[Case, list[Chunk]]]]:
    group: list[tuple[Case, list[Chunk]]] = []
    size = 0
    for item in planned:
        group.append(item)
        size += len(item[1])
        if size >= GROUP_CHUNKS:
            yield group
            group, size = [], 0
    if group:
        yield group


def _delete_cases(store: Chroma, case_ids: list[str]) -> None:
    where: Any = {"case_id": {"$in": list(case_ids)}}
    found = store.get(where=where, include=[])["ids"]
    if found:
        store.delete(ids=found)


def _sweep_orphans(store: Chroma, expected: set[str]) -> int:
    """Delete every vector the state DB does not list (leftovers of a killed run)."""
    orphans = [cid for cid in store.get(include=[])["ids"] if cid not in expected]
    if orphans:
        store.delete(ids=orphans)
    return len(orphans)


def _rebuild_keyword_index(settings: Settings, state: IndexState) -> None:
    rows = state.chunks()
    records = state.records()
    meta = [
        {
            "id": cid,
            "case_id": case_id,
            "section": section,
            "lever": lever,
            "market": records[case_id].market,
            "text": text,
        }
        for cid, case_id, section, lever, text in rows
    ]
    index = KeywordIndex.build([row[4] for row in rows], meta, state.stamp())
    index.save(settings.index_dir)
