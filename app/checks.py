"""Checks on answer text, shared by the answer chain (which corrects) and the evals (which count).

Every check is a pure function of strings, so the chain can apply it to a sentence before the
user sees it and `elsewhere eval answers` can apply the very same rule to a finished answer
(ours or the naive baseline's). None of them trusts the model:

- `unsupported_figures`: numbers (amounts, percentages, years) not found in the cited case;
- `foreign_companies`: library companies named that were not among the cases given;
- `content_words`: what a point says once company names and citations are removed
  (fewer than `NAMES_ONLY_WORDS` means it only lists names);
- `is_repeat`: near-duplicate of something already said;
- `copy_ratio`: how much of a point is a verbatim copy of the case summary;
- `language_ok`: the text is in the asker's language;
- `borrowed_words`: the question's words put into a case that never uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

# re-exported: the figure rules live in ingest.figures (the case validator uses them too)
from ingest.figures import FIGURE as FIGURE
from ingest.figures import figures as figures
from ingest.figures import unsupported_figures as unsupported_figures
from ingest.schema import CJK, has_chinese

NAMES_ONLY_WORDS = 8  # a point with fewer content words than this is a list of names
REPEAT_SIMILARITY = 0.8  # two points this similar say the same thing
COPY_SHARE = 0.8  # a point whose text is this much the case summary is a copy

CITATION = re.compile(r"\[(\d+(?:\s*[,，]\s*\d+)*)\]")
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,]\d+)*|[\u3400-\u9fff]")


@dataclass(frozen=True)
class Company:
    """A company the checker knows by name (English and, where there is one, Chinese)."""

    name: str
    name_zh: str = ""

    def names(self) -> tuple[str, ...]:
        return (self.name, self.name_zh) if self.name_zh else (self.name,)


def mentions(text: str, name: str) -> bool:
    """`name` appears in `text` as a whole name (Chinese names as substrings)."""
    if not name:
        return False
    if has_chinese(name):
        return name in text
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def foreign_companies(text: str, known: Iterable[Company], allowed: Iterable[Company]) -> list[str]:
    """Companies from `known` named in `text` that are not in `allowed` (the cases given).

    A name that is part of an allowed name ("Amazon" when "Amazon" is given) is allowed.
    """
    allowed_names = {name for company in allowed for name in company.names()}
    found = []
    for company in known:
        if any(name in allowed_names for name in company.names()):
            continue
        if any(
            mentions(text, name) and not _inside_allowed(text, name, allowed_names)
            for name in company.names()
        ):
            found.append(company.name)
    return sorted(set(found))


def _inside_allowed(text: str, name: str, allowed: set[str]) -> bool:
    """True when every mention of `name` is inside a longer allowed name ("Luckin Coffee")."""
    stripped = text
    for longer in sorted((a for a in allowed if name in a and a != name), key=len, reverse=True):
        stripped = stripped.replace(longer, " ")
    return not mentions(stripped, name)


def content_words(text: str, names: Iterable[str]) -> int:
    """Words left once citations and company names are removed."""
    stripped = CITATION.sub(" ", text)
    for name in sorted(set(names), key=len, reverse=True):
        if name:
            stripped = stripped.replace(name, " ")
    stripped = re.sub(r"[*_`>#|()\[\]]", " ", stripped)
    return len(WORD.findall(stripped))


def similarity(a: str, b: str) -> float:
    """0..1, on the texts with case, spacing and punctuation folded."""
    return SequenceMatcher(None, _fold(a), _fold(b), autojunk=False).ratio()


def is_repeat(text: str, said: Sequence[str]) -> bool:
    return any(similarity(text, earlier) >= REPEAT_SIMILARITY for earlier in said)


def starts_like(text: str, said: Sequence[str]) -> bool:
    """`text`, the start of a sentence still being written, begins like something already
    said: the sentence may turn out a repeat, so its start must not be shown yet."""
    return any(similarity(text, earlier[: len(text)]) >= REPEAT_SIMILARITY for earlier in said)


def copy_ratio(text: str, summary: str) -> float:
    """Share of `text` (in characters) that is matched by blocks copied from `summary`."""
    a, b = _fold(text), _fold(summary)
    if not a:
        return 0.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    copied = sum(block.size for block in matcher.get_matching_blocks() if block.size >= 12)
    return copied / len(a)


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w\u3400-\u9fff%]+", " ", CITATION.sub(" ", text)).lower().split())


def language_ok(text: str, language: str) -> bool:
    """Chinese answers are mostly Chinese characters; English ones have (almost) none.

    Company names in Chinese are allowed in English answers, so the bar there is a small share.
    """
    letters = len(re.findall(r"[A-Za-z]", text))
    hanzi = len(CJK.findall(text))
    if letters + hanzi == 0:
        return True
    share = hanzi / (hanzi + letters / 4)  # about four Latin letters per Chinese character
    return share >= 0.5 if language == "zh" else share <= 0.25


_STOP = frozenset(
    "about after also been being both could does doing from have having into more most much "
    "only other over same some such than that their them then there these they this those "
    "through very what when where which while will with without would your yours ours".split()
)


def borrowed_words(sentence: str, question: str, source: str) -> list[str]:
    """Words of the question that the sentence uses but the case never does (English only).

    A small model projects the asker's problem onto an unrelated case ("WeChat let rooftop
    solar installers..."): the tell is the question's own words, absent from the case.
    """

    def words(text: str) -> set[str]:
        found = re.findall(r"[a-z][a-z\-]{3,}", text.lower())
        return {w.rstrip("s") for w in found if w not in _STOP}

    case = words(source)
    return sorted((words(sentence) & words(question)) - case)


ECHO_HANZI = 6  # this many Chinese characters in a row taken from the question: an echo


def echoed_question(sentence: str, question: str, source: str) -> str:
    """The longest run of the question's Chinese characters (at least ECHO_HANZI long) that
    the sentence repeats and the case never says; "" if none (Chinese only).

    The Chinese form of `borrowed_words`: asked "...让用户在二手交易平台上更活跃", a small model
    writes "DoorDash ... 让用户在二手交易平台上更活跃" about a delivery case.
    """
    best = ""
    for run in re.findall(r"[\u3400-\u9fff]+", question):
        for size in range(len(run), max(ECHO_HANZI, len(best) + 1) - 1, -1):
            found = next(
                (run[i : i + size] for i in range(len(run) - size + 1)
                 if run[i : i + size] in sentence and run[i : i + size] not in source),
                "",
            )  # fmt: skip
            if found:
                best = found
                break
    return best


def sentences(text: str) -> list[str]:
    """Split on sentence ends (English and Chinese), keeping the punctuation."""
    parts = [part.strip() for part in SENTENCE_END.split(text)]
    return [part for part in parts if part]
