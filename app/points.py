"""The points of an answer: one short, schema-constrained generation per matched case.

Why one generation per case (measured on the 1.5B local model, see the README):
- a 1.5B model asked for free-form bullets over several cases lists names or copies summaries;
  asked about ONE case at a time, with a JSON schema that requires a `did` and a `result`
  field, it writes what that company did about the question;
- the citation of a point is ours, not the model's ([n] is the case it was asked about), so
  citations are valid by construction;
- the system prompt and the question come first, so llama.cpp reuses their cached prefix for
  every case of an answer;
- each field is checked sentence by sentence (`app.checks`) the moment it is complete, and only
  what passes is shown: a sentence with a figure that is not in the case, or naming a company
  that was not given, or repeating an earlier sentence, is dropped before the user sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.checks import (
    NAMES_ONLY_WORDS,
    Company,
    borrowed_words,
    content_words,
    foreign_companies,
    is_repeat,
    language_ok,
    sentences,
    unsupported_figures,
)
from app.prompts import label, render
from app.render import case_name
from ingest.schema import has_chinese

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.language_models import BaseChatModel

    from app.retrieval import CaseHit
    from ingest.state import CaseRecord

DELIMITERS = re.compile(r"<<<|>>>")
POINT_FIELDS = ("did", "result")
TRANSFER_FIELDS = ("borrow", "caveat")
FIELD_CHARS = {"did": 260, "result": 180, "borrow": 170, "caveat": 170}
TERMINAL = ".!?。！？"
BORROWED_WORDS = 2  # this many of the question's words absent from the case: a projection
CUT_SHARE = 0.9  # a field this close to its length limit without an ending was cut off
QUESTION_TOKENS = 160  # a longer question is clipped in the prompt (retrieval sees all of it)
EVIDENCE_TOKENS = 90  # per evidence excerpt inside a case's budget


def json_schema(fields: Sequence[str]) -> dict[str, Any]:
    """A JSON schema with the given required string fields, bounded in length."""
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "minLength": 8, "maxLength": FIELD_CHARS[name]}
            for name in fields
        },
        "required": list(fields),
        "additionalProperties": False,
    }


def response_format(name: str, fields: Sequence[str]) -> dict[str, Any]:
    """The OpenAI-style `response_format` that llama.cpp turns into a grammar."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": json_schema(fields), "strict": False},
    }


@dataclass(frozen=True)
class Correction:
    """Something the checks removed before the user saw it."""

    kind: str  # "figure", "company", "repeat", "language", "names-only"
    case_id: str | None
    text: str
    detail: str


@dataclass
class Point:
    n: int
    case_id: str
    company: str
    heading: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        body = " ".join(self.fields[name] for name in POINT_FIELDS if self.fields.get(name))
        return f"{self.heading} {body} [{self.n}]"


@dataclass(frozen=True)
class Shown:
    """A piece of checked text ready to append to the answer."""

    text: str


class Checker:
    """Applies the answer checks to each sentence, remembering what was said and removed."""

    def __init__(
        self,
        known: Sequence[Company],
        given: Sequence[CaseRecord],
        language: str,
        question: str = "",
    ):
        self.known = known
        self.question = question
        self.allowed = [Company(r.company, r.company_zh) for r in given]
        self.language = language
        self.said: list[str] = []
        self.corrections: list[Correction] = []

    def clean(
        self,
        text: str,
        source: str,
        case_id: str | None,
        limit: int = 0,
        truncated: bool = False,
        continues: bool = False,
    ) -> str:
        """The sentences of `text` that pass every check against `source`.

        Cut-offs are dropped rather than shown half-finished: a last sentence without an ending
        when the field ran into its length `limit` (or the reply was `truncated`), and, when
        the previous field was cut, a first sentence that only `continues` it in lower case.
        """
        kept = []
        parts = sentences(_flatten(text))
        if continues and parts and parts[0][:1].islower():
            self.corrections.append(Correction("cut-off", case_id, parts[0], "continuation"))
            parts = parts[1:]
        cut = truncated or (limit and len(text) >= CUT_SHARE * limit)
        if parts and parts[-1][-1] not in TERMINAL and (cut or len(parts) > 1):
            self.corrections.append(Correction("cut-off", case_id, parts[-1], "unfinished"))
            parts = parts[:-1]
        for sentence in parts:
            problem = self._problem(sentence, source)
            if problem:
                self.corrections.append(Correction(problem[0], case_id, sentence, problem[1]))
                continue
            kept.append(sentence)
            self.said.append(sentence)
        joined = _join(kept)
        if joined and not language_ok(joined, self.language):
            self.corrections.append(
                Correction("language", case_id, joined, f"not in {self.language}")
            )
            return ""
        return joined

    def _problem(self, sentence: str, source: str) -> tuple[str, str] | None:
        missing = unsupported_figures(sentence, source)
        if missing:
            return "figure", "not in the case: " + ", ".join(missing)
        foreign = foreign_companies(sentence, self.known, self.allowed)
        if foreign:
            return "company", "not among the cases given: " + ", ".join(foreign)
        if is_repeat(sentence, self.said):
            return "repeat", "says again what the answer already said"
        if self.language == "en":
            borrowed = borrowed_words(sentence, self.question, source)
            if len(borrowed) >= BORROWED_WORDS:
                return "projection", "question words the case never uses: " + ", ".join(borrowed)
        return None


