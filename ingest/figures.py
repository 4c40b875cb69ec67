"""Figures in text, and whether a figure is supported by a source text, by value.

One home for the rule "every figure shown must be in the case": the answer checks (`app.checks`)
apply it to what the model writes, the case validator (`ingest.parse`) to a case's Chinese key
points against its English body.

A figure is digits (thousands separators and decimals allowed). Amounts are also compared by
value across scale words, so a faithful Chinese rendering of an English amount is supported and
an unfaithful one is not: "US$515 million" supports 5.15亿美元 and "515 million", but not 515亿
(a hundred times more, the slip a small model makes when it keeps the digits).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

FIGURE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.,])\d+(?:\.\d+)?")
_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
ENGLISH_SCALES = {
    "thousand": 10**3, "k": 10**3,
    "million": 10**6, "mn": 10**6, "m": 10**6, "mln": 10**6,
    "billion": 10**9, "bn": 10**9, "b": 10**9,
    "trillion": 10**12, "tn": 10**12,
    "lakh": 10**5, "lakhs": 10**5, "crore": 10**7, "crores": 10**7, "cr": 10**7,
}  # fmt: skip
ENGLISH_AMOUNT = re.compile(
    rf"(?<![\d.,]){_NUMBER}\s*({'|'.join(sorted(ENGLISH_SCALES, key=len, reverse=True))})\b",
    re.IGNORECASE,
)
CHINESE_SCALES = {"万亿": 10**12, "亿": 10**8, "万": 10**4, "千": 10**3}
CHINESE_AMOUNT = re.compile(rf"(?<![\d.,]){_NUMBER}\s*(万亿|亿|万|千)")


def number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def normalise(figure: str) -> str:
    """ "1,204" -> "1204", "2.50" -> "2.5"."""
    value = number(figure)
    return figure.replace(",", "") if value is None else format(value.normalize(), "f")


def figures(text: str) -> list[str]:
    """The figures in `text`, normalised."""
    return [normalise(match) for match in FIGURE.findall(text)]


def values(text: str) -> set[Decimal]:
    """Every amount `text` states: each number as written and, followed by a scale word
    (million, crore, 万, 亿...), times that scale."""
    found = {v for v in map(number, FIGURE.findall(text)) if v is not None}
    for pattern, scales in ((ENGLISH_AMOUNT, ENGLISH_SCALES), (CHINESE_AMOUNT, CHINESE_SCALES)):
        for digits, scale in pattern.findall(text):
            value = number(digits)
            if value is not None:
                found.add(value * scales[scale.lower()])
    return {v.normalize() for v in found}


def chinese_amounts(text: str) -> list[tuple[str, Decimal]]:
    """(as written, value) of each amount written with a Chinese scale (3.4亿 -> 340000000)."""
    out = []
    for match in CHINESE_AMOUNT.finditer(text):
        value = number(match[1])
        if value is not None:
            out.append((match[0].replace(" ", ""), (value * CHINESE_SCALES[match[2]]).normalize()))
    return out


MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
CHINESE_MONTH = re.compile(r"(?<![\d.,])(1[0-2]|0?[1-9])\s*月")


def _month_stated(month: int, source: str) -> bool:
    """Whether `source` names the month (July, Jul) or writes it as N月."""
    name = MONTHS[month - 1]
    return bool(
        re.search(rf"\b{name[:3]}", source, re.IGNORECASE)
        or re.search(rf"(?<![\d.,])0?{month}\s*月", source)
    )


def unsupported_figures(text: str, source: str) -> list[str]:
    """Figures in `text` that `source` does not state. An amount with a Chinese scale is
    compared by value (5.15亿 is supported by "515 million"; 515亿 is not, and is reported as
    written). A month written 7月 counts as stated when the source names July."""
    known, known_values = _stated(source)
    no_amounts = CHINESE_AMOUNT.sub(" ", text)
    missing = [f for f in figures(CHINESE_MONTH.sub(" ", no_amounts)) if f not in known]
    missing += [raw for raw, value in chinese_amounts(text) if value not in known_values]
    missing += [
        match[0]
        for match in CHINESE_MONTH.finditer(no_amounts)
        if not _month_stated(int(match[1]), source)
    ]
    return missing


@lru_cache(maxsize=64)
def _stated(source: str) -> tuple[frozenset[str], frozenset[Decimal]]:
    """(figures, values) of a source text, parsed once: the answer checks ask about the same
    case text for every word the model writes."""
    return frozenset(figures(source)), frozenset(values(source))
