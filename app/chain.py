"""Answers: condense -> retrieve -> brief -> one checked point per case -> closing line.

    question -> standalone question (model, or a heuristic) -> retrieval (market filter first)
             -> Brief event (the matched cases, no model needed)
             -> weak match? say so and list the closest cases, no generation
             -> for each of the best cases: a JSON-constrained point (app/points.py), each
                sentence checked against the case before it is shown
             -> what to borrow / what would not carry over (same checks)
             -> Done event with the whole answer, its points, citations and corrections

The model is never trusted with the promises the user relies on: the market filter is applied
before it sees anything; [n] is attached by us to the case the point was generated from; a
sentence with a figure not found in its case, a company that was not given, or a repeat is
dropped (recorded as a Correction, never shown); if the model fails to load, times out or dies
mid-answer, the user keeps what was checked so far plus the brief and a one-line notice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.checks import Company, foreign_companies, sentences
from app.extract import SentencePicker, has_zh, zh_sentences
from app.industries import industry_label
from app.judge import MIN_CANDIDATES, MoveJudge
from app.points import (
    Checker,
    Correction,
    Point,
    Shown,
    generate_point,
    generate_transfer,
    language_of,
    pick_result,
    point_messages,
    quoted_point,
    restates,
)
from app.prompts import label, load_prompt, render
from app.question import clean_question
from app.render import brief_markdown, case_name
from app.retrieval import CaseHit, MarketChoice, Retriever, SearchResult
from ingest.schema import Market, has_chinese

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.language_models import BaseChatModel

    from app.llm import Provider
    from app.settings import PointsWriter
    from ingest.state import CaseRecord

CITATION = re.compile(r"\[(\d+(?:\s*[,，]\s*\d+)*)\]")
FOLLOW_UP = re.compile(r"^(and|what about|how about|also|same)\b", re.IGNORECASE)
FOLLOW_UP_ZH = re.compile(r"^(那么|那|还有|如果|换成|同样)")
Turn = tuple[str, str]  # (user question, assistant answer)
MIN_POINTS = 3  # an answer covers this many cases when retrieval found them close enough
# Past the best case, one of the first MIN_POINTS needs this share of the best case's fused score:
# an answer that pads itself to three points dresses up an unrelated case ("edtech that blew up
# pushing sales teams" -> Slack; "franchisees fund the shops" -> Tesla). Measured on the gold
# questions at positions 2-3 (session 8): below 0.6, 2 of 22 tune cases and 0 of 10 holdout cases
# were relevant, and none of them a grade-2 answer. A case below 0.6 that uses a mechanism the
# question describes used to be let in too; measured again on the gold questions (session 11,
# positions 2-3 below 0.6 with a matched mechanism) those were relevant 1 time in 7 (one grade 1),
# and in reading they were the off-topic points: Bolt's and Shopee's low commissions for a hotel
# platform whose commissions fall (matched on "two-sided marketplace"), DoorDash's DashPass for
# restaurants adopting a payments terminal ("subscription"). The mechanism still ranks cases in
# retrieval, where it earns its place (README, Mechanisms); it no longer admits a point alone.
RELEVANT_SHARE = 0.6
# Beyond MIN_POINTS a case needs this share of the best case's fused score. On the tune split
# a 4th case at >= 0.75 was relevant 3 times in 13 (below it, 10 in 69): rarely worth a point.
POINT_FLOOR = 0.75
WEAK_LIST = 3  # cases listed as "closest, not a direct answer"


@dataclass
class Citation:
    n: int
    case_id: str
    company: str


@dataclass
class AnswerTimings:
    """Milliseconds from the question to each stage; None for a stage not reached."""

    retrieval_ms: float  # kept for scripts written before brief_ms; the same time
    brief_ms: float
    first_token_ms: float | None = None
    total_ms: float | None = None


@dataclass
class Answer:
    question: str
    standalone_question: str
    market_filter: str | None
    answer_markdown: str
    citations: list[Citation]
    invalid_citations: list[int]
    cases: list[dict[str, Any]]
    timings: AnswerTimings
    provider: str
    model: str | None
    notice: str | None = None
    warnings: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    language: str = "en"
    weak: bool = False
    points: list[Point] = field(default_factory=list)
    transfer: str = ""
    corrections: list[Correction] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["points"] = [{**asdict(p), "text": p.text} for p in self.points]
        return data


@dataclass
class Brief:
    """Emitted as soon as retrieval ends: the matched cases, no model needed."""

    result: SearchResult
    standalone_question: str


@dataclass
class Token:
    """Checked answer text, in order; appending every Token gives the answer so far."""

    text: str


@dataclass
class Done:
    answer: Answer


Event = Brief | Token | Done


def answer_cases(
    hits: Sequence[CaseHit], most: int, share: float = RELEVANT_SHARE
) -> list[CaseHit]:
    """The cases that get a point: the best one; of the next MIN_POINTS - 1, those within
    `share` (RELEVANT_SHARE) of it; beyond them, others within POINT_FLOOR of it."""
    if not hits:
        return []
    top = hits[0].score
    chosen = list(hits[:1])
    for index, hit in enumerate(hits[1:most], start=1):
        floor = share if index < MIN_POINTS else POINT_FLOOR
        if hit.score >= floor * top:
            chosen.append(hit)
    return chosen[:most]


def weak_markdown(result: SearchResult, language: str, known: Sequence[Company] = ()) -> str:
    """The honest answer when nothing in the library answers the question: the closest cases,
    each with one sentence of its own that names no other company of the library (`known`),
    the same rule a point's sentences pass."""
    if not result.hits:
        return label(language, "no_cases")
    if result.uncovered:
        sep = "、" if language == "zh" else ", "
        named = sep.join(industry_label(i, language) for i in result.uncovered)
        intro = label(language, "weak_industry").replace("{industries}", named)
    else:
        intro = label(language, "weak_intro")
    listed = result.hits[:WEAK_LIST]
    allowed = [Company(hit.record.company, hit.record.company_zh) for hit in listed]
    lines = [intro, ""]
    for n, hit in enumerate(listed, start=1):
        r = hit.record
        line = f"- [{n}] **{case_name(r, language)}** · {r.sector} · {r.outcome}"
        about = next(
            (s for s in case_gists(r, language) if not foreign_companies(s, known, allowed)), ""
        )
        lines.append(f"{line}: {about}" if about else line)
    return "\n".join(lines)