def heading(n: int, record: CaseRecord, language: str) -> str:
    """`**[1] Meituan**`, or `**[1] 美团 (Meituan)**` for a Chinese answer."""
    return f"**[{n}] {case_name(record, language)}** —"


def case_text(record: CaseRecord) -> str:
    """Everything a case says (its period, summary and sections): what a figure in a point
    must be found in."""
    return "\n".join([record.years, record.summary, *record.sections.values()])


def case_excerpt(hit: CaseHit, encoding: tiktoken.Encoding, budget: int) -> str:
    """What the model reads about one case, within `budget` tokens: the evidence retrieval found
    for this question first, then what the company did and its results (figures first).

    The summary is left out on purpose: given it, a small model copies it.
    """
    r = hit.record
    lines = [f"Company: {r.company} ({r.market}, {r.sector}, {r.years}; outcome: {r.outcome})"]
    used = len(encoding.encode(lines[0]))
    seen = set()
    pieces = [(e.section, e.text) for e in hit.evidence if e.section != "Overview"]
    pieces += [(name, r.sections.get(name, "")) for name in ("What they did", "Results")]
    for section, text in pieces:
        if section in seen or not text.strip():
            continue
        seen.add(section)
        if section == "Results":
            text = _figures_first(text)
        room = budget - used
        if room < 24:
            break
        line = f"{section}: {_clip(_clean(text), encoding, min(EVIDENCE_TOKENS, room))}"
        lines.append(line)
        used += len(encoding.encode(line)) + 1
    return "\n".join(lines)


def transfer_notes(points: Sequence[Point], records: dict[str, CaseRecord], encoding: Any) -> str:
    notes = []
    for point in points:
        text = records[point.case_id].sections.get("What transfers", "")
        if text.strip():
            notes.append(f"- {_clip(_clean(text), encoding, 70)}")
    return "\n".join(notes)


def clip_question(question: str, encoding: tiktoken.Encoding) -> str:
    return _clip(" ".join(question.split()), encoding, QUESTION_TOKENS)


def stream_fields(
    chat_model: BaseChatModel,
    messages: list[Any],
    fields: Sequence[str],
    name: str,
    deadline: float,
) -> Iterator[tuple[str, str, bool]]:
    """Yield (field, text, truncated) as each field of the JSON reply completes (truncated:
    the reply stopped before the JSON closed, e.g. at the token limit); TimeoutError once
    `deadline` (a time.perf_counter() value) has passed, checked on every streamed chunk."""
    import time

    from langchain_core.utils.json import parse_partial_json

    bound = chat_model.bind(response_format=response_format(name, fields))
    done: set[str] = set()
    text = ""
    latest: dict[str, Any] = {}
    stream = bound.stream(messages)
    while True:
        try:
            chunk = next(stream)
        except StopIteration:
            break
        except _length_errors():
            break  # hit max_tokens under a JSON schema: what streamed is kept, marked truncated
        if time.perf_counter() > deadline:
            raise TimeoutError("no complete answer within the time allowed")
        text += str(chunk.content)
        partial = _partial(text, parse_partial_json)
        if not partial:
            continue
        latest = partial
        for index, key in enumerate(fields[:-1]):
            later_started = any(k in partial for k in fields[index + 1 :])
            if key in partial and key not in done and later_started:
                done.add(key)
                yield key, str(partial[key]), False
    truncated = not text.rstrip().endswith("}")
    for key in fields:
        if key not in done and isinstance(latest.get(key), str):
            yield key, str(latest[key]), truncated


