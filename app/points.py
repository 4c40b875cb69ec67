"""The points of an answer, one per matched case: quoted from the case (`quoted_point`, the
default for English and for Chinese over cases with key points, see `app.chain._quoted`) or
one short, schema-constrained generation (`generate_point`, ELSEWHERE_LLM_POINTS=model).

Why one generation per case when the model writes (measured on the 1.5B local model, README):
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
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.checks import (
    NAMES_ONLY_WORDS,
    Company,
    borrowed_words,
    content_words,
    echoed_question,
    foreign_companies,
    is_repeat,
    language_ok,
    sentences,
    starts_like,
    unsupported_figures,
)
from app.extract import (
    CONTEXT_WEIGHT,
    SentencePicker,
    did_candidates,
    has_zh,
    lesson_candidates,
    lever_context,
    opens_lesson,
    result_bonus,
    result_candidates,
    standalone_first,
)
from app.mechanisms import definitions
from app.prompts import label, render
from app.render import case_name
from ingest.schema import has_chinese

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.language_models import BaseChatModel

    from app.judge import MoveJudge
    from app.retrieval import CaseHit
    from ingest.state import CaseRecord

DELIMITERS = re.compile(r"<<<|>>>")
POINT_FIELDS = ("did", "result")
TRANSFER_FIELDS = ("borrow", "caveat")
FIELD_CHARS = {"did": 170, "result": 180, "borrow": 170, "caveat": 170}
ZH_SHARE = 0.45  # a Chinese character carries about two English letters' worth
TERMINAL = ".!?。！？"
# Where a sentence still being written may be shown up to: English after each complete word
# (the last one may still be growing), Chinese (no spaces) after each clause.
CLAUSE_END = re.compile(r"[，；：]")
WORD_END = re.compile(r"\S(?=\s)")
BORROWED_WORDS = 2  # this many of the question's words absent from the case: a projection
# The first clause of a point may show with this many content words (the whole sentence still
# needs NAMES_ONLY_WORDS, or it ends in "…" and is recorded): first text ~1-2 s sooner.
FIRST_CLAUSE_WORDS = 5
CUT_SHARE = 0.9  # a field this close to its length limit without an ending was cut off
QUESTION_TOKENS = 160  # a longer question is clipped in the prompt (retrieval sees all of it)
EVIDENCE_TOKENS = 70  # per evidence excerpt inside a case's budget
LESSON_CASES = 2  # the closing line quotes the answer's best cases first
# Not given to the point model: the summary-like overview (copied), the results (quoted by us),
# the lessons (the closing line's).
SKIPPED = frozenset({"Overview", "Results", "What transfers"})


def field_chars(name: str, language: str) -> int:
    """The length limit of a field, in characters of the asker's language."""
    return FIELD_CHARS[name] if language == "en" else int(FIELD_CHARS[name] * ZH_SHARE)


def json_schema(fields: Sequence[str], language: str = "en") -> dict[str, Any]:
    """A JSON schema with the given required string fields, bounded in length."""
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "minLength": 8, "maxLength": field_chars(name, language)}
            for name in fields
        },
        "required": list(fields),
        "additionalProperties": False,
    }


def response_format(name: str, fields: Sequence[str], language: str = "en") -> dict[str, Any]:
    """The OpenAI-style `response_format` that llama.cpp turns into a grammar."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": json_schema(fields, language), "strict": False},
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
    quoted: bool = False  # written from the case's own sentences, not by the model

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
        names = [r.company for r in given]
        self.twins = {name for name in names if names.count(name) > 1}  # see heading()
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

    def passes(self, sentence: str, source: str, language: bool = True) -> bool:
        """Whether `sentence` would be shown (nothing is recorded); `language=False` for a
        sentence that will be restated in the asker's language."""
        return self.problem(sentence, source, language) is None

    def problem(
        self, text: str, source: str, language: bool = True, start: bool = False
    ) -> tuple[str, str] | None:
        """(kind, detail) of the first check `text` fails, language included; None if none.
        `start`: `text` is the start of a sentence still being written, which must not begin
        like something already said either."""
        found = self._problem(text, source)
        if found is None and start and starts_like(text, self.said):
            return "repeat", "begins like what the answer already said"
        if found is None and language and not language_ok(text, self.language):
            return "language", f"not in {self.language}"
        return found

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
        else:
            echo = echoed_question(sentence, self.question, source)
            if echo:
                return "projection", f"repeats the question's words: {echo}"
        return None


