"""A user's question, checked and normalised in one place for the CLI, --batch and the web app.

    raw text -> refuse lone surrogates (invalid UTF-8 in argv or a file arrives as these)
             -> drop terminal escapes, turn control characters into spaces
             -> NFC, collapse whitespace -> refuse empty -> clip to MAX_QUESTION_CHARS

The clip keeps a pasted page from holding a search worker for seconds and keeps the question
inside the model's prompt budget (800 characters is at most ~1,050 cl100k tokens even in Chinese).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.errors import QuestionError

MAX_QUESTION_CHARS = 800
# CSI / OSC / other ESC sequences, then any remaining C0/C1 control character (tab, newline too:
# a question is one line of text).
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Question:
    """A question ready to search with; `clipped_from` is the original length if it was cut."""

    text: str
    clipped_from: int | None = None


def printable(text: str) -> str:
    """Text with terminal escape sequences removed and control characters (newlines and tabs
    kept) made spaces: safe to print to a terminal whatever a case file contained."""
    return _CONTROLS.sub(
        lambda m: m[0] if m[0] in "\n\t" else " ", _ESCAPES.sub("", _surrogates_shown(text))
    )


def clean_question(raw: str) -> Question:
    """The question as search and the model will see it, or QuestionError saying what is wrong."""
    if _SURROGATE.search(raw):
        raise QuestionError(
            "not_utf8", "the question is not valid UTF-8 text; retype it or save the file as UTF-8"
        )
    text = _CONTROLS.sub(" ", _ESCAPES.sub("", raw))
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if not text:
        raise QuestionError("empty", "the question is empty; type what you want to find out")
    if len(text) <= MAX_QUESTION_CHARS:
        return Question(text)
    cut = text[:MAX_QUESTION_CHARS]
    if " " in cut[MAX_QUESTION_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return Question(cut, clipped_from=len(text))


def clip_notice(question: Question) -> str | None:
    """What the user is told when their question was cut (None if it was not)."""
    if question.clipped_from is None:
        return None
    return (
        f"Your question was {question.clipped_from:,} characters; only the first "
        f"{len(question.text):,} were used (the limit is {MAX_QUESTION_CHARS:,})."
    )


def _surrogates_shown(text: str) -> str:
    """Lone surrogates (undecodable bytes in file names) as \\udcXX, so output never fails."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
