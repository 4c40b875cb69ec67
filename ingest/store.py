"""Where vectors live: Chroma through langchain-chroma, embedded by default, a server if set.

`ELSEWHERE_CHROMA_URL` unset -> `chromadb.PersistentClient` under the data dir.
`ELSEWHERE_CHROMA_URL=http://host:port` -> `chromadb.HttpClient` (the scale-out path).
Telemetry is off and we always pass our own embeddings (Chroma's default one downloads a model).

Chroma holds everything an app instance needs to search, so instances that never ran ingest
can serve the same library from a shared server:

    <prefix>_cases_<embedder>     chunk vectors + chunk text + metadata (what dense search reads)
    <prefix>_records_<embedder>   one row per case: its CaseRecord as JSON, content hash, path;
                                  the collection's metadata is the library stamp (`LibraryStamp`)

Ingest writes the stamp last; an instance whose local copy has another stamp pulls records and
chunk texts from here and rebuilds its BM25 index (see `ingest.mirror`).

Faults are named: an unreachable server or one that fails mid-operation raises
VectorStoreError with the URL and what to run, never a raw httpx traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from app.errors import VectorStoreError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from app.settings import Settings

STAMP_KEY = "elsewhere_stamp"
FINGERPRINT_KEY = "elsewhere_fingerprint"
CHUNKS_KEY = "elsewhere_chunks"
_RECORD_VECTOR: Sequence[float] = (1.0,)  # records are looked up by id, never by similarity
RecordRow = tuple[str, str, str, str]  # case_id, content_hash, relpath, CaseRecord JSON


@dataclass(frozen=True)
class LibraryStamp:
    """Which library version the vector store holds: `stamp` equals `IndexState.stamp()` of the
    ingest that wrote it, `fingerprint` how it was built, `chunks` how many chunks it has."""

    stamp: str
    fingerprint: str
    chunks: int


def where(settings: Settings) -> str:
    """The vector store in words, for messages."""
    return settings.chroma_url or str(settings.chroma_dir)


def server_hint(settings: Settings) -> str:
    """What to run so the configured server answers."""
    if not settings.chroma_url:
        return f"check that {settings.chroma_dir} is readable and not used by another program"
    url = urlparse(settings.chroma_url)
    return (
        f"start it (`chroma run --path DIR --host {url.hostname} --port {url.port or 8000}`, "
        "or `make chroma`) or unset ELSEWHERE_CHROMA_URL to use the embedded store"
    )


@contextmanager
def store_errors(settings: Settings, doing: str) -> Iterator[None]:
    """Turn a lost connection or a server-side failure into VectorStoreError naming the store."""
    import httpx
    from chromadb.errors import ChromaError

    try:
        yield
    except (httpx.HTTPError, ChromaError, ConnectionError) as exc:
        raise VectorStoreError(
            f"the Chroma vector store at {where(settings)} failed while {doing} "
            f"({type(exc).__name__}); {server_hint(settings)}. Nothing half-done is kept: "
            "run the command again once it answers"
        ) from None


def local_client(path: Path) -> ClientAPI:
    """An embedded Chroma client storing under `path` (telemetry off): the product's default
    store and the evals' scratch indexes alike."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


def open_client(settings: Settings) -> ClientAPI:
    """A Chroma client; for a server, one that has answered its heartbeat."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        return local_client(settings.chroma_dir)
    url = urlparse(settings.chroma_url)
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
        client.heartbeat()
    except Exception as exc:  # noqa: BLE001 - chromadb raises ValueError, httpx errors, ...
        raise VectorStoreError(
            f"cannot reach the Chroma server at {settings.chroma_url} ({type(exc).__name__}); "
            f"{server_hint(settings)}"
        ) from None
    return client


def open_store(
    settings: Settings, embeddings: Embeddings | None, client: ClientAPI | None = None
) -> Chroma:
    """The case collection for the configured embedder, created if missing."""
    from langchain_chroma import Chroma

    return Chroma(
        collection_name=settings.collection_name,
        client=client or open_client(settings),
        embedding_function=embeddings,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )


def collection_of(store: Chroma) -> Collection:
    """The Chroma collection behind a LangChain store. Search asks it for ids and distances only:
    LangChain's similarity search also fetches every hit's text and metadata (measured at 100k
    chunks: 72 ms for 320 hits with them, 3-11 ms without), and the retriever has both already.
    langchain-chroma has no public accessor for it."""
    collection: Collection = store._collection
    return collection


def records_collection(client: ClientAPI, settings: Settings) -> Collection:
    return client.get_or_create_collection(records_name(settings))


def records_name(settings: Settings) -> str:
    return settings.records_collection_name


def read_stamp(client: ClientAPI, settings: Settings) -> LibraryStamp | None:
    """The stamp ingest left in the store, or None (fresh, emptied or never-stamped store)."""
    from chromadb.errors import NotFoundError

    try:
        meta = client.get_collection(records_name(settings)).metadata or {}
    except NotFoundError:
        return None
    if STAMP_KEY not in meta:
        return None
    return LibraryStamp(
        str(meta[STAMP_KEY]), str(meta.get(FINGERPRINT_KEY, "")), int(meta.get(CHUNKS_KEY, -1))
    )


def write_stamp(client: ClientAPI, settings: Settings, stamp: LibraryStamp) -> None:
    records_collection(client, settings).modify(
        metadata={
            STAMP_KEY: stamp.stamp,
            FINGERPRINT_KEY: stamp.fingerprint,
            CHUNKS_KEY: stamp.chunks,
        }
    )


def upsert_records(client: ClientAPI, settings: Settings, rows: list[RecordRow]) -> None:
    """(case_id, content_hash, relpath, record JSON) rows into the records collection."""
    collection = records_collection(client, settings)
    for part in batches(rows, client.get_max_batch_size()):
        collection.upsert(
            ids=[row[0] for row in part],
            documents=[row[3] for row in part],
            metadatas=[{"content_hash": row[1], "relpath": row[2]} for row in part],
            embeddings=[list(_RECORD_VECTOR) for _ in part],  # type: ignore[arg-type]
        )


def stored_records(client: ClientAPI, settings: Settings) -> dict[str, RecordRow]:
    """Every case row in the records collection, by case id."""
    collection = records_collection(client, settings)
    rows: dict[str, RecordRow] = {}
    for part in _pages(collection, client.get_max_batch_size(), ["documents", "metadatas"]):
        for cid, doc, meta in zip(
            part["ids"], part["documents"] or [], part["metadatas"] or [], strict=True
        ):
            rows[cid] = (cid, str(meta["content_hash"]), str(meta["relpath"]), doc)
    return rows


def stored_chunks(collection: Any, page: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, text, metadata) of every chunk in the case collection."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for part in _pages(collection, page, ["documents", "metadatas"]):
        found += zip(part["ids"], part["documents"] or [], part["metadatas"] or [], strict=True)
    return found


def stored_ids(collection: Any, page: int) -> set[str]:
    ids: set[str] = set()
    for part in _pages(collection, page, []):
        ids.update(part["ids"])
    return ids


def _pages(collection: Any, page: int, include: list[str]) -> Iterator[Any]:
    """`collection.get` in pages of `page` rows (a whole large collection in one reply is slow
    and, on a server, one huge HTTP body)."""
    offset = 0
    while True:
        part = collection.get(include=include, limit=page, offset=offset)
        if not part["ids"]:
            return
        yield part
        offset += len(part["ids"])


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]
