"""Thumbs up / down on answers, kept in SQLite under the data dir, and turned into gold-question
drafts an analyst can review before adding them to `evals/gold.jsonl`."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from app.errors import ElsewhereError
from ingest.schema import has_chinese

Vote = Literal["up", "down"]
FEEDBACK_FILE = "feedback.sqlite"
MAX_COMMENT = 2000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, cited TEXT NOT NULL, vote TEXT NOT NULL, comment TEXT NOT NULL,
    market TEXT
);
"""


@dataclass(frozen=True)
class Feedback:
    id: int
    created: str
    question: str
    answer: str
    cited: tuple[str, ...]  # case ids the answer cited, in citation order
    vote: Vote
    comment: str
    market: str | None = None  # the market filter the answer ran with


class FeedbackStore:
    """One SQLite file; safe to share between the web app's worker threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    def under(cls, data_dir: Path) -> FeedbackStore:
        return cls(data_dir / FEEDBACK_FILE)

    def add(
        self,
        question: str,
        answer: str,
        cited: list[str],
        vote: Vote,
        comment: str = "",
        market: str | None = None,
    ) -> Feedback:
        if vote not in ("up", "down"):
            raise ElsewhereError(f"a vote is `up` or `down`, got {vote!r}")
        if not question.strip() or not answer.strip():
            raise ElsewhereError("there is no answer to rate yet; ask a question first")
        comment = comment.strip()[:MAX_COMMENT]
        created = datetime.now(UTC).isoformat(timespec="seconds")
        row = (created, question, answer, json.dumps(cited), vote, comment, market)
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO feedback (created, question, answer, cited, vote, comment, market) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        assert cursor.lastrowid is not None
        return Feedback(cursor.lastrowid, created, question, answer, tuple(cited), vote, comment,
                        market)  # fmt: skip

    def all(self, limit: int = 500) -> list[Feedback]:
        """Newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created, question, answer, cited, vote, comment, market FROM feedback "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_feedback(row) for row in rows]

    def get(self, feedback_id: int) -> Feedback:
        with self._lock:
            row = self._db.execute(
                "SELECT id, created, question, answer, cited, vote, comment, market FROM feedback "
                "WHERE id = ?",
                (feedback_id,),
            ).fetchone()
        if row is None:
            raise ElsewhereError(f"no feedback with number {feedback_id}")
        return _feedback(row)

    def close(self) -> None:
        self._db.close()


def _feedback(row: tuple[Any, ...]) -> Feedback:  # a sqlite3 row
    fid, created, question, answer, cited, vote, comment, market = row
    return Feedback(fid, created, question, answer, tuple(json.loads(cited)), vote, comment, market)


def gold_draft(feedback: Feedback) -> str:
    """A gold-question line (the shape of evals/gold.jsonl) for an analyst to review.

    A thumbs-up answer's cited cases become the relevant cases (grade 1: the analyst decides
    what deserves 2); a thumbs-down answer gets none, and its comment says what was wrong.
    """
    draft = {
        "id": f"fb{feedback.id:04d}",
        "q": feedback.question,
        "lang": "zh" if has_chinese(feedback.question) else "en",
        "asker": None,
        "market": feedback.market,
        "relevant": {case_id: 1 for case_id in feedback.cited} if feedback.vote == "up" else {},
        "split": "tune",
        "draft": {"vote": feedback.vote, "comment": feedback.comment, "from": "feedback"},
    }
    return json.dumps(draft, ensure_ascii=False)
