"""Which business-model mechanisms a question describes, even without their usual keyword.

The question is embedded once and compared with every phrasing of every mechanism in the
vocabulary (name + definition and the keyword-free paraphrases, English and Chinese); a
mechanism's similarity is its best phrasing's cosine. With the multilingual encoder,
"硬件不赚钱" and "we sell the device at cost" both land on razor-and-blade. A question that
names a mechanism outright (拼团, "freemium", "cash on delivery") matches it whatever the
cosine says: the encoder can miss a short name inside a long question.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.industries import phrase_pattern
from ingest.mechanisms import Mechanism, load_mechanisms
from ingest.schema import has_chinese

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings


@dataclass(frozen=True)
class MechanismMatch:
    id: str
    similarity: float


class MechanismMatcher:
    """Embeds the vocabulary once (a few hundred short texts); `match` is one query embedding."""

    def __init__(
        self,
        embeddings: Embeddings,
        mechanisms: tuple[Mechanism, ...] | None = None,
        cache_dir: Path | None = None,
    ):
        self.embeddings = embeddings
        self.mechanisms = mechanisms if mechanisms is not None else load_mechanisms()
        texts: list[str] = []
        owners: list[int] = []
        for index, mechanism in enumerate(self.mechanisms):
            for text in mechanism.phrasings():
                texts.append(text)
                owners.append(index)
        self._vectors = self._embed(texts, cache_dir)
        self._owners = np.asarray(owners)

    def _embed(self, texts: list[str], cache_dir: Path | None) -> np.ndarray:
        """Vocabulary vectors, cached beside the index (keyed by the texts and the model)."""
        key = hashlib.sha256(
            "\n".join([type(self.embeddings).__name__, *texts]).encode("utf-8")
        ).hexdigest()[:16]
        path = cache_dir / f"mechanisms-{key}.npy" if cache_dir else None
        if path is not None and path.exists():
            return np.asarray(np.load(path), dtype=np.float32)
        vectors = _unit(np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
        return vectors

    def similarities(
        self, question: str, vector: Sequence[float] | None = None
    ) -> list[MechanismMatch]:
        """Every mechanism with its best phrasing's cosine to the question, best first;
        `vector`: the question's embedding by the same model, when the caller has it."""
        if vector is None:
            vector = self.embeddings.embed_query(question)
        query = _unit(np.asarray([vector], dtype=np.float32))[0]
        cosines = self._vectors @ query
        best = np.full(len(self.mechanisms), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owners, cosines)
        order = np.argsort(-best, kind="stable")
        return [MechanismMatch(self.mechanisms[i].id, round(float(best[i]), 4)) for i in order]

    def match(
        self,
        question: str,
        min_similarity: float,
        top: int,
        vector: Sequence[float] | None = None,
        names: bool = False,
    ) -> list[MechanismMatch]:
        """The mechanisms the question most likely describes (at most `top`, above the bar);
        with `names`, those it names come first, at similarity 1.0."""
        found = self.similarities(question, vector)
        if names:
            named = named_mechanisms(question)
            found = [MechanismMatch(m.id, 1.0) for m in found if m.id in named] + [
                m for m in found if m.id not in named
            ]
        return [m for m in found[:top] if m.similarity >= min_similarity]


_GENERIC = {"social"}  # name parts too common to mean the mechanism ("Social / team buying")


@functools.cache
def _name_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(mechanism id, pattern) for every part of every name: "Razor and blade (hardware at
    cost)" gives "razor and blade" and "hardware at cost"; "资产即服务（换电、租赁）" gives
    资产即服务, 换电 and 租赁. English parts match whole words (plural allowed), Chinese parts
    as text."""
    patterns = []
    for mechanism in load_mechanisms():
        for name in (mechanism.name_en, mechanism.name_zh):
            for part in re.split(r"\s*(?:/|\(|\)|（|）|、|，|,)\s*", name):
                part = part.strip().lower()
                if not part or part in _GENERIC:
                    continue
                if has_chinese(part):
                    patterns.append((mechanism.id, re.compile(re.escape(part))))
                elif len(part) >= 6:
                    patterns.append((mechanism.id, phrase_pattern(part.replace("-", " "))))
    return tuple(patterns)


def named_mechanisms(text: str) -> set[str]:
    """The mechanisms whose name (or a part of it) the text contains."""
    lowered = text.lower()
    return {mechanism for mechanism, pattern in _name_patterns() if pattern.search(lowered)}


def definitions(ids: list[str], language: str = "en") -> str:
    """The definitions of the given mechanisms, in the answer's language, as one text."""
    by_id = {m.id: m for m in load_mechanisms()}
    chosen = [by_id[i] for i in ids if i in by_id]
    return " ".join(m.definition_zh if language == "zh" else m.definition_en for m in chosen)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)
