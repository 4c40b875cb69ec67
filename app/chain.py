"""Answers: condense -> retrieve -> compact cited prompt -> streamed model answer -> citation check.

The LCEL pieces are `load_prompt(...) | chat_model | StrOutputParser()`. Around them this module
keeps the promises a model cannot be trusted with:
- the market filter is applied by retrieval before the model sees anything;
- the case block is budgeted in tiktoken tokens, so no context overflow reaches the user;
- every `[n]` is checked against the cases given; invalid ones are removed and recorded, and
  companies the model names that were not given (or are from the wrong market) are flagged;
- the brief (matched cases) is emitted the moment retrieval ends; if the model fails to load,
  times out or dies mid-stream, the user still gets the brief plus a one-line notice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.prompts import instruction, load_prompt, render
from app.question import clean_question
from app.render import brief_markdown
from app.retrieval import CaseHit, MarketChoice, Retriever, SearchResult
from ingest.schema import Market, has_chinese

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.language_models import BaseChatModel

CITATION = re.compile(r"\[(\d+(?:\s*[,，]\s*\d+)*)\]")
DELIMITERS = re.compile(r"<<<|>>>")
FOLLOW_UP = re.compile(r"^(and|what about|how about|also|same|那|那么|还有|如果)\b", re.IGNORECASE)
Turn = tuple[str, str]  # (user question, assistant answer)


@dataclass
class Citation:
    n: int
    case_id: str
    company: str


@dataclass
class Answer:
    question: str
    standalone_question: str
    market_filter: str | None
    answer_markdown: str
    citations: list[Citation]
    invalid_citations: list[int]
    cases: list[dict[str, Any]]
    timings: dict[str, float | None]
    provider: str
    model: str | None
    notice: str | None = None
    warnings: list[str] = field(default_factory=list)
    prompt_tokens: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "market_filter": self.market_filter,
            "answer_markdown": self.answer_markdown,
            "citations": [c.__dict__ for c in self.citations],
            "invalid_citations": self.invalid_citations,
            "cases": self.cases,
            "timings": self.timings,
            "provider": self.provider,
            "model": self.model,
            "notice": self.notice,
            "warnings": self.warnings,
            "prompt_tokens": self.prompt_tokens,
        }


@dataclass
class Brief:
    """Emitted as soon as retrieval ends: the matched cases, no model needed."""

    result: SearchResult
    standalone_question: str


@dataclass
class Token:
    text: str


@dataclass
class Done:
    answer: Answer


Event = Brief | Token | Done


def case_block(
    hits: Sequence[CaseHit], encoding: tiktoken.Encoding, budget: int
) -> tuple[str, int]:
    """Numbered case excerpts within `budget` tokens; returns (text, cases included).

    Each case gets its header and summary; the best evidence is added while room remains.
    Lower-ranked cases are dropped before the block can exceed the budget.
    """
    blocks: list[str] = []
    used = 0
    for n, hit in enumerate(hits, start=1):
        r = hit.record
        head = (
            f"[{n}] {r.company} | market: {r.market} | {r.sector} | {r.years} | "
            f"outcome: {r.outcome}\n{_clean(r.summary)}"
        )
        cost = len(encoding.encode(head)) + 1
        if used + cost > budget:
            break
        used += cost
        for evidence in hit.evidence[:1]:
            line = f"{evidence.section}: {_clip(_clean(evidence.text), encoding, 70)}"
            extra = len(encoding.encode(line)) + 1
            if used + extra <= budget:
                head += "\n" + line
                used += extra
        blocks.append(head)
    return "\n\n".join(blocks), len(blocks)


def _clean(text: str) -> str:
    """Case text is data: collapse whitespace and remove anything that looks like our fences."""
    return DELIMITERS.sub(" ", " ".join(text.split()))


def _clip(text: str, encoding: tiktoken.Encoding, limit: int) -> str:
    tokens = encoding.encode(text)
    return text if len(tokens) <= limit else encoding.decode(tokens[:limit]) + "..."


def check_citations(
    text: str, given: Sequence[CaseHit], library: dict[str, Any], market: str | None
) -> tuple[str, list[Citation], list[int], list[str]]:
    """Keep only citations of cases that were given; flag companies that were not given."""
    valid: dict[int, Citation] = {}
    invalid: list[int] = []

    def replace(match: re.Match[str]) -> str:
        kept = []
        for part in re.split(r"\s*[,，]\s*", match.group(1)):
            n = int(part)
            if 1 <= n <= len(given):
                record = given[n - 1].record
                valid.setdefault(n, Citation(n, record.case_id, record.company))
                kept.append(f"[{n}]")
            else:
                invalid.append(n)
        return "".join(kept)

    cleaned = CITATION.sub(replace, text)
    given_companies = {hit.record.company for hit in given}
    warnings = []
    for record in library.values():
        if record.company in given_companies:
            continue
        names = [record.company] + ([record.company_zh] if record.company_zh else [])
        if any(_mentions(cleaned, name) for name in names):
            where = f" (market {record.market})" if market and record.market != market else ""
            warnings.append(f"names {record.company}{where}, which was not among the cases given")
    if not valid and cleaned.strip():
        warnings.append("cites no case: treat the text as unverified")
    return (
        cleaned,
        sorted(valid.values(), key=lambda c: c.n),
        sorted(set(invalid)),
        sorted(set(warnings)),
    )


def _mentions(text: str, name: str) -> bool:
    if has_chinese(name):
        return name in text
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def heuristic_condense(question: str, history: Sequence[Turn]) -> str:
    """Without a model: a short or "and ..." follow-up inherits the previous question's topic."""
    if not history:
        return question
    previous = history[-1][0]
    if (
        FOLLOW_UP.search(question.strip())
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
        provider: dict[str, Any],
        case_tokens: int = 360,
        k: int = 8,
        answer_cases: int = 4,
        timeout: float = 90.0,
        load_notice: str | None = None,
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

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        if not history:
            return question
        fallback = heuristic_condense(question, history)
        if self.chat_model is None:
            return fallback
        from langchain_core.output_parsers import StrOutputParser

        transcript = "\n".join(
            f"User: {q}\nAssistant: {_clip(a, self.encoding, 60)}" for q, a in history[-3:]
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
        retrieval_ms = _ms(started)
        yield Brief(result, standalone)
        given = result.hits[: self.answer_cases]
        answer = Answer(
            question=question,
            standalone_question=standalone,
            market_filter=result.market_filter,
            answer_markdown="",
            citations=[],
            invalid_citations=[],
            cases=[hit.as_json() for hit in result.hits],
            timings={"retrieval_ms": retrieval_ms, "first_token_ms": None, "total_ms": None},
            provider=self.provider.get("provider", "none"),
            model=self.provider.get("model"),
        )
        if self.chat_model is None or not given:
            answer.answer_markdown = brief_markdown(result)
            answer.notice = self.load_notice if self.chat_model is None else None
            answer.timings["total_ms"] = _ms(started)
            yield Done(answer)
            return
        cases_text, count = case_block(given, self.encoding, self.case_tokens)
        given = given[:count]
        messages = render(
            "answer",
            instruction=instruction("answer", question),
            cases=cases_text,
            question=standalone,
        )
        answer.prompt_tokens = sum(len(self.encoding.encode(str(m.content))) for m in messages)
        parts: list[str] = []
        try:
            for chunk in self.chat_model.stream(messages):
                piece = str(chunk.content)
                if not piece:
                    continue
                if answer.timings["first_token_ms"] is None:
                    answer.timings["first_token_ms"] = _ms(started)
                parts.append(piece)
                yield Token(piece)
                if time.perf_counter() - started > self.timeout:
                    raise TimeoutError(f"no complete answer within {self.timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - degrade to the brief, never a traceback
            answer.notice = failure_notice(exc, bool(parts))
        text, citations, invalid, warnings = check_citations(
            "".join(parts), given, self.retriever.records, result.market_filter
        )
        answer.citations, answer.invalid_citations, answer.warnings = citations, invalid, warnings
        answer.answer_markdown = _compose(text, warnings, result, answer.notice)
        answer.timings["total_ms"] = _ms(started)
        yield Done(answer)

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


def _compose(text: str, warnings: list[str], result: SearchResult, notice: str | None) -> str:
    parts = []
    if text.strip():
        parts.append(text.strip())
    if warnings:
        parts.append("\n".join(f"> ⚠ Not verified: the answer {w}." for w in warnings))
    if notice or not text.strip():
        parts.append(brief_markdown(result))
    return "\n\n".join(parts)


def failure_notice(exc: Exception, partial: bool) -> str:
    from app.errors import ElsewhereError

    what = str(exc) if isinstance(exc, ElsewhereError | TimeoutError) else type(exc).__name__
    stage = "stopped mid-answer" if partial else "was unavailable"
    return f"The language model {stage} ({what}); showing the matched cases instead."


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