def heading(n: int, record: CaseRecord, language: str, twins: Collection[str] = ()) -> str:
    """`**[1] Meituan**`, or `**[1] 美团 (Meituan)**` for a Chinese answer. A company with two
    cases in one answer (`twins`) is told apart by its case's title ("Didi: winning a two-sided
    subsidy war..." -> `**[2] Didi (winning a two-sided subsidy war...)**`), or in Chinese by the
    case's years."""
    name = case_name(record, language)
    if record.company in twins:
        subtitle = record.title.partition(":")[2].strip()
        name += f" ({subtitle if language == 'en' and subtitle else record.years})"
    return f"**[{n}] {name}** —"


def case_text(record: CaseRecord) -> str:
    """Everything a case says (its period, summary and sections): what a figure in a point
    must be found in."""
    return "\n".join([record.years, record.summary, *record.sections.values()])


def case_excerpt(
    hit: CaseHit,
    encoding: tiktoken.Encoding,
    budget: int,
    result: str | None = None,
    language: str = "en",
) -> str:
    """What the model reads about one case, within `budget` tokens: the evidence retrieval found
    for this question first, then what the company did; with `result`, that sentence last (for
    the model to restate in the asker's language).

    The summary is left out on purpose: given it, a small model copies it. So are the period and
    the outcome: given a header of facts, a small model recites it as its answer. For a Chinese
    answer over a case with Chinese key points, the model reads those moves (做法) instead: given
    English, the small model writes code-mixed Chinese.
    """
    r = hit.record
    if language != "en" and has_zh(r):
        moves = " ".join(did_candidates(r, language))
        line = f"Company: {case_name(r, language)} ({r.sector})"
        return f"{line}\n做法: {_clip(_clean(moves), encoding, 2 * budget)}"
    lines = [f"Company: {r.company} ({r.sector})"]
    tail = f"Result: {_clean(result)}" if result else ""
    used = len(encoding.encode(lines[0])) + len(encoding.encode(tail))
    seen = set()
    pieces = [(e.section, e.text) for e in hit.evidence if e.section not in SKIPPED]
    pieces += [("What they did", r.sections.get("What they did", ""))]
    for section, text in pieces:
        if section in seen or not text.strip():
            continue
        seen.add(section)
        room = budget - used
        if room < 24:
            break
        line = f"{section}: {_clip(_clean(text), encoding, min(EVIDENCE_TOKENS, room))}"
        lines.append(line)
        used += len(encoding.encode(line)) + 1
    if tail:
        lines.append(tail)
    return "\n".join(lines)


def clip_question(question: str, encoding: tiktoken.Encoding) -> str:
    return _clip(" ".join(question.split()), encoding, QUESTION_TOKENS)


def stream_fields(
    chat_model: BaseChatModel,
    messages: list[Any],
    fields: Sequence[str],
    name: str,
    deadline: float,
    language: str = "en",
) -> Iterator[FieldText]:
    """Yield each field's text as it grows (`done` once the next field has started or the reply
    ended; `truncated` when the reply stopped before the JSON closed, e.g. at the token limit);
    TimeoutError once `deadline` (a time.perf_counter() value) has passed, checked on every
    streamed chunk."""
    import time

    from langchain_core.utils.json import parse_partial_json

    bound = chat_model.bind(response_format=response_format(name, fields, language))
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
        for index, key in enumerate(fields):
            if key in done or not isinstance(partial.get(key), str):
                continue
            finished = any(k in partial for k in fields[index + 1 :])
            if finished:
                done.add(key)
            yield FieldText(key, str(partial[key]), finished, False)
    truncated = not text.rstrip().endswith("}")
    for key in fields:
        if key not in done and isinstance(latest.get(key), str):
            yield FieldText(key, str(latest[key]), True, truncated)


@dataclass(frozen=True)
class FieldText:
    """One field of a streamed JSON reply, as far as it has arrived."""

    key: str
    text: str
    done: bool
    truncated: bool


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
    question: str,
    hit: CaseHit,
    encoding: tiktoken.Encoding,
    budget: int,
    language: str,
    result: str | None = None,
) -> list[Any]:
    return render(
        "point",
        question=clip_question(question, encoding),
        case=case_excerpt(
            hit, encoding, budget, result if restates(hit.record, language) else None, language
        ),
        instruction=label(language, "point"),
    )