def fewer_line(shown: int, language: str) -> str:
    """Said when fewer cases than MIN_POINTS were close enough for a point: the brief above
    still lists the others, and this line says they are not a direct answer."""
    text = label(language, "fewer_one") if shown == 1 else label(language, "fewer")
    return text.replace("{n}", str(shown)) + "\n\n"


def case_gists(record: CaseRecord, language: str) -> list[str]:
    """What a case is about, in the analysts' sentences, best first: its summary's sentences,
    or for a Chinese answer its Chinese "did" key points (none without them)."""
    if language != "en":
        return zh_sentences(record, "did") if has_zh(record) else []
    return sentences(" ".join(record.summary.split()))


def heuristic_condense(question: str, history: Sequence[Turn]) -> str:
    """Without a model: a short or "and ..." follow-up inherits the previous question's topic."""
    if not history:
        return question
    previous = history[-1][0]
    if (
        FOLLOW_UP.search(question.strip())
        or FOLLOW_UP_ZH.search(question.strip())
        or len(question.split()) <= 5
        and not has_chinese(question)
    ):
        return f"{previous} {question}"
    if has_chinese(question) and len(question) <= 12:
        return f"{previous} {question}"
    return question


class AnswerEngine:
    """One engine per process: holds the retriever and (optionally) a chat model."""

    def __init__(
        self,
        retriever: Retriever,
        chat_model: BaseChatModel | None,
        encoding: tiktoken.Encoding,
        provider: Provider,
        case_tokens: int = 120,
        k: int = 8,
        answer_cases: int = 4,
        timeout: float = 90.0,
        load_notice: str | None = None,
        budget: float | None = None,
        points: PointsWriter = "quoted",
        relevant_share: float = RELEVANT_SHARE,
        judge_moves: int = 0,
    ):
        self.retriever = retriever
        self.chat_model = chat_model
        self.encoding = encoding
        self.provider = provider
        self.case_tokens = case_tokens
        self.k = k
        self.answer_cases = answer_cases
        self.timeout = timeout
        self.load_notice = load_notice
        self.budget = budget  # seconds for model-written points; later ones are quoted
        self.points = points  # "quoted" or "model": who writes an English point's move (_quoted)
        self.relevant_share = relevant_share  # see answer_cases
        # the model reorders each quoted point's best `judge_moves` moves (app/judge.py)
        self.judge = (
            MoveJudge(chat_model, judge_moves)
            if chat_model is not None and judge_moves >= MIN_CANDIDATES
            else None
        )
        matcher = retriever.matcher
        self.picker = SentencePicker(
            matcher.embeddings if matcher is not None else None, retriever.encoder("minilm")
        )

    def warm(self) -> None:
        """See `warm_prompt_cache`."""
        if self.chat_model is not None:
            warm_prompt_cache(self.chat_model)

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        if not history:
            return question
        fallback = heuristic_condense(question, history)
        if self.chat_model is None:
            return fallback
        from langchain_core.output_parsers import StrOutputParser

        from app.points import clip_question

        transcript = "\n".join(
            f"User: {q}\nAssistant: {clip_question(a, self.encoding)[:300]}"
            for q, a in history[-3:]
        )
        chain = load_prompt("condense") | self.chat_model | StrOutputParser()
        try:
            text = chain.invoke({"history": transcript, "question": question}).strip()
        except Exception:  # noqa: BLE001 - any provider failure falls back to the heuristic
            return fallback
        text = text.splitlines()[0].strip().strip('"') if text else ""
        return text if 3 <= len(text) <= 400 else fallback

    def stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        market: MarketChoice = None,
        asker: Market | None = None,
    ) -> Iterator[Event]:
        started = time.perf_counter()
        question = clean_question(question).text
        standalone = self.condense(question, history)
        result = self.retriever.search(standalone, k=self.k, market=market, asker=asker)
        answer = Answer(
            question=question,
            standalone_question=standalone,
            market_filter=result.market_filter,
            answer_markdown="",
            citations=[],
            invalid_citations=[],
            cases=[hit.as_json() for hit in result.hits],
            timings=AnswerTimings(_ms(started), _ms(started)),
            provider=self.provider.provider,
            model=self.provider.model,
            language=language_of(question),
            weak=result.weak or not result.hits,
        )
        yield Brief(result, standalone)
        if answer.weak:
            answer.answer_markdown = weak_markdown(result, answer.language, self._known())
            yield Token(answer.answer_markdown)
            answer.timings.total_ms = _ms(started)
            yield Done(answer)
            return
        if self.chat_model is None:
            answer.answer_markdown = brief_markdown(result)
            answer.notice = self.load_notice
            answer.timings.total_ms = _ms(started)
            yield Done(answer)
            return
        shown: list[str] = []
        for piece in self._generate(answer, result, standalone, started):
            if answer.timings.first_token_ms is None:
                answer.timings.first_token_ms = _ms(started)
            shown.append(piece)
            yield Token(piece)
        answer.answer_markdown = _compose("".join(shown), result, answer.notice)
        answer.timings.total_ms = _ms(started)
        yield Done(answer)

    def _generate(
        self, answer: Answer, result: SearchResult, question: str, started: float
    ) -> Iterator[str]:
        """Checked pieces of the answer; fills answer.points/citations/corrections as it goes."""
        assert self.chat_model is not None
        given = answer_cases(result.hits, self.answer_cases, self.relevant_share)
        records = self.retriever.records
        checker = Checker(self._known(), [hit.record for hit in given], answer.language, question)
        answer.corrections = checker.corrections
        deadline = started + self.timeout
        spent: list[float] = []  # seconds per generated point
        # the judge stops at the answer's time budget (encoder order after it)
        judge_until = None if self.budget is None else started + self.budget
        judged = self.judge.prompt_tokens if self.judge is not None else 0
        try:
            for n, hit in enumerate(given, start=1):
                point_started = time.perf_counter()
                over = self._over_budget(started, spent)
                if _quoted(hit.record, answer.language, over or self.points == "quoted"):
                    items = quoted_point(
                        n, hit, question, checker, self.picker, self.judge, judge_until
                    )
                else:
                    # a Chinese point over a case without Chinese key points: the model
                    # restates the result picked here, or, past the budget, has none
                    picked = (
                        pick_result(hit.record, question, self.picker, answer.language)
                        if restates(hit.record, answer.language) and not over
                        else None
                    )
                    answer.prompt_tokens += self._tokens(question, hit, answer.language, picked)
                    items = generate_point(
                        self.chat_model,
                        n,
                        hit,
                        question,
                        checker,
                        self.encoding,
                        self.case_tokens,
                        deadline,
                        self.picker,
                        picked,
                    )
                for item in items:
                    if isinstance(item, Shown):
                        yield item.text
                    elif item.fields:
                        answer.points.append(item)
                        answer.citations.append(Citation(n, item.case_id, item.company))
                    if isinstance(item, Point) and not item.quoted:
                        spent.append(time.perf_counter() - point_started)
            if answer.points and len(given) < min(MIN_POINTS, len(result.hits)):
                yield fewer_line(len(answer.points), answer.language)
            closing = []
            for item in generate_transfer(
                self.chat_model,
                answer.points,
                records,
                question,
                checker,
                self.encoding,
                deadline,
                self.picker,
            ):
                closing.append(item.text)
                yield item.text
            answer.transfer = "".join(closing).strip()
            if self.judge is not None:
                answer.prompt_tokens += self.judge.prompt_tokens - judged
        except TimeoutError:
            stopped = TimeoutError(f"no complete answer within {self.timeout:g} s")
            answer.notice = failure_notice(stopped, bool(answer.points))
        except Exception as exc:  # noqa: BLE001 - degrade to what was checked, never a traceback
            answer.notice = failure_notice(exc, bool(answer.points))

    def _known(self) -> list[Company]:
        """Every company of the library: what the answer checks may name only if given."""
        return [Company(r.company, r.company_zh) for r in self.retriever.records.values()]

    def _over_budget(self, started: float, spent: Sequence[float]) -> bool:
        """Whether another full point would end past the answer's time budget (judged by the
        points so far). The first point is always generated. Past the budget a point is quoted
        from its case (its Chinese key points for a Chinese answer); a Chinese point over a case
        without them is only the model's `did` sentence, without the restated result."""
        if not spent or self.budget is None:
            return False
        expected = sum(spent) / len(spent)
        return time.perf_counter() + expected > started + self.budget

    def _tokens(self, question: str, hit: CaseHit, language: str, result: str | None) -> int:
        messages = point_messages(question, hit, self.encoding, self.case_tokens, language, result)
        return sum(len(self.encoding.encode(str(m.content))) for m in messages)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        market: MarketChoice = None,
        asker: Market | None = None,
    ) -> Answer:
        for event in self.stream(question, history, market, asker):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")


