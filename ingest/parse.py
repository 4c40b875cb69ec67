"""Case files on disk -> validated `Case` objects, with one clear error per problem.

Case files are untrusted: sizes are bounded before reading, symlinks may not leave the cases
folder, bytes must be UTF-8, YAML is loaded with the safe loader, and every front-matter field is
checked against `CaseMeta`. Errors carry file, line, field and what was expected.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.errors import CaseFileError, CaseProblem, LibraryError
from ingest.figures import unsupported_figures
from ingest.schema import (
    COMPANY_ZH_REQUIRED,
    MAX_CASE_BYTES,
    MAX_WORDS,
    MIN_WORDS,
    SECTIONS,
    ZH_COUNTS,
    ZH_ITEM,
    ZH_ITEM_CHARS,
    ZH_LABELS,
    ZH_SECTION,
    CaseMeta,
    Market,
    has_chinese,
)

# libyaml's C parser when the wheel has it (it does on these machines): ~10x faster, same rules.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FRONT_MATTER_FENCE = "---"
MAX_PROBLEMS_PER_FILE = 50  # a flood of errors hides the first one, which is often the cause
FRONT_LINE_OFFSET = 2  # YAML line 0 is file line 2 (1-based, after the opening fence)


@dataclass(frozen=True)
class Case:
    """One validated case: its front matter, its body split by section, and where it came from."""

    meta: CaseMeta
    sections: dict[str, str]
    path: Path
    relpath: str
    content_hash: str
    title: str = ""
    word_count: int = 0

    @property
    def id(self) -> str:
        return self.meta.id


@dataclass
class LibraryScan:
    """The result of reading a whole library: good cases and the problems of bad files."""

    cases: list[Case] = field(default_factory=list)
    errors: list[CaseFileError] = field(default_factory=list)
    files_seen: int = 0


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def case_files(cases_dir: Path) -> Iterator[Path]:
    """Every `*.md` below the cases folder, symlinks included (checked later), sorted."""
    if not cases_dir.is_dir():
        raise LibraryError(
            f"cases folder {cases_dir} does not exist; set ELSEWHERE_CASES_DIR or create it"
        )
    found: list[Path] = []
    for root, _dirs, files in os.walk(cases_dir, followlinks=False):
        for name in files:
            if name.endswith(".md") and not (Path(root) == cases_dir and name == "README.md"):
                found.append(Path(root) / name)
    yield from sorted(found)


def read_case(path: Path, cases_dir: Path, max_bytes: int = MAX_CASE_BYTES) -> Case:
    """Read and validate one case file; raise CaseFileError listing every problem found."""
    rel = _display_path(path, cases_dir)
    raw = _read_bounded(path, cases_dir, rel, max_bytes)
    text = _decode(raw, rel)
    front, body, body_line = split_front_matter(text, rel)
    problems: list[CaseProblem] = []
    meta = _validate_meta(front, rel, problems)
    sections, title, words = _parse_body(body, body_line, rel, problems)
    if meta is not None:
        _check_placement(meta, path, cases_dir, rel, problems)
    if problems or meta is None:
        raise CaseFileError(_capped(problems, rel))
    return Case(meta, sections, path, rel, content_hash(raw), title, words)


def read_front_matter(raw: bytes, rel: str) -> dict[str, Any]:
    """The YAML front matter of raw case-file bytes (untrusted), or CaseFileError."""
    data = load_front_matter(split_front_matter(_decode(raw, rel), rel)[0], rel)
    if not isinstance(data, dict):
        raise CaseFileError([CaseProblem(rel, "front matter is not a valid YAML mapping", 2)])
    return data


def scan_library(
    cases_dir: Path, paths: Iterable[Path] | None = None, max_bytes: int = MAX_CASE_BYTES
) -> LibraryScan:
    """Read every case file (or just `paths`); bad files become errors, good ones cases.

    An id used by several files is an error on each of them (see `unique_cases`).
    """
    scan = LibraryScan()
    read: list[Case] = []
    for path in paths if paths is not None else case_files(cases_dir):
        scan.files_seen += 1
        try:
            read.append(read_case(path, cases_dir, max_bytes))
        except CaseFileError as exc:
            scan.errors.append(exc)
    scan.cases, duplicates = unique_cases(read)
    scan.errors += duplicates
    return scan


def unique_cases(cases: Iterable[Case]) -> tuple[list[Case], list[CaseFileError]]:
    """The cases whose id no other file uses, and one error per file that shares its id.

    No file wins: picking one (by path order, say) would let a new file in china/ silently
    replace an indexed case of the same id in overseas/. Each error names every file involved,
    so whichever one the analyst opens tells them where the other is. `cases check`, ingest and
    the web upload all decide duplicates here.
    """
    by_id: dict[str, list[Case]] = {}
    for case in cases:
        by_id.setdefault(case.id, []).append(case)
    unique: list[Case] = []
    errors: list[CaseFileError] = []
    for case_id, group in by_id.items():
        if len(group) == 1:
            unique.append(group[0])
            continue
        for case in group:
            others = ", ".join(other.relpath for other in group if other is not case)
            message = f"{case_id!r} is also the id of {others}; ids must be unique, rename one"
            errors.append(CaseFileError([CaseProblem(case.relpath, message, 2, "id")]))
    return unique, errors


def _capped(problems: list[CaseProblem], rel: str) -> list[CaseProblem]:
    """At most MAX_PROBLEMS_PER_FILE problems, then one line counting the rest."""
    if len(problems) <= MAX_PROBLEMS_PER_FILE:
        return problems
    more = len(problems) - MAX_PROBLEMS_PER_FILE
    return [*problems[:MAX_PROBLEMS_PER_FILE], CaseProblem(rel, f"and {more:,} more problems")]


def duplicate_id_problem(rel: str, case_id: str, owner: str | None) -> CaseProblem | None:
    """The duplicate-id rule for ONE new file against the library (the web form's check; a
    whole scan uses `unique_cases`): an id belongs to one file, whichever market folder."""
    if owner is None or owner == rel:
        return None
    message = f"{case_id!r} is also the id of {owner}; ids must be unique, rename one"
    return CaseProblem(rel, message, 2, "id")


def _display_path(path: Path, cases_dir: Path) -> str:
    """`cases/china/x.md`; a byte that is not UTF-8 in a file name shows as `\\xNN`, so the
    name is printable and JSON-safe everywhere it goes."""
    try:
        shown = Path(cases_dir.name) / path.relative_to(cases_dir)
    except ValueError:
        shown = path
    return os.fsencode(shown).decode("utf-8", "backslashreplace")


def _read_bounded(path: Path, cases_dir: Path, rel: str, max_bytes: int) -> bytes:
    root = cases_dir.resolve()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        problem = CaseProblem(rel, "cannot be read (broken link or missing file)")
        raise CaseFileError([problem]) from None
    if not real.is_relative_to(root):
        raise CaseFileError(
            [CaseProblem(rel, f"points outside the cases folder ({real}); links must stay inside")]
        )
    if not real.is_file():
        raise CaseFileError([CaseProblem(rel, "is not a regular file")])
    size = real.stat().st_size
    if size > max_bytes:
        raise CaseFileError(
            [CaseProblem(rel, f"is {size:,} bytes; case files may be at most {max_bytes:,} bytes")]
        )
    if size == 0:
        raise CaseFileError([CaseProblem(rel, "is empty; start from `elsewhere cases new`")])
    with real.open("rb") as handle:
        return handle.read(max_bytes + 1)[:max_bytes]


def read_case_text(path: Path, cases_dir: Path, max_bytes: int = MAX_CASE_BYTES) -> str:
    """The decoded text of one case file, read under the same limits as `read_case`."""
    rel = _display_path(path, cases_dir)
    return _decode(_read_bounded(path, cases_dir, rel, max_bytes), rel)


def _decode(raw: bytes, rel: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CaseFileError(
            [CaseProblem(rel, f"is not valid UTF-8 (byte {exc.start}); save it as UTF-8", line)]
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def split_front_matter(text: str, rel: str) -> tuple[str, str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        raise CaseFileError(
            [CaseProblem(rel, "must start with a `---` line opening the YAML front matter", 1)]
        )
    for index in range(1, len(lines)):
        if lines[index].strip() == FRONT_MATTER_FENCE:
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    raise CaseFileError([CaseProblem(rel, "front matter has no closing `---` line", 1)])


def _validate_meta(front: str, rel: str, problems: list[CaseProblem]) -> CaseMeta | None:
    try:
        data = load_front_matter(front, rel)
    except CaseFileError as exc:
        problems.extend(exc.problems)
        return None
    if not isinstance(data, dict):
        problems.append(CaseProblem(rel, "front matter must be a YAML mapping of fields", 2))
        return None
    try:
        return CaseMeta.model_validate(data)
    except ValidationError as exc:
        tree = yaml.compose(front, Loader=SAFE_LOADER)  # node marks give each error its line
        for err in exc.errors():
            problems.append(_problem_from_error(err, tree, rel))
        return None


def load_front_matter(front: str, rel: str) -> Any:
    """YAML front matter text -> Python data, bounded in time and memory, or CaseFileError.

    Anchors and aliases are refused before anything is built: an alias bomb ("billion
    laughs") is a few KB of YAML that expands to gigabytes once loaded or stringified.
    Case front matter never needs them. Every YAML problem is reported at its own line.
    """
    try:
        _refuse_aliases(front, rel)
        return yaml.load(front, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        raise CaseFileError([_yaml_problem(front, rel)]) from None


def _refuse_aliases(front: str, rel: str) -> None:
    """Scan parser events only (linear in the text, nothing expanded) for anchors/aliases."""
    for event in yaml.parse(front, Loader=SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            line = mark.line + FRONT_LINE_OFFSET if mark is not None else None
            message = "front matter may not use YAML anchors or aliases (& or *)"
            raise CaseFileError([CaseProblem(rel, message, line)])


def _yaml_problem(front: str, rel: str) -> CaseProblem:
    """The pure-Python parser's view of text libyaml rejected: its marks are more precise."""
    try:
        yaml.safe_load(front)
    except yaml.reader.ReaderError as exc:
        line = front[: exc.position].count("\n") + FRONT_LINE_OFFSET
        return CaseProblem(
            rel,
            f"front matter contains the control character U+{exc.character:04X}; remove it",
            line,
        )
    except yaml.MarkedYAMLError as exc:
        return CaseProblem(
            rel, f"front matter is not valid YAML: {exc.problem or 'malformed'}", _yaml_line(exc)
        )
    except yaml.YAMLError:
        pass
    return CaseProblem(rel, "front matter is not valid YAML: malformed", 2)


def _yaml_line(exc: yaml.MarkedYAMLError) -> int | None:
    """Where the mistake is: an unclosed quote or bracket runs to the end of the front matter,
    so the line where that token started ("while scanning ...") is the one to fix."""
    mark = exc.problem_mark
    if exc.context_mark is not None and "end of stream" in (exc.problem or ""):
        mark = exc.context_mark
    return mark.line + FRONT_LINE_OFFSET if mark is not None else None


# Pydantic error types -> our wording (matched on `type`, never on pydantic's English).
_MESSAGES = {
    "string_too_long": "must have at most {max_length} characters",
    "string_too_short": "must have at least {min_length} characters",
    "too_long": "must have at most {max_length} items",
    "too_short": "must have at least {min_length} item(s)",
    "string_pattern_mismatch": "must match pattern '{pattern}'",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "url_parsing": "must be a URL",
    "url_scheme": "must be an http(s) URL",
    "enum": "must be {expected}",
    "literal_error": "must be {expected}",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _message(err: Any) -> str:
    kind = str(err["type"])
    ctx = err.get("ctx") or {}
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])  # our validators' own sentences
    template = _MESSAGES.get(kind)
    if template is None:
        return str(err["msg"])  # a type we did not word ourselves: pydantic's, unchanged
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return str(err["msg"])