def restates(record: CaseRecord, language: str) -> bool:
    """Whether the model must restate the case's result in the asker's language: only for a
    Chinese answer over a case without Chinese key points (otherwise the result is quoted)."""
    return language != "en" and not has_zh(record)


def point_fields(restate: bool) -> tuple[str, ...]:
    """The model writes `did`; the result is quoted from the case, unless the model must
    restate it (`restate`: a Chinese answer over a case without Chinese key points)."""
    return POINT_FIELDS if restate else ("did",)


class SentenceFeed:
    """Turns a point's growing JSON fields into checked text, shown word by word.

    A field's first sentence, while still being written, is shown up to its last complete
    word (Chinese: clause) once that much of it passes every check (later sentences show
    when whole); the rest follows when the sentence ends and passes again as a whole. If the
    whole fails (a figure in its last clause that the case does
    not have, say), what was shown stays, ended with an ellipsis, and the sentence is recorded
    as a correction: nothing unchecked is ever shown. The first text of a point waits until it
    has NAMES_ONLY_WORDS content words, so a point cannot be a bare name.
    """

    def __init__(self, checker: Checker, source: str, record: CaseRecord):
        self.checker = checker
        self.source = source
        self.case_id = record.case_id
        self.names = _names(record)
        self.seen: dict[str, int] = {}  # field -> its sentences already finished
        self.prefix = ""  # the shown part of the sentence in progress
        self.started = False  # anything of this point shown yet
        self.finished = 0  # sentences of this point shown whole
        self.cut = False  # the previous field ended cut off

    def feed(self, part: FieldText) -> str:
        """The text to append now for this update of `part`."""
        parts = sentences(_flatten(part.text))
        complete = parts if part.done else parts[:-1]
        start = self.seen.get(part.key, 0)
        out = []
        for index in range(start, len(complete)):
            last = part.done and index == len(parts) - 1
            out.append(self._finish(complete[index], index, last, part))
        self.seen[part.key] = max(start, len(complete))
        if not part.done and len(parts) > len(complete):
            out.append(self._grow(parts[-1], len(complete)))
        if part.done:
            limit = field_chars(part.key, self.checker.language)
            raw = part.text.rstrip()
            self.cut = len(raw) >= CUT_SHARE * limit and raw[-1:] not in TERMINAL
        return "".join(out)

    def _finish(self, sentence: str, index: int, last: bool, part: FieldText) -> str:
        checker = self.checker
        limit = field_chars(part.key, checker.language)
        if index == 0 and self.cut and sentence[:1].islower() and not self.prefix:
            return self._drop("cut-off", sentence, "continuation")
        unfinished = sentence[-1] not in TERMINAL
        cut = part.truncated or len(part.text) >= CUT_SHARE * limit or index > 0
        if last and unfinished and cut:
            return self._drop("cut-off", sentence, "unfinished")
        problem = self.checker.problem(sentence, self.source)
        if problem:
            return self._drop(*problem, sentence)
        if not self.finished and content_words(sentence, self.names) < NAMES_ONLY_WORDS:
            return self._drop("names-only", sentence, "says nothing but names")
        checker.said.append(sentence)
        self.finished += 1
        shown, self.prefix = self.prefix, ""
        rest = sentence[len(shown) :] if sentence.startswith(shown) else ""
        self.started = True
        return rest + ("" if has_chinese(sentence[-1]) else " ")

    def _grow(self, current: str, index: int) -> str:
        if index > 0:
            # Only a field's first sentence streams: a later one is where the length limit cuts
            # the model off ("They bundled payment processing with…"), so it shows when whole.
            return ""
        breaks = CLAUSE_END if has_chinese(current) else WORD_END
        ends = [m.end() for m in breaks.finditer(current)]
        if not ends or ends[-1] <= len(self.prefix):
            return ""
        candidate = current[: ends[-1]].rstrip()
        if index == 0 and self.cut and candidate[:1].islower():
            return ""
        if self.checker.problem(candidate, self.source, start=True):
            return ""  # wait for the whole sentence: its final check decides
        if not self.started and content_words(candidate, self.names) < FIRST_CLAUSE_WORDS:
            return ""
        delta = candidate[len(self.prefix) :]
        self.prefix = candidate
        self.started = True
        return delta

    def _drop(self, kind: str, detail: str, sentence: str) -> str:
        self.checker.corrections.append(Correction(kind, self.case_id, sentence, detail))
        if not self.prefix:
            return ""
        self.prefix = ""
        return "… "  # the shown clauses passed; the sentence's end did not