def _quoted(record: CaseRecord, language: str, quote_english: bool) -> bool:
    """Whether a point is written from the case's own sentences instead of by the model.

    English: when `quote_english` (llm_points=quoted, the default, or past the time budget
    with llm_points=model). Measured on the default 1.5B model (session 5, 6 untuned English
    questions, read sentence by sentence): 5 of the 8
    model-written moves misstated their case ("Zara built a big brand without stores"; OPay
    "partnering with various payment providers, including ORide, OCar"; DoorDash's pass "helped
    reduce subscription churn", which its case never says), and none could be caught by a
    figure or name check; the case's own What they did sentence picked for the question is
    true by construction and shows at once. A stronger model (llm_points=model with
    ELSEWHERE_LLM=openai) can be given the writing back.

    Chinese, over a case with Chinese key points: always. Measured (3 questions, session 4):
    given them the model either copied them (adding 10-15 s and nothing else) or padded them
    with claims no case makes ("成功吸引了大量海外消费者……实现了业务的快速增长和盈利").
    Chinese over a case without key points: never (the model must translate)."""
    if restates(record, language):
        return False
    return quote_english or language != "en"


def warm_messages() -> list[Any]:
    """A point prompt with empty slots: its fixed system part is what warming caches."""
    return render("point", question="-", case="-", instruction="-")


def warm_prompt_cache(chat_model: BaseChatModel) -> None:
    """Put the point prompt's fixed system part into llama.cpp's prompt cache (about 300
    tokens, several seconds on 2 cores) so the first question does not pay for it."""
    messages = warm_messages()
    try:
        for _ in chat_model.bind(max_tokens=1).stream(messages):
            pass
    except Exception:  # noqa: BLE001 - a failed warm-up only costs the first answer time
        return


def _compose(text: str, result: SearchResult, notice: str | None) -> str:
    parts = [text.strip()] if text.strip() else []
    if notice or not parts:
        parts.append(brief_markdown(result))
    return "\n\n".join(parts)


def failure_notice(exc: Exception, partial: bool) -> str:
    from app.errors import ElsewhereError

    what = str(exc) if isinstance(exc, ElsewhereError | TimeoutError) else type(exc).__name__
    stage = "stopped mid-answer" if partial else "was unavailable"
    return f"The language model {stage} ({what}); showing the matched cases instead."


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
