"""Adding one case file from outside the library (the web app's Add case tab).

The file is untrusted: its size is bounded before it is read, its front matter goes through
the same bounded loader as every case file, it is validated in a staging copy of the library
layout, and its id is checked against the whole library by the same rule `cases check` and
ingest use (`unique_cases`). Only then is it written, and never over an existing file.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from app.errors import CaseFileError, CaseProblem
from ingest.parse import Case, case_files, read_case, read_front_matter, unique_cases
from ingest.schema import ID_PATTERN, Market


def add_case_file(cases_dir: Path, source: Path, max_bytes: int) -> Path:
    """Validate `source` as a new case and save it under `cases_dir`; return where it went.

    Raises CaseFileError (every problem found; nothing saved) otherwise.
    """
    name = source.name
    size = source.stat().st_size
    if size > max_bytes:
        raise CaseFileError(
            [CaseProblem(name, f"is {size:,} bytes; case files may be at most {max_bytes:,}")]
        )
    with source.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    market, case_id = _placement(raw, name)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / cases_dir.name
        staged = staging / market.value / f"{case_id}.md"
        staged.parent.mkdir(parents=True)
        staged.write_bytes(raw)
        case = read_case(staged, staging, max_bytes)
        _check_new_id(cases_dir, case, max_bytes)
    target = cases_dir / market.value / f"{case_id}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("xb") as out:  # exclusive: two uploads of one id cannot both win
            out.write(raw)
    except FileExistsError:
        raise CaseFileError([_exists(case)]) from None
    return target


def _placement(raw: bytes, name: str) -> tuple[Market, str]:
    """Market and id from the front matter, type-checked before either is used as text."""
    front = read_front_matter(raw, name)
    market, case_id = front.get("market"), front.get("id")
    if market not in {m.value for m in Market}:
        raise CaseFileError([CaseProblem(name, "must be `china` or `overseas`", 2, "market")])
    if not isinstance(case_id, str) or len(case_id) > 80 or not re.fullmatch(ID_PATTERN, case_id):
        raise CaseFileError(
            [CaseProblem(name, "must be a lowercase slug such as `doordash-dashpass`", 2, "id")]
        )
    return Market(market), case_id


def _check_new_id(cases_dir: Path, new: Case, max_bytes: int) -> None:
    """The library's files that could carry this id (file name = id) plus the new one."""
    existing: list[Case] = []
    for path in case_files(cases_dir):
        if path.stem != new.id:
            continue
        try:
            existing.append(read_case(path, cases_dir, max_bytes))
        except CaseFileError:
            raise CaseFileError([_exists(new)]) from None
    if any(case.relpath == new.relpath for case in existing):
        raise CaseFileError([_exists(new)])
    _unique, duplicates = unique_cases([*existing, new])
    mine = [error for error in duplicates if error.problems[0].path == new.relpath]
    if mine:
        raise mine[0]


def _exists(case: Case) -> CaseProblem:
    return CaseProblem(case.relpath, f"a case with id `{case.id}` already exists", 2, "id")