def generate_point(
    chat_model: BaseChatModel,
    n: int,
    hit: CaseHit,
    question: str,
    checker: Checker,
    encoding: tiktoken.Encoding,
    budget: int,
    deadline: float,
    picker: SentencePicker,
    result: str | None = None,
) -> Iterator[Shown | Point]:
    """Stream one case's point as checked pieces of Markdown, then the Point itself.

    The result is quoted after the model's sentence, picked once that sentence is known, for
    the question and the sentence together: the result of the move the point describes, not
    whichever Results sentence is nearest the question alone. For a Chinese answer over a case
    without Chinese key points, `result` (picked for the question) is given to the model to
    restate instead; without one, the point is the model's sentence only."""
    record = hit.record
    language = checker.language
    point = Point(n, record.case_id, record.company, heading(n, record, language, checker.twins))
    feed = SentenceFeed(checker, case_text(record), record)
    restate = restates(record, language)
    messages = point_messages(question, hit, encoding, budget, language, result)
    fields = point_fields(restate and result is not None)
    for part in stream_fields(chat_model, messages, fields, "point", deadline, language):
        text = feed.feed(part)
        if not text:
            continue
        yield Shown(("" if point.fields else point.heading + " ") + text)
        point.fields[part.key] = point.fields.get(part.key, "") + text
    point.fields = {k: v.strip() for k, v in point.fields.items() if v.strip(" …")}
    quote = None
    if point.fields.get("did") and not restate:
        quote = pick_result(record, f"{question} {point.fields['did']}", picker, language)
    if quote:
        quoted = checker.clean(quote, feed.source, record.case_id)
        if quoted:
            point.fields["result"] = quoted
            yield Shown(quoted + " ")
    if point.fields:
        yield Shown(f"[{n}]\n\n")
    yield point


def quoted_point(
    n: int,
    hit: CaseHit,
    question: str,
    checker: Checker,
    picker: SentencePicker,
    judge: MoveJudge | None = None,
    deadline: float | None = None,
) -> Iterator[Shown | Point]:
    """A point written from the case's own sentences: its What they did sentence and its
    Results sentence that best fit the question, each checked like model text. The move is
    ranked by the sentence encoders and, with a `judge`, its best few reordered by the model's
    judgement (until `deadline`); the text shown is always the case's own."""
    record = hit.record
    language = checker.language
    name = heading(n, record, language, checker.twins)
    point = Point(n, record.case_id, record.company, name, quoted=True)
    source = case_text(record)
    # The move that fits the question *and* the mechanism it matched on (when this case uses
    # one the question describes): "we sell the device at cost" picks the sentence on the
    # hardware margin, not the one that shares the question's words about devices.
    context = [(definitions(hit.mechanisms, language), CONTEXT_WEIGHT)]
    context.append(lever_context(record, question))
    ranked = standalone_first(
        picker.best(question, did_candidates(record, language), context=context)
    )
    ranked = [s for s in ranked if checker.passes(s, source)]
    if judge is not None:
        ranked = judge.rerank(question, record.company, ranked, deadline)
    did = ranked[0] if ranked else None
    if did:
        point.fields["did"] = checker.clean(did, source, record.case_id)
    if point.fields.get("did"):
        ranked = ranked_results(record, f"{question} {point.fields['did']}", picker, language)
        result = first_passing([s for s in ranked if s != did], checker, source)
        if result:
            point.fields["result"] = checker.clean(result, source, record.case_id)
    point.fields = {k: v for k, v in point.fields.items() if v}
    if "did" in point.fields:
        yield Shown(f"{point.heading} {_join(list(point.fields.values()))} [{n}]\n\n")
    else:
        point.fields = {}
    yield point


def first_passing(ranked: Sequence[str], checker: Checker, source: str) -> str | None:
    """The first of `ranked` that would be shown (passes every check against `source`)."""
    return next((sentence for sentence in ranked if checker.passes(sentence, source)), None)


