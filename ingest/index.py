"""`elsewhere ingest`: bring the index to exactly the state of the case folder, incrementally.

Plan: validate every file, compare content hashes with the index state, then remove deleted
cases, (re)embed added and changed ones in groups, and rebuild the BM25 index if anything moved.
An unchanged library returns after hashing files: no model is loaded and Chroma is not opened.

Crash safety: a lock file stops two ingests at once in one data dir, and on a shared Chroma
server a lease held there stops two instances' ingests at once (ingest.lease). Before touching
Chroma we drop a `dirty` marker; a case's row in the state DB is committed only after its
vectors are written, and any chunk in Chroma that the state DB does not list is swept away on
the next run. So a run killed
at any point is finished correctly by the next one: no duplicates, no orphans.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import IngestLockedError
from app.settings import EMBEDDER_IDS
from ingest.chunk import CHUNKER_VERSION, Chunk, chunk_case
from ingest.keyword import KeywordIndex, rebuild_keyword_index
from ingest.parse import Case, LibraryScan, scan_library
from ingest.state import IndexState
from ingest.store import batches, where

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from app.settings import Settings

ProgressFn = Callable[[int, int], None]
StatusFn = Callable[[str], None]
GROUP_CHUNKS = 512  # chunks written and committed together (a crash redoes at most one group)
RECORD_VERSION = "2"  # the CaseRecord shape stored in the state DB (2: with as_of)
STORE_IDENTITY = "store_identity"  # state-DB meta key: the embedded store the last ingest left
CHROMA_DB_FILE = "chroma.sqlite3"  # the embedded store's database file (chromadb 1.x)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    kept_previous: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # vectors were missing; embedded again
    chunks_embedded: int = 0
    chunks_total: int = 0
    swept_orphans: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        counts = {
            name: len(getattr(self, name))
            for name in ("added", "updated", "removed", "unchanged", "failed")
        }
        if self.restored:
            counts["restored"] = len(self.restored)
        return counts

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "counts": self.counts()}


def fingerprint(settings: Settings) -> str:
    """How chunks and vectors were made; a change forces one full rebuild."""
    model = EMBEDDER_IDS[settings.embedder]
    return (
        f"{model}|chunker={CHUNKER_VERSION}|tokens={settings.chunk_tokens}|record={RECORD_VERSION}"
    )


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
    from ingest.lease import server_lease
    from ingest.store import open_client, store_errors

    scan = scan_library(settings.cases_dir, max_bytes=settings.max_case_bytes)
    state = IndexState(settings.state_db)
    try:
        report, to_write, fresh = _plan(settings, scan, state, set())
        if not (fresh or to_write or report.removed or _dirty(settings).exists()):
            if _embedded_store_as_left(settings, state):  # no Chroma, no model: a fast no-op
                _keyword_index_in_step(settings, state)
                report.chunks_total = len(state.chunk_ids())
                return report
        client = open_client(settings)  # before any embedding: a dead server fails in a second
        with store_errors(settings, "indexing"), server_lease(client, settings):
            return _ingest_with(settings, scan, state, client, on_progress, status, embeddings)
    finally:
        state.close()


def _plan(
    settings: Settings, scan: LibraryScan, state: IndexState, lost: set[str]
) -> tuple[IngestReport, list[Case], bool]:
    """What to (re)embed and remove; `lost` are indexed cases whose vectors went missing."""
    report = IngestReport()
    failed_paths = {problem.path for error in scan.errors for problem in error.problems}
    report.failed = [str(problem) for error in scan.errors for problem in error.problems]
    fresh = state.get_meta("fingerprint") != fingerprint(settings)
    stored = {} if fresh else state.hashes()
    current = {case.id: case for case in scan.cases}
    to_write = [
        case
        for case in scan.cases
        if stored.get(case.id, ("",))[0] != case.content_hash or case.id in lost
    ]
    report.added = sorted(c.id for c in to_write if c.id not in stored)
    report.updated = sorted(c.id for c in to_write if c.id in stored and c.id not in lost)
    report.restored = sorted(c.id for c in to_write if c.id in lost)
    report.unchanged = sorted(set(current) - {c.id for c in to_write})
    report.kept_previous = sorted(
        cid for cid, (_, rel) in stored.items() if cid not in current and rel in failed_paths
    )
    report.failed += [
        f"{cid}: its vectors are missing from {where(settings)} and its file is now invalid or "
        "gone; fix the file and run `elsewhere ingest` again"
        for cid in sorted(lost - set(current))
    ]
    report.removed = sorted(set(stored) - set(current) - set(report.kept_previous))
    return report, to_write, fresh


def _ingest_with(
    settings: Settings,
    scan: LibraryScan,
    state: IndexState,
    client: ClientAPI,
    on_progress: ProgressFn | None,
    status: StatusFn,
    embeddings: Embeddings | None,
) -> IngestReport:
    fresh = state.get_meta("fingerprint") != fingerprint(settings)
    lost = set() if fresh else _lost_cases(settings, client, state, status)
    report, to_write, fresh = _plan(settings, scan, state, lost)
    dirty = _dirty(settings)
    if fresh or to_write or report.removed or dirty.exists():
        dirty.touch()
        _apply(settings, client, state, report, to_write, fresh, on_progress, status, embeddings)
        rebuild_keyword_index(settings.index_dir, state)
        dirty.unlink()
    _keyword_index_in_step(settings, state)
    _publish(settings, client, state)
    state.set_meta(STORE_IDENTITY, store_identity(settings))
    report.chunks_total = len(state.chunk_ids())
    return report


def _dirty(settings: Settings) -> Path:
    return settings.index_dir / "ingest.dirty"


def _keyword_index_in_step(settings: Settings, state: IndexState) -> None:
    if KeywordIndex.saved_stamp(settings.index_dir) != state.stamp():
        rebuild_keyword_index(settings.index_dir, state)


def store_identity(settings: Settings) -> str:
    """Embedded mode: which Chroma database file this data dir holds (device, inode); a deleted
    or replaced store has another identity or none. Server mode: "" (always checked)."""
    if settings.chroma_url:
        return ""
    try:
        info = (settings.chroma_dir / CHROMA_DB_FILE).stat()
    except OSError:
        return "missing"
    return f"{info.st_dev}:{info.st_ino}"


def _embedded_store_as_left(settings: Settings, state: IndexState) -> bool:
    """True if the embedded store is the very one the last complete ingest left (so it need
    not be opened). A server is always asked: it may have been replaced by a fresh one."""
    if settings.chroma_url:
        return False
    return state.get_meta(STORE_IDENTITY) == store_identity(settings) != "missing"


def _lost_cases(
    settings: Settings, client: ClientAPI, state: IndexState, status: StatusFn
) -> set[str]:
    """Cases the state DB lists as indexed whose chunks are not all in the vector store (its
    data was deleted, or this is a fresh server): they must be embedded again. Cheap when all
    is well: one count and the stamp."""
    from ingest.store import read_stamp, stored_ids

    expected = state.chunk_cases()
    if not expected:
        return set()
    collection = client.get_or_create_collection(
        settings.collection_name, configuration={"hnsw": {"space": "cosine"}}
    )
    stamp = read_stamp(client, settings)
    in_step = stamp is not None and stamp.stamp == state.stamp()
    if in_step and collection.count() == len(expected):
        return set()
    present = stored_ids(collection, client.get_max_batch_size())
    lost = {case_id for cid, case_id in expected.items() if cid not in present}
    if lost:
        status(
            f"the vector store at {where(settings)} is missing chunks of {len(lost)} indexed "
            f"case(s) ({len(present)} of {len(expected)} chunks present); indexing them again"
        )
    return lost


def _publish(settings: Settings, client: ClientAPI, state: IndexState) -> None:
    """Bring the store's case records in line with the state DB, then stamp the library:
    other instances rebuild their keyword index when they see a new stamp."""
    from ingest.store import (
        LibraryStamp,
        read_stamp,
        records_collection,
        stored_records,
        upsert_records,
        write_stamp,
    )

    stamp = LibraryStamp(state.stamp(), fingerprint(settings), len(state.chunk_ids()))
    if read_stamp(client, settings) == stamp:
        return
    mine = {row[0]: row for row in state.record_rows()}
    theirs = stored_records(client, settings)
    upsert_records(client, settings, [row for cid, row in mine.items() if theirs.get(cid) != row])
    extra = [cid for cid in theirs if cid not in mine]
    for part in batches(extra, client.get_max_batch_size()):
        records_collection(client, settings).delete(ids=part)
    write_stamp(client, settings, stamp)


def _apply(
    settings: Settings,
    client: ClientAPI,
    state: IndexState,
    report: IngestReport,
    to_write: list[Case],
    fresh: bool,
    on_progress: ProgressFn | None,
    status: StatusFn,
    embeddings: Embeddings | None,
) -> None:
    from ingest.embed import PrecomputedEmbeddings, embed_sorted, make_embeddings
    from ingest.store import open_store, records_name
    from ingest.tokens import encoding

    enc = encoding(str(settings.tiktoken_dir))
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
    store = open_store(settings, embeddings, client)
    limit = client.get_max_batch_size()
    if fresh:
        status(
            "creating the index"
            if state.get_meta("fingerprint") is None
            else "index built with other settings: rebuilding from scratch"
        )
        store.reset_collection()
        if records_name(settings) in {c.name for c in client.list_collections()}:
            client.delete_collection(records_name(settings))
        state.reset(fingerprint(settings))
    if report.removed:
        _delete_cases(store, report.removed, limit)
        state.remove_cases(report.removed)
    for group in _groups(planned):
        if not fresh:  # a fresh collection holds no chunks of these cases to replace
            _delete_cases(store, [case.id for case, _ in group], limit)
        chunks = [chunk for _, case_chunks in group for chunk in case_chunks]
        for part in batches(chunks, limit):  # one case may have more chunks than Chroma takes
            store.add_texts(
                [c.text for c in part],
                metadatas=[dict(c.metadata) for c in part],
                ids=[c.id for c in part],
            )
        state.commit_cases(group)
        report.chunks_embedded += len(chunks)
    report.swept_orphans = _sweep_orphans(store, state.chunk_ids(), limit)


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


def _delete_cases(store: Chroma, case_ids: list[str], limit: int) -> None:
    where: Any = {"case_id": {"$in": list(case_ids)}}
    found = store.get(where=where, include=[])["ids"]
    for part in batches(found, limit):
        store.delete(ids=part)


def _sweep_orphans(store: Chroma, expected: set[str], limit: int) -> int:
    """Delete every vector the state DB does not list (leftovers of a killed run)."""
    orphans = [cid for cid in store.get(include=[])["ids"] if cid not in expected]
    for part in batches(orphans, limit):
        store.delete(ids=part)
    return len(orphans)
