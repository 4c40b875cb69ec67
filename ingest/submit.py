"""Adding one case from outside the repository (the web app's Add case tab).

The same checks as `elsewhere cases check` (`read_case`, and `duplicate_id_problem` against
every file of both markets), plus what an untrusted upload needs: a size bound before anything
is parsed, an id that is a slug before it becomes a path, and no replacement of an existing
case without an explicit `replace`. Nothing is written unless every check passes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel

from app.errors import CaseFileError, CaseProblem, ElsewhereError
from ingest.parse import (
    _display_path,
    case_files,
    duplicate_id_problem,
    read_case,
    read_front_matter,
)
from ingest.schema import ID_PATTERN, SECTORS, CaseMeta, Market

UPLOAD_NAME = "upload.md"  # how an upload is named in errors before its id is known
FieldKind = Literal["text", "choice", "multi", "list", "records"]


@dataclass(frozen=True)
class Submission:
    case_id: str
    market: Market
    target: Path
    relpath: str
    replaces: bool


@dataclass(frozen=True)
class FormField:
    """One front-matter field as a form shows it, derived from `CaseMeta`."""

    name: str
    kind: FieldKind
    required: bool
    choices: tuple[str, ...] = ()


def vocabularies() -> dict[str, tuple[str, ...]]:
    """Fields whose values come from a fixed vocabulary kept in code (beyond enums)."""
    from ingest.mechanisms import mechanism_ids

    return {"sector": SECTORS, "mechanisms": mechanism_ids()}


def form_fields() -> list[FormField]:
    """Every CaseMeta field, in schema order, with the widget kind its type calls for."""
    vocab = vocabularies()
    fields = []
    for name, info in CaseMeta.model_fields.items():
        annotation = _unwrap(info.annotation)
        inner = _unwrap(get_args(annotation)[0]) if get_origin(annotation) is list else None
        kind: FieldKind
        choices: tuple[str, ...] = ()
        if inner is not None and _is_enum(inner):
            kind, choices = "multi", tuple(m.value for m in inner)
        elif inner is not None and isinstance(inner, type) and issubclass(inner, BaseModel):
            kind = "records"
        elif inner is not None:
            kind, choices = ("multi", vocab[name]) if name in vocab else ("list", ())
        elif _is_enum(annotation):
            kind, choices = "choice", tuple(m.value for m in annotation)
        elif name in vocab:
            kind, choices = "choice", vocab[name]
        else:
            kind = "text"
        fields.append(FormField(name, kind, info.is_required(), choices))
    return fields


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; `Annotated[X, ...]` -> X."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not None and get_origin(annotation) is not list and args:
        return _unwrap(args[0])
    return annotation


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def compose_case(values: dict[str, Any], body: str) -> bytes:
    """A case file from form values: empty optional fields are left out, lists split."""
    front: dict[str, Any] = {}
    for spec in form_fields():
        value = values.get(spec.name)
        if spec.kind == "list":
            value = [part.strip() for part in re.split(r"[,\n]", value or "") if part.strip()]
        elif spec.kind == "records":
            value = [_source(line) for line in (value or "").splitlines() if line.strip()]
        elif isinstance(value, str):
            value = value.strip()
        if value not in (None, "", []):
            front[spec.name] = value
    head = yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
    return f"---\n{head}---\n{body.strip()}\n".encode()


def _source(line: str) -> dict[str, Any]:
    """`title | publisher | year | url` (url optional) -> a source mapping."""
    parts = [part.strip() for part in line.split("|")]
    keys = ("title", "publisher", "year", "url")
    source: dict[str, Any] = {k: v for k, v in zip(keys, parts, strict=False) if v}
    if str(source.get("year", "")).isdigit():
        source["year"] = int(source["year"])
    return source


def check_submission(
    cases_dir: Path, raw: bytes, max_bytes: int, replace: bool = False
) -> Submission:
    """Validate a new case file's bytes; raise CaseFileError with every problem found."""
    if len(raw) > max_bytes:
        raise CaseFileError(
            [CaseProblem(UPLOAD_NAME, f"is {len(raw):,} bytes; at most {max_bytes:,} allowed")]
        )
    front = read_front_matter(raw, UPLOAD_NAME)
    case_id, market = _usable(front.get("id"), front.get("market"))
    rel = (
        _display_path(cases_dir / market.value / f"{case_id}.md", cases_dir)
        if case_id and market
        else UPLOAD_NAME
    )
    problems = _content_problems(raw, case_id, market, max_bytes, rel)
    if case_id and market:
        target = cases_dir / market.value / f"{case_id}.md"
        duplicate = duplicate_id_problem(
            rel, case_id, library_ids(cases_dir, max_bytes).get(case_id)
        )
        if duplicate is not None:
            problems.append(duplicate)
        elif target.exists() and not replace:
            problems.append(
                CaseProblem(rel, "is already a case; tick “replace” to overwrite it", 2, "id")
            )
    if problems:
        raise CaseFileError(problems)
    assert case_id and market
    return Submission(case_id, market, target, rel, target.exists())


def save_submission(
    cases_dir: Path, raw: bytes, max_bytes: int, replace: bool = False
) -> Submission:
    """Check, then write cases/<market>/<id>.md atomically (a temp file renamed into place)."""
    submission = check_submission(cases_dir, raw, max_bytes, replace)
    submission.target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=submission.target.parent, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, submission.target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ElsewhereError(f"could not write {submission.relpath}: {exc.strerror}") from None
    return submission


def library_ids(cases_dir: Path, max_bytes: int) -> dict[str, str]:
    """id -> the file that uses it, over every readable case file of both markets."""
    owners: dict[str, str] = {}
    if not cases_dir.is_dir():
        return owners
    for path in case_files(cases_dir):
        try:
            if path.stat().st_size > max_bytes:
                continue
            front = read_front_matter(path.read_bytes(), path.name)
        except (OSError, ElsewhereError):
            continue
        case_id = front.get("id")
        if isinstance(case_id, str):
            owners.setdefault(case_id, _display_path(path, cases_dir))
    return owners


def _usable(case_id: Any, market: Any) -> tuple[str | None, Market | None]:
    """The id and market if they are safe to build a path from (else the schema reports them)."""
    good_id = (
        case_id
        if isinstance(case_id, str) and len(case_id) <= 80 and re.fullmatch(ID_PATTERN, case_id)
        else None
    )
    good_market = Market(market) if market in {m.value for m in Market} else None
    return good_id, good_market


def _content_problems(
    raw: bytes, case_id: str | None, market: Market | None, max_bytes: int, rel: str
) -> list[CaseProblem]:
    """read_case on a staged copy; where the copy lives is ours, so placement is not checked."""
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "cases"
        staged = staging / (market or Market.OVERSEAS).value / f"{case_id or 'upload'}.md"
        staged.parent.mkdir(parents=True)
        staged.write_bytes(raw)
        try:
            read_case(staged, staging, max_bytes)
        except CaseFileError as exc:
            return [dataclasses.replace(p, path=rel) for p in exc.problems if p.kind != "placement"]
    return []