def pick_result(
    record: CaseRecord, question: str, picker: SentencePicker, language: str = "en"
) -> str | None:
    """The case's Results sentence that best answers the question (figures and years
    preferred), from its Chinese key points for a Chinese answer where it has them."""
    ranked = ranked_results(record, question, picker, language)
    return ranked[0] if ranked else None


def ranked_results(
    record: CaseRecord, query: str, picker: SentencePicker, language: str = "en"
) -> list[str]:
    candidates = result_candidates(record, language)
    context = [lever_context(record, query)]
    return standalone_first(picker.best(query, candidates, result_bonus(candidates), context))


def closing_line(
    points: Sequence[Point],
    records: dict[str, CaseRecord],
    question: str,
    checker: Checker,
    picker: SentencePicker,
) -> tuple[str, str] | None:
    """(borrow, caveat): the What transfers sentences that best fit the question, each passing
    the same checks as a point; None when either is missing. Taken from the answer's
    LESSON_CASES best cases first (a lower case's lesson that merely shares words with the
    question read as the answer's conclusion: a review's hotel-commission question closed on
    Bolt's low-commission lessons), from all its cases only when those have none."""
    for chosen in (points[:LESSON_CASES], points):
        cases = [records[p.case_id] for p in chosen]
        picked = _lessons(cases, question, checker, picker)
        if picked is not None:
            return picked
    return None


def _lessons(
    cases: Sequence[CaseRecord], question: str, checker: Checker, picker: SentencePicker
) -> tuple[str, str] | None:
    source = "\n".join(case_text(r) for r in cases)
    chosen = []
    quoted = quotes_lessons(cases, checker.language)
    for candidates in lesson_candidates(cases, checker.language):
        # A lesson that leans on the sentence before it ("That is why they work fast") or
        # contrasts with it ("But Uber's 2017 loss ...") says nothing alone: never the closing
        # line (a point's move may still fall back to one).
        for sentence in picker.best(question, [c for c in candidates if opens_lesson(c)]):
            if checker.passes(sentence, source, language=quoted):
                chosen.append(sentence)
                break
    return (chosen[0], chosen[1]) if len(chosen) == 2 else None


def generate_transfer(
    chat_model: BaseChatModel,
    points: Sequence[Point],
    records: dict[str, CaseRecord],
    question: str,
    checker: Checker,
    encoding: tiktoken.Encoding,
    deadline: float,
    picker: SentencePicker,
) -> Iterator[Shown]:
    """The closing line: what to borrow and what would not carry over, picked from the cases'
    What transfers (English) or restated from the picked sentences by the model (other
    languages), checked like a point."""
    picked = closing_line(points, records, question, checker, picker)
    if picked is None:
        return
    labels = {"borrow": "borrow_label", "caveat": "caveat_label"}
    source = "\n".join(case_text(records[p.case_id]) for p in points)
    if quotes_lessons([records[p.case_id] for p in points], checker.language):
        for key, text in zip(TRANSFER_FIELDS, picked, strict=True):
            kept = checker.clean(text, source, None)
            if kept:
                yield Shown(f"**{label(checker.language, labels[key])}** {kept} ")
        return
    messages = render(
        "transfer",
        question=clip_question(question, encoding),
        cases=f"- borrow: {picked[0]}\n- caveat: {picked[1]}",
        instruction=label(checker.language, "transfer"),
    )
    for part in stream_fields(
        chat_model, messages, TRANSFER_FIELDS, "transfer", deadline, checker.language
    ):
        if not part.done:
            continue
        text = checker.clean(
            part.text, source, None, field_chars(part.key, checker.language), part.truncated
        )
        if text:
            yield Shown(f"**{label(checker.language, labels[part.key])}** {text} ")


def quotes_lessons(cases: Sequence[CaseRecord], language: str) -> bool:
    """Whether the closing line is quoted from the cases in the asker's language (English, or
    Chinese key points in every case) rather than restated by the model."""
    return language == "en" or all(has_zh(r) for r in cases)


def language_of(text: str) -> str:
    return "zh" if has_chinese(text) else "en"


def _names(record: CaseRecord) -> list[str]:
    return [record.company, record.company_zh]


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