def _problem_from_error(err: Any, tree: yaml.Node | None, rel: str) -> CaseProblem:
    loc = tuple(err["loc"])
    message = _message(err)
    if err["type"] == COMPANY_ZH_REQUIRED:
        loc = ("company_zh",)
    name = ".".join(str(part) for part in loc) or None
    if err["type"] == "missing":
        return CaseProblem(rel, "is required but missing", 2, name)
    if err["type"] == "extra_forbidden":
        return CaseProblem(
            rel, "is not a known field (check the spelling)", yaml_line(tree, loc), name
        )
    got = err.get("input")
    plain = not isinstance(got, dict | list) and "got" not in message
    plain = plain and err["type"] != COMPANY_ZH_REQUIRED
    shown = f", got {_short(got)}" if plain else ""
    return CaseProblem(rel, f"{message}{shown}", yaml_line(tree, loc), name)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def yaml_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The file line of the YAML node at `loc`, found by walking the composed node tree."""
    if node is None:
        return None
    line = node.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            key, node = match[0]
            line = key.start_mark.line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + FRONT_LINE_OFFSET


def _parse_body(
    body: str, first_line: int, rel: str, problems: list[CaseProblem]
) -> tuple[dict[str, str], str, int]:
    sections: dict[str, list[str]] = {}
    heading_lines: list[tuple[str, int]] = []
    title = ""
    current: str | None = None
    for offset, line in enumerate(body.split("\n")):
        match = HEADING.match(line)
        if match and len(match[1]) == 1 and current is None and not title:
            title = match[2]
            continue
        if match and len(match[1]) == 2:
            current = match[2]
            heading_lines.append((current, first_line + offset))
            sections.setdefault(current, [])
            continue
        if current is not None:
            sections[current].append(line)
        elif line.strip() and not match:
            problems.append(
                CaseProblem(rel, "text before the first `##` section heading", first_line + offset)
            )
            break
    _check_headings(heading_lines, rel, problems, first_line)
    joined = {name: "\n".join(lines).strip() for name, lines in sections.items()}
    for name, line_no in heading_lines:
        if (name in SECTIONS or name == ZH_SECTION) and not joined.get(name):
            problems.append(CaseProblem(rel, f"section `## {name}` is empty", line_no))
    if joined.get(ZH_SECTION):
        line_no = dict(heading_lines)[ZH_SECTION]
        english = "\n".join(text for name, text in joined.items() if name != ZH_SECTION)
        _check_zh(sections[ZH_SECTION], english, line_no + 1, rel, problems)
    words = len(body.split()) - len(" ".join(sections.get(ZH_SECTION, [])).split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        problems.append(
            CaseProblem(rel, f"body has {words} words; expected {MIN_WORDS} to {MAX_WORDS}")
        )
    return joined, title, words


def _check_headings(
    found: list[tuple[str, int]], rel: str, problems: list[CaseProblem], first_line: int
) -> None:
    names = [name for name, _ in found]
    for name, line_no in found:
        if name == ZH_SECTION and name != names[-1]:
            problems.append(
                CaseProblem(rel, f"`## {ZH_SECTION}` must be the last section", line_no)
            )
        elif name == ZH_SECTION and names.count(name) > 1:
            problems.append(CaseProblem(rel, f"section `## {name}` appears twice", line_no))
        elif name == ZH_SECTION:
            continue
        elif name not in SECTIONS:
            problems.append(
                CaseProblem(
                    rel,
                    f"unknown section `## {name}`; expected one of {[*SECTIONS, ZH_SECTION]}",
                    line_no,
                )
            )
        elif names.count(name) > 1:
            problems.append(CaseProblem(rel, f"section `## {name}` appears twice", line_no))
    missing = [name for name in SECTIONS if name not in names]
    if missing:
        problems.append(
            CaseProblem(
                rel, f"missing section(s): {', '.join('## ' + m for m in missing)}", first_line
            )
        )
    known = [name for name in names if name in SECTIONS]
    if not missing and known != list(SECTIONS) and len(known) == len(SECTIONS):
        problems.append(
            CaseProblem(rel, f"sections out of order; expected {' / '.join(SECTIONS)}", first_line)
        )


def _check_zh(
    lines: list[str], english: str, first_line: int, rel: str, problems: list[CaseProblem]
) -> None:
    """The Chinese key points: labelled one-sentence items, in label order, within the counts,
    every figure stated by the English body (by value: 13.4万 for "134,000")."""
    order = list(ZH_LABELS)
    counts = dict.fromkeys(order, 0)
    last = 0
    for offset, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        line_no = first_line + offset
        match = ZH_ITEM.match(text)
        if not match or match[1] not in ZH_LABELS:
            problems.append(
                CaseProblem(
                    rel,
                    f"`## {ZH_SECTION}` item must be `- <{'|'.join(order)}>：<sentence>`",
                    line_no,
                )
            )
            continue
        label, item = match[1], match[2].strip()
        counts[label] += 1
        if order.index(label) < last:
            problems.append(
                CaseProblem(
                    rel, f"`{label}` item out of order; expected {' / '.join(order)}", line_no
                )
            )
        last = max(last, order.index(label))
        if not has_chinese(item) or item[-1:] not in "。！？":
            problems.append(
                CaseProblem(
                    rel, f"`{label}` item must be one Chinese sentence ending with 。", line_no
                )
            )
        if len(item) > ZH_ITEM_CHARS:
            problems.append(
                CaseProblem(
                    rel,
                    f"`{label}` item has {len(item)} characters; at most {ZH_ITEM_CHARS}",
                    line_no,
                )
            )
        missing = sorted(set(unsupported_figures(item, english)))
        if missing:
            problems.append(
                CaseProblem(
                    rel,
                    f"`{label}` item states {', '.join(missing)}, which the English text of "
                    "this case does not",
                    line_no,
                )
            )
    for label, (low, high) in ZH_COUNTS.items():
        if not low <= counts[label] <= high:
            problems.append(
                CaseProblem(
                    rel,
                    f"`## {ZH_SECTION}` has {counts[label]} `{label}` item(s); "
                    f"expected {low} to {high}",
                    first_line - 1,
                )
            )


def _check_placement(
    meta: CaseMeta, path: Path, cases_dir: Path, rel: str, problems: list[CaseProblem]
) -> None:
    if path.stem != meta.id:
        problems.append(
            CaseProblem(
                rel,
                f"must equal the file name; rename the file to {meta.id}.md or set id: {path.stem}",
                2,
                "id",
                "placement",
            )
        )
    try:
        folder = path.relative_to(cases_dir).parts[0]
    except ValueError:
        folder = path.parent.name
    if folder not in {m.value for m in Market}:
        problems.append(
            CaseProblem(
                rel, "case files live under cases/china/ or cases/overseas/", kind="placement"
            )
        )
    elif folder != meta.market.value:
        problems.append(
            CaseProblem(
                rel,
                f"is {meta.market.value} but the file is under {folder}/; "
                f"move it to {meta.market.value}/",
                None,
                "market",
                "placement",
            )
        )
