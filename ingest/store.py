"""Where vectors live: Chroma through langchain-chroma, embedded by default, a server if set.

`ELSEWHERE_CHROMA_URL` unset -> `chromadb.PersistentClient` under the data dir.
`ELSEWHERE_CHROMA_URL=http://host:port` -> `chromadb.HttpClient` (the scale-out path).
Telemetry is off and we always pass our own embeddings (Chroma's default one downloads a model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from app.errors import IndexNotReadyError

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from app.settings import Settings


def open_store(settings: Settings, embeddings: Embeddings | None) -> Chroma:
    """The case collection for the configured embedder, created if missing."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises several unrelated types for "cannot connect"
            raise IndexNotReadyError(
                f"cannot reach the Chroma server at {settings.chroma_url} "
                f"({type(exc).__name__}); start it or unset ELSEWHERE_CHROMA_URL"
            ) from None
    else:
        settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
    return Chroma(
        collection_name=settings.collection_name,
        client=client,
        embedding_function=embeddings,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
