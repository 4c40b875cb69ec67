"""Case sentences picked for an answer without the model: a point's result, the closing line.

Why pick instead of generate (measured on 2 cores with the 1.5B default model, README):
generation runs at about 8-11 tokens/s and a case excerpt costs about 45 prompt tokens/s, so
every sentence the model writes costs seconds. The sentences that carry the figures (a case's
Results) and the lessons (its What transfers) are already written, sourced and checked by the
analysts; what the question decides is *which* of them matter. The picker ranks them against the
question with the retriever's own sentence encoder (cosine), falling back to shared words when
no encoder is loaded (BM25-only retrieval, tests). By default (llm_points=quoted, app/chain.py)
a point's move is picked the same way, from its What they did section, and its best few are
then reordered by the model's yes/no judgement (app/judge.py): the model chooses, never writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.checks import FIGURE, sentences
from ingest.schema import LEVER_SECTIONS, ZH_SECTION, has_chinese, zh_points

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from ingest.state import CaseRecord

YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
# A lesson that says what does not carry over (English case text): a negation or a limit.
CAVEAT = re.compile(
    r"\b(not|n't|no|never|rarely|unless|only where|only if|harder|hard to|fails?|cannot|"
    r"risky|depends? on|weaker|less well|less easily|badly|poorly|difficult)\b",
    re.IGNORECASE,
)
# Analysts often open a lesson with a label the closing line supplies itself ("What does not
# transfer easily:", "Less transferable:"); a label that names its subject ("The super-app
# playbook did not transfer:") is content and stays.
LABEL = re.compile(
    r"^(?:what (?:does not|doesn't)(?=\s*:)"
    r"|what (?:\w+ ){0,3}?(?:transfers?|carr(?:y|ies) over|travels?|differs|is specific to \w+"
    r"|to learn|others can borrow|is (?:harder|hard) to (?:copy|transfer|carry over))"
    r"(?: (?:easily|directly|simply|cleanly|automatically|badly|poorly|less well|well|less))?"
    r"|(?:less |not )?transferable(?: mechanism)?|harder to (?:copy|transfer|carry over)"
    r"|the lessons?(?: for pms)?|lessons for pms)\s*(?:is)?\s*:\s*",
    re.IGNORECASE,
)
NEGATIVE_LABEL = re.compile(
    r"\b(not|n't|badly|poorly|less|harder|hard|differs|specific)\b", re.IGNORECASE
)
MAX_CHARS = 280  # a longer sentence is too much to read as one move or lesson
MAX_RESULT_CHARS = 360  # results run longer (figures and their years)
DATED_BONUS = 0.06  # about a third of the spread of cosines between a case's Results sentences
# Each Results sentence after the first loses this much: on the graded results of
# evals/moves.jsonl (session 8) the analyst's first sentence alone picked a good result about as
# often as the cosine did, and the two together more often than either (see README, Moves).
RESULT_ORDER_STEP = 0.04
CACHE_LIMIT = 4096  # sentence vectors kept (the library has a few thousand sentences)
QUERY_LIMIT = 32  # query vectors kept (a question, and the question with each point's move)
# The weight of a case's matched-mechanism definitions beside the question when picking its
# move: on evals/moves.jsonl (session 8) 0.25 raised grade-2 picks on both splits over the
# question alone (tune 0.560 -> 0.566, holdout 0.615 -> 0.628 with MiniLM for English);
# appending the definitions to the question (the old way) lowered them (0.522 / 0.526).
CONTEXT_WEIGHT = 0.25
# The weight of the case's own sections for the levers the question is about (its Revenue model
# for "how do we earn more from merchants"), beside the question, when picking a move or a
# result: on evals/moves.jsonl (session 11) 0.1 / 0.15 / 0.2 raised grade-2 moves on the tune
# split (0.532 -> 0.551 / 0.558 / 0.551) and the holdout agreed (0.564 -> 0.564 / 0.577 /
# 0.577); grade-2 results tune 0.545 -> 0.562 at 0.15, holdout 0.644 unchanged. 0.5 was worse.
LEVER_WEIGHT = 0.15
LEVER_CHARS = 2000  # of the lever sections read (an encoder sees the first few hundred words)
# A sentence that leans on the one before it ("This gave people a reason to visit", "Those are
# not GAAP profits", "both companies stopped...", "ended their fight the same way") reads as a
# dangling reference once quoted alone. On evals/moves.jsonl such sentences were graded lower
# than the rest (moves: mean 0.44 of 18 vs 0.80; results: 0.75 of 16 vs 1.03), so they are
# picked for a move or a result only when no other sentence passes, and never for the closing
# line. Contrasts ("But NIO remained loss-making") read
# well after the point's move and are not counted.
LEANS_BACK = re.compile(
    r"^(?:[^:]{0,40}:\s*)?(?:that|this|these|those|such|the same|both|neither|so|and|in turn|"
    r"instead|thus|hence|as a result|over the same period|at the same time|by then|after that|"
    r"meanwhile|others?|the rest|again|here|also|it|its|they|their|them)\b"
    r"|^(?:[\w'.&-]+\s){1,3}also\b"  # "Blinkit also operated ...": also what? (any case)
    r"|\binstead\W*$"  # "Vinted charged the buyer instead.": instead of what?
    r"|\bthe same (?:way|period|time|approach|model)\b"
    r"|^(?:这|那些|那种|那样|而且|因此|所以|同样|于是|此后|同期|与此同时)",
    re.IGNORECASE,
)


# A contrast opener ("But Uber's 2017 loss of its London licence ... show the same risk") reads
# well after a point's move, not as the closing line's own lesson: what is it contrasting?
CONTRAST = re.compile(r"^(?:but|however|yet|still|even so)\b|^(?:但|但是|然而|不过)", re.IGNORECASE)


def opens_lesson(sentence: str) -> bool:
    """Whether `sentence` can open the closing line: it neither leans on the sentence before
    it (LEANS_BACK) nor contrasts with it (CONTRAST)."""
    return not leans_back(sentence) and not CONTRAST.search(sentence)


def leans_back(sentence: str) -> bool:
    """Whether `sentence` refers back to text before it (LEANS_BACK)."""
    return bool(LEANS_BACK.search(sentence))


def standalone_first(ranked: Sequence[str]) -> list[str]:
    """`ranked` with the sentences that lean on an earlier one moved to the end, each group in
    its own order."""
    return [s for s in ranked if not leans_back(s)] + [s for s in ranked if leans_back(s)]


class SentencePicker:
    """Ranks candidate sentences by how well they answer a question.

    With an `english` encoder (the retriever's MiniLM), English questions over English
    sentences are scored with it, everything else with `embeddings` (the multilingual USE):
    on the graded moves (evals/moves.jsonl, `elsewhere eval moves`), MiniLM picked the move a
    reader wanted more often than USE for English. Each `context` text, with its weight (the
    definitions of the mechanisms a case matched on at CONTEXT_WEIGHT, the case's sections for
    the question's levers at LEVER_WEIGHT), adds that weight times its own cosine: weighed, not
    appended to the question, where it drowned the question's own words.
    """

    def __init__(self, embeddings: Embeddings | None = None, english: Embeddings | None = None):
        self._any = _Encoder(embeddings)
        self._english = _Encoder(english) if english is not None else self._any

    def best(
        self,
        question: str,
        candidates: Sequence[str],
        bonus: Sequence[float] = (),
        context: Sequence[tuple[str, float]] = (),
    ) -> list[str]:
        """`candidates`, best first (a stable order for ties); `bonus[i]` is added to the
        score of `candidates[i]`."""
        if len(candidates) <= 1:
            return list(candidates)
        chinese = has_chinese(question) or any(has_chinese(c) for c in candidates)
        encoder = self._any if chinese else self._english
        scores = encoder.scores(question, candidates)
        for text, weight in context:
            if text.strip():
                extra = encoder.scores(text, candidates)
                scores = [s + weight * e for s, e in zip(scores, extra, strict=True)]
        scores = [score + (bonus[i] if i < len(bonus) else 0.0) for i, score in enumerate(scores)]
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        return [candidates[i] for i in order]


class _Encoder:
    """One sentence encoder with its vectors cached (word overlap without one)."""

    def __init__(self, embeddings: Embeddings | None):
        self.embeddings = embeddings
        self._vectors: dict[str, list[float]] = {}
        self._queries: dict[str, list[float]] = {}  # one answer asks with a few queries

    def scores(self, question: str, candidates: Sequence[str]) -> list[float]:
        if self.embeddings is None:
            return [_overlap(question, text) for text in candidates]
        if question not in self._queries:
            if len(self._queries) >= QUERY_LIMIT:
                self._queries.clear()
            self._queries[question] = _unit(self.embeddings.embed_query(question))
        query = self._queries[question]
        missing = [text for text in dict.fromkeys(candidates) if text not in self._vectors]
        if missing:
            if len(self._vectors) + len(missing) > CACHE_LIMIT:
                self._vectors.clear()
            vectors = self.embeddings.embed_documents(missing)
            self._vectors.update(zip(missing, map(_unit, vectors), strict=True))
        return [_dot(query, self._vectors[text]) for text in candidates]


def lever_context(record: CaseRecord, query: str) -> tuple[str, float]:
    """The case's sections for the levers `query` is about, weighted for `SentencePicker.best`
    ("" when it names none)."""
    from app.query import detect_levers

    wanted = set(detect_levers(query))
    parts = [record.sections.get(s, "") for s, lever in LEVER_SECTIONS.items() if lever in wanted]
    return " ".join(parts)[:LEVER_CHARS], LEVER_WEIGHT


def zh_sentences(record: CaseRecord, kind: str) -> list[str]:
    """The case's Chinese key points of one kind ("did", "result", "borrow", "caveat")."""
    return [text for found, text in zh_points(record.sections.get(ZH_SECTION, "")) if found == kind]


def has_zh(record: CaseRecord) -> bool:
    """Whether the case has Chinese key points to quote (analysts add them; new cases may not)."""
    return bool(zh_sentences(record, "did") and zh_sentences(record, "result"))


def result_candidates(record: CaseRecord, language: str = "en") -> list[str]:
    """The Results sentences that could stand as a point's result (Chinese key points for a
    Chinese answer where the case has them)."""
    if language != "en" and has_zh(record):
        return zh_sentences(record, "result")
    parts = [s for s in sentences(_flatten(record.sections.get("Results", ""))) if len(s) >= 20]
    return [s for s in parts if len(s) <= MAX_RESULT_CHARS] or parts


def dated_figure_bonus(candidates: Sequence[str]) -> list[float]:
    """A ranking bonus for results that carry a figure and its year (what a PM wants from a
    result), a smaller one for a figure alone: a preference, not a filter, so a dated but
    unrelated sentence ("The founder died in May 2021.") does not beat the result of the move."""
    return [
        DATED_BONUS
        if FIGURE.search(YEAR.sub(" ", s)) and YEAR.search(s)
        else DATED_BONUS / 2
        if FIGURE.search(s)
        else 0.0
        for s in candidates
    ]


def result_bonus(candidates: Sequence[str]) -> list[float]:
    """The ranking bonus of a case's result sentences: `dated_figure_bonus`, less
    RESULT_ORDER_STEP for each sentence before it (analysts lead Results with the headline)."""
    return [b - RESULT_ORDER_STEP * i for i, b in enumerate(dated_figure_bonus(candidates))]


def did_candidates(record: CaseRecord, language: str = "en") -> list[str]:
    """The What they did sentences short enough to stand as a point's move."""
    if language != "en" and has_zh(record):
        return zh_sentences(record, "did")
    parts = sentences(_flatten(record.sections.get("What they did", "")))
    return [s for s in parts if 30 <= len(s) <= MAX_CHARS]


def lesson_candidates(
    records: Sequence[CaseRecord], language: str = "en"
) -> tuple[list[str], list[str]]:
    """The What transfers sentences of the given cases, split into (borrow, caveat). Chinese
    key points carry the split in their labels; English lessons are split by their label
    ("What transfers badly:") or, without one, by a negation or limit in the sentence."""
    if language != "en" and all(has_zh(r) for r in records):
        return (
            [s for r in records for s in zh_sentences(r, "borrow")],
            [s for r in records for s in zh_sentences(r, "caveat")],
        )
    borrow: list[str] = []
    caveat: list[str] = []
    for record in records:
        for text in sentences(_flatten(record.sections.get("What transfers", ""))):
            sentence = _unlabel(text)
            if len(sentence) < 20 or len(sentence) > MAX_CHARS:
                continue
            side = _labelled_side(text)
            if side is None:
                side = "caveat" if CAVEAT.search(text) else "borrow"
            (caveat if side == "caveat" else borrow).append(sentence)
    return borrow, caveat


def _labelled_side(sentence: str) -> str | None:
    """ "caveat" or "borrow" when the analyst's label says so, else None."""
    match = LABEL.match(sentence)
    if not match:
        return None
    return "caveat" if NEGATIVE_LABEL.search(match[0]) else "borrow"


def _unlabel(sentence: str) -> str:
    rest = LABEL.sub("", sentence, count=1)
    return rest[:1].upper() + rest[1:] if rest != sentence else sentence


def _flatten(text: str) -> str:
    """One line of plain sentences: list markers and Markdown emphasis removed."""
    plain = re.sub(r"\*\*([^*]+?):?\*\*:?\s*", r"\1: ", text).replace("**", "")
    return " ".join(plain.replace("\n- ", " ").split()).lstrip("- ")


def _overlap(question: str, text: str) -> float:
    words = _words(question)
    if not words:
        return 0.0
    return len(words & _words(text)) / (len(_words(text)) ** 0.5 or 1.0)


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]{4,}", text.lower())}


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _unit(vector: Sequence[float]) -> list[float]:
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]
