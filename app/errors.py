"""Every error Elsewhere raises on purpose, in one small tree.

    ElsewhereError                 base: a message fit to show a user as it is
    ├── ConfigError                a setting has a bad value (names the setting and the value)
    ├── CaseFileError              one case file is invalid; carries every problem found in it
    ├── LibraryError               the case library as a whole cannot be used (missing folder...)
    ├── IndexNotReadyError         no index yet, or it was built differently; run `elsewhere ingest`
    ├── IngestLockedError          another ingest holds the lock
    ├── CaseNotFoundError          an id names no case in the index
    ├── QuestionError              a question cannot be used (empty, not UTF-8); has a `kind`
    ├── VectorStoreError           the Chroma server is unreachable or failed mid-operation
    ├── ModelUnavailableError      a packaged model or GGUF file is missing or corrupt
    └── LLMError                   the language model failed, timed out or died mid-answer

Only the edges (the CLI and the web UI) turn these into user messages; everything else raises.
"""

from __future__ import annotations

from dataclasses import dataclass


class ElsewhereError(Exception):
    """Base class: `str(error)` is a complete, user-facing sentence."""


class ConfigError(ElsewhereError):
    pass


@dataclass(frozen=True)
class CaseProblem:
    """One problem in one case file, located as precisely as the parser could."""

    path: str
    message: str
    line: int | None = None
    field: str | None = None
    kind: str | None = None  # "placement": where the file lives, not what it says

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path} line {self.line}"
        what = f"`{self.field}` {self.message}" if self.field else self.message
        return f"{where}: {what}"


class CaseFileError(ElsewhereError):
    def __init__(self, problems: list[CaseProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LibraryError(ElsewhereError):
    pass


class IndexNotReadyError(ElsewhereError):
    pass


class IngestLockedError(ElsewhereError):
    pass


class CaseNotFoundError(ElsewhereError):
    pass


class QuestionError(ElsewhereError):
    """`kind` is "empty" or "not_utf8", for code that must tell them apart."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


class VectorStoreError(ElsewhereError):
    pass


class ModelUnavailableError(ElsewhereError):
    pass


class LLMError(ElsewhereError):
    pass
