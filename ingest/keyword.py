"""The keyword side of hybrid retrieval: a bm25s index built at ingest time and persisted.

Tokens: lower-cased English words, British spellings folded to American ("monetise" ->
"monetize"), English stop words dropped, Snowball-stemmed; runs of Chinese characters are
segmented with jieba (loaded only when Chinese text appears). Queries never rebuild the index.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ingest.schema import has_chinese

if TYPE_CHECKING:
    import numpy as np

    from ingest.state import IndexState

_WORD_OR_CJK = re.compile(r"[\u3400-\u9fff]+|[^\W_]+", re.UNICODE)
_BRITISH = re.compile(r"(?<=\w{3})is(e|es|ed|ing|ation|ations|er|ers)$")
POINTER = "bm25.current"


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | frozenset(STOPWORDS_CHINESE)


@functools.cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def tokenize(text: str) -> list[str]:
    """Index/query tokens for one text; the same function serves both sides."""
    words: list[str] = []
    stop = _stopwords()
    for piece in _WORD_OR_CJK.findall(text.lower()):
        if has_chinese(piece):
            words += [w for w in _jieba().lcut_for_search(piece) if len(w) > 1 and w not in stop]
        elif piece not in stop and len(piece) > 1:
            words.append(_BRITISH.sub(r"iz\1", piece))
    return _stemmer().stemWords(words) if words else []


class ChunkRecord(TypedDict):
    """One indexed chunk as search reads it (BM25 records, saved as JSON beside the index, and
    the retriever's chunk table): the same fields for case chunks and for BEIR documents."""

    id: str
    case_id: str
    section: str
    lever: str  # "" outside a lever section
    market: str  # "" for BEIR documents
    text: str  # with its "Company - Section" first line


@dataclass(frozen=True)
class KeywordHit:
    index: int
    score: float


class KeywordIndex:
    """BM25 over chunk texts, with row-aligned chunk records for filtering and display."""

    def __init__(self, retriever: Any, records: list[ChunkRecord], stamp: str):
        self._retriever = retriever
        self.records = records
        self.stamp = stamp
        self._masks: dict[tuple[str, str], np.ndarray] = {}

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        records: list[ChunkRecord],
        stamp: str,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25(k1=k1, b=b)
        # An empty corpus still gets a retriever so searches return nothing rather than fail.
        retriever.index(
            [tokenize(text) or ["\u2205"] for text in texts] or [["\u2205"]], show_progress=False
        )
        return cls(retriever, records, stamp)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[KeywordHit]:
        tokens = tokenize(query)
        if not tokens or not self.records:
            return []
        k = min(k, len(self.records))
        docs, scores = self._retriever.retrieve(
            [tokens], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [
            KeywordHit(int(doc), float(score))
            for doc, score in zip(docs[0], scores[0], strict=True)
            if score > 0
        ]

    def mask(self, field: str, value: str) -> np.ndarray:
        """Row weights selecting records whose `field` equals `value` (cached per pair)."""
        key = (field, value)
        if key not in self._masks:
            import numpy

            self._masks[key] = numpy.array(
                [1.0 if r.get(field) == value else 0.0 for r in self.records]
            )
        return self._masks[key]

    def save(self, base_dir: Path) -> None:
        """Write to a fresh folder, then switch a pointer file atomically; drop older folders."""
        base_dir.mkdir(parents=True, exist_ok=True)
        folder = base_dir / f"bm25-{self.stamp[:16]}"
        if folder.exists():
            shutil.rmtree(folder)
        self._retriever.save(str(folder), show_progress=False)
        (folder / "records.json").write_text(
            json.dumps(self.records, ensure_ascii=False), encoding="utf-8"
        )
        tmp = base_dir / (POINTER + ".tmp")
        tmp.write_text(json.dumps({"folder": folder.name, "stamp": self.stamp}), encoding="utf-8")
        os.replace(tmp, base_dir / POINTER)
        for old in base_dir.glob("bm25-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_stamp(base_dir: Path) -> str | None:
        try:
            return str(json.loads((base_dir / POINTER).read_text(encoding="utf-8"))["stamp"])
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def load(cls, base_dir: Path) -> KeywordIndex | None:
        import bm25s

        try:
            pointer = json.loads((base_dir / POINTER).read_text(encoding="utf-8"))
            folder = base_dir / pointer["folder"]
            records = json.loads((folder / "records.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            return None
        retriever = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        return cls(retriever, records, pointer["stamp"])


def rebuild_keyword_index(index_dir: Path, state: IndexState) -> None:
    """Build BM25 over exactly the chunks the state DB lists and save it beside it."""
    rows = state.chunks()
    records = state.records()
    meta = [
        ChunkRecord(
            id=row.id,
            case_id=row.case_id,
            section=row.section,
            lever=row.lever,
            market=records[row.case_id].market or "",
            text=row.text,
        )
        for row in rows
    ]
    KeywordIndex.build([row.text for row in rows], meta, state.stamp()).save(index_dir)
