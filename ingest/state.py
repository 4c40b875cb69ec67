"""What the index holds, in one SQLite file: cases, their chunks, and how they were built.

SQLite transactions make each group of cases commit all-or-nothing. A case's row is written only
after its vectors are in Chroma, so a crash in between leaves the old hash here and the next
ingest redoes that case. Retrieval reads case records from here, never from the case files.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ingest.chunk import Chunk
from ingest.parse import Case
from ingest.schema import Lever, Market, Outcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, relpath TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, ord INTEGER NOT NULL,
    section TEXT NOT NULL, lever TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_case ON chunks (case_id, ord);
"""


@dataclass(frozen=True)
class CaseRecord:
    """A case as the index knows it: front matter plus section texts, ready to show."""

    case_id: str
    company: str
    company_zh: str
    market: Market | None  # None only for records that are not cases (BEIR documents)
    sector: str
    outcome: Outcome | None
    years: str
    hq_country: str
    countries: list[str]
    problems: list[str]
    levers: list[Lever]
    summary: str
    title: str
    relpath: str
    sources: list[dict[str, Any]]
    sections: dict[str, str]
    as_of: str = ""  # year-month the facts were last checked (empty in indexes built before it)
    mechanisms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Records read back from the index's JSON carry plain strings: make them the enums.
        object.__setattr__(self, "market", Market(self.market) if self.market else None)
        object.__setattr__(self, "outcome", Outcome(self.outcome) if self.outcome else None)
        object.__setattr__(self, "levers", [Lever(lever) for lever in self.levers])

    @classmethod
    def from_case(cls, case: Case) -> CaseRecord:
        meta = case.meta
        return cls(
            case_id=meta.id,
            company=meta.company,
            company_zh=meta.company_zh or "",
            market=meta.market,
            sector=meta.sector,
            outcome=meta.outcome,
            years=meta.years,
            hq_country=meta.hq_country,
            countries=list(meta.countries),
            problems=list(meta.problems),
            levers=list(meta.levers),
            summary=meta.summary,
            title=case.title,
            relpath=case.relpath,
            sources=[s.model_dump(exclude_none=True) for s in meta.sources],
            sections=dict(case.sections),
            as_of=meta.as_of,
            mechanisms=list(meta.mechanisms),
        )


def library_stamp(versions: Iterable[tuple[str, str]]) -> str:
    """A digest of (case_id, content_hash) pairs: equal iff the same case versions."""
    items = sorted(f"{cid}:{digest}" for cid, digest in versions)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()


class ChunkRow(NamedTuple):
    """One row of the chunks table, as ingest stored it."""

    id: str
    case_id: str
    section: str
    lever: str
    text: str


class IndexState:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def forget_meta(self, key: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def hashes(self) -> dict[str, tuple[str, str]]:
        """case_id -> (content_hash, relpath) for every indexed case."""
        rows = self._db.execute("SELECT case_id, content_hash, relpath FROM cases")
        return {case_id: (digest, rel) for case_id, digest, rel in rows}

    def stamp(self) -> str:
        """A digest of exactly which case versions are indexed (BM25 must match it)."""
        return library_stamp((cid, digest) for cid, (digest, _) in self.hashes().items())

    def reset(self, fingerprint: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM cases")
            self._db.execute("DELETE FROM chunks")
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,)
            )

    def commit_cases(self, cases: Iterable[tuple[Case, list[Chunk]]]) -> None:
        """Replace these cases and their chunks in one transaction."""
        with self._db:
            for case, chunks in cases:
                self._db.execute("DELETE FROM chunks WHERE case_id = ?", (case.id,))
                record = json.dumps(CaseRecord.from_case(case).__dict__, ensure_ascii=False)
                self._db.execute(
                    "INSERT OR REPLACE INTO cases VALUES (?, ?, ?, ?)",
                    (case.id, case.content_hash, case.relpath, record),
                )
                self._db.executemany(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (c.id, c.case_id, i, c.section, c.lever, c.text)
                        for i, c in enumerate(chunks)
                    ],
                )

    def remove_cases(self, case_ids: Iterable[str]) -> None:
        with self._db:
            for case_id in case_ids:
                self._db.execute("DELETE FROM chunks WHERE case_id = ?", (case_id,))
                self._db.execute("DELETE FROM cases WHERE case_id = ?", (case_id,))

    def record_rows(self) -> list[tuple[str, str, str, str]]:
        """(case_id, content_hash, relpath, record JSON) per case: what the store mirrors."""
        return list(
            self._db.execute(
                "SELECT case_id, content_hash, relpath, record FROM cases ORDER BY case_id"
            )
        )

    def replace_all(
        self,
        fingerprint: str,
        records: Iterable[tuple[str, str, str, str]],
        chunks: Iterable[tuple[str, str, int, str, str, str]],
    ) -> None:
        """Become a copy of another instance's index (pulled from the shared vector store):
        (case_id, content_hash, relpath, record JSON) rows and (id, case_id, ord, section,
        lever, text) chunk rows, in one transaction."""
        with self._db:
            self._db.execute("DELETE FROM cases")
            self._db.execute("DELETE FROM chunks")
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,)
            )
            self._db.executemany("INSERT INTO cases VALUES (?, ?, ?, ?)", records)
            self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", chunks)

    def chunk_cases(self) -> dict[str, str]:
        """chunk id -> case id for every chunk."""
        return dict(self._db.execute("SELECT id, case_id FROM chunks"))

    def chunk_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def chunks(self) -> list[ChunkRow]:
        """Every chunk, in a stable order."""
        rows = self._db.execute(
            "SELECT id, case_id, section, lever, text FROM chunks ORDER BY case_id, ord"
        )
        return [ChunkRow(*row) for row in rows]

    def records(self) -> dict[str, CaseRecord]:
        rows = self._db.execute("SELECT record FROM cases ORDER BY case_id")
        return {r.case_id: r for r in (CaseRecord(**json.loads(row[0])) for row in rows)}