def _length_errors() -> tuple[type[BaseException], ...]:
    """langchain-openai raises openai's LengthFinishReasonError at the end of a stream that
    stopped at max_tokens while a response_format schema was set."""
    try:
        from openai import LengthFinishReasonError
    except ImportError:
        return ()
    return (LengthFinishReasonError,)


def _partial(text: str, parse: Any) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = parse(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def point_messages(
    question: str, hit: CaseHit, encoding: tiktoken.Encoding, budget: int, language: str
) -> list[Any]:
    return render(
        "point",
        question=clip_question(question, encoding),
        case=case_excerpt(hit, encoding, budget),
        instruction=label(language, "point"),
    )


def generate_point(
    chat_model: BaseChatModel,
    n: int,
    hit: CaseHit,
    question: str,
    checker: Checker,
    encoding: tiktoken.Encoding,
    budget: int,
    deadline: float,
) -> Iterator[Shown | Point]:
    """Stream one case's point as checked pieces of Markdown, then the Point itself."""
    record = hit.record
    point = Point(n, record.case_id, record.company, heading(n, record, checker.language))
    source = case_text(record)
    messages = point_messages(question, hit, encoding, budget, checker.language)
    started = False
    previous_cut = False
    for key, raw, truncated in stream_fields(chat_model, messages, POINT_FIELDS, "point", deadline):
        limit = FIELD_CHARS[key]
        text = checker.clean(raw, source, record.case_id, limit, truncated, previous_cut)
        previous_cut = len(raw) >= CUT_SHARE * limit and raw.rstrip()[-1:] not in TERMINAL
        if not text:
            continue
        if not started and content_words(text, _names(record)) < NAMES_ONLY_WORDS:
            checker.corrections.append(
                Correction("names-only", record.case_id, text, "says nothing but names")
            )
            continue
        point.fields[key] = text
        yield Shown(("" if started else point.heading + " ") + text + " ")
        started = True
    if started:
        yield Shown(f"[{n}]\n\n")
    yield point


def generate_transfer(
    chat_model: BaseChatModel,
    points: Sequence[Point],
    records: dict[str, CaseRecord],
    question: str,
    checker: Checker,
    encoding: tiktoken.Encoding,
    deadline: float,
) -> Iterator[Shown]:
    """The closing line: what to borrow and what would not carry over, checked like a point."""
    notes = transfer_notes(points, records, encoding)
    if not notes:
        return
    messages = render(
        "transfer",
        question=clip_question(question, encoding),
        cases=notes,
        instruction=label(checker.language, "transfer"),
    )
    source = "\n".join(case_text(records[p.case_id]) for p in points)
    fields = stream_fields(chat_model, messages, TRANSFER_FIELDS, "transfer", deadline)
    for key, raw, truncated in fields:
        text = checker.clean(raw, source, None, FIELD_CHARS[key], truncated)
        if text:
            tag = "borrow_label" if key == "borrow" else "caveat_label"
            yield Shown(f"**{label(checker.language, tag)}** {text} ")


def language_of(text: str) -> str:
    return "zh" if has_chinese(text) else "en"


def _names(record: CaseRecord) -> list[str]:
    return [record.company, record.company_zh]


def _figures_first(text: str) -> str:
    parts = sentences(_flatten(text))
    return " ".join(sorted(parts, key=lambda s: not re.search(r"\d", s)))


def _flatten(text: str) -> str:
    return " ".join(text.replace("\n- ", " ").split()).lstrip("- ")


def _join(parts: Sequence[str]) -> str:
    out = ""
    for part in parts:
        out += part if not out or has_chinese(out[-1]) else " " + part
    return out.strip()


def _clean(text: str) -> str:
    """Case text is data: collapse whitespace and remove anything that looks like our fences."""
    return DELIMITERS.sub(" ", " ".join(text.split()))


def _clip(text: str, encoding: tiktoken.Encoding, limit: int) -> str:
    tokens = encoding.encode(text)
    return text if len(tokens) <= limit else encoding.decode(tokens[:limit]) + "..."
