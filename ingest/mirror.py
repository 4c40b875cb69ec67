"""Several app instances, one shared Chroma server: each keeps a local copy of the index.

Dense search reads the server directly. Keyword search (bm25s) and the case records live in
each instance's data dir, so an instance that did not run ingest builds them from the server:

    ingest (any instance)  -> chunks + case records + library stamp in Chroma (stamp last)
    every other instance   -> sees a stamp it does not have (checked every few seconds)
                           -> pulls records and chunk texts, checks them against the stamp,
                              rewrites its state DB and BM25 index, swaps them in

A pull that catches an ingest half-way (records or chunk count do not match the stamp) is
dropped and tried again at the next check; the instance keeps serving its previous copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.errors import IndexNotReadyError
from ingest.keyword import KeywordIndex, rebuild_keyword_index
from ingest.state import IndexState, library_stamp
from ingest.store import LibraryStamp, read_stamp, stored_chunks, stored_records, where

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

    from app.settings import Settings


def local_stamp(settings: Settings) -> str | None:
    """The library version this instance's keyword index was built from (None: no index)."""
    return KeywordIndex.saved_stamp(settings.index_dir)


def shared_stamp(settings: Settings, client: ClientAPI) -> LibraryStamp:
    """The stamp on the server, or IndexNotReadyError when the server holds no usable index."""
    from ingest.index import fingerprint

    stamp = read_stamp(client, settings)
    if stamp is None:
        raise IndexNotReadyError(
            f"the Chroma server at {where(settings)} holds no Elsewhere index for embedder "
            f"{settings.embedder!r} (a new or emptied server?); run `elsewhere ingest` on any "
            "instance that has the case library"
        )
    if stamp.fingerprint != fingerprint(settings):
        raise IndexNotReadyError(
            f"the index on {where(settings)} was built with other settings ({stamp.fingerprint}); "
            "use the same ELSEWHERE_EMBEDDER and ELSEWHERE_CHUNK_TOKENS as the ingest, or "
            "run `elsewhere ingest` again"
        )
    return stamp


def pull_library(settings: Settings, client: ClientAPI, stamp: LibraryStamp) -> bool:
    """Make this data dir a copy of the library on the server; False if it is mid-update (or
    this data dir's own ingest is running), so the caller keeps its current copy."""
    from filelock import FileLock, Timeout

    from ingest.index import fingerprint

    records = list(stored_records(client, settings).values())
    collection = client.get_collection(settings.collection_name)
    chunks = stored_chunks(collection, client.get_max_batch_size())
    if library_stamp((r[0], r[1]) for r in records) != stamp.stamp or len(chunks) != stamp.chunks:
        return False
    known = {row[0] for row in records}
    if any(meta.get("case_id") not in known for _, _, meta in chunks):
        return False
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / "ingest.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return False
    try:
        state = IndexState(settings.state_db)
        try:
            state.replace_all(fingerprint(settings), records, _chunk_rows(chunks))
            rebuild_keyword_index(settings.index_dir, state)
        finally:
            state.close()
    finally:
        lock.release()
    return True


def _chunk_rows(
    chunks: list[tuple[str, str, dict[str, Any]]],
) -> list[tuple[str, str, int, str, str, str]]:
    """State-DB chunk rows in the order ingest writes them (case, then position), so the
    rebuilt BM25 index is the same as the ingesting instance's."""
    rows = [
        (cid, str(meta["case_id"]), int(meta["chunk_index"]), str(meta["section"]),
         str(meta.get("lever") or ""), text)
        for cid, text, meta in chunks
    ]  # fmt: skip
    return sorted(rows, key=lambda row: (row[1], row[2]))
