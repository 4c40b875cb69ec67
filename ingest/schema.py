"""The case-file schema of DESIGN.md ("Case files") as pydantic models and fixed vocabularies."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_CASE_BYTES = 64 * 1024  # the largest case file accepted (settings can lower or raise it)
COMPANY_ZH_REQUIRED = "company_zh_required"  # error type of the china-needs-company_zh rule


class Market(StrEnum):
    CHINA = "china"
    OVERSEAS = "overseas"

    @property
    def other(self) -> Market:
        return Market.OVERSEAS if self is Market.CHINA else Market.CHINA


class Lever(StrEnum):
    SUPPLY = "supply"
    DEMAND = "demand"
    ACQUISITION = "acquisition"
    REVENUE = "revenue"
    COST = "cost"


class Outcome(StrEnum):
    WORKED = "worked"
    MIXED = "mixed"
    FAILED = "failed"


SECTORS: tuple[str, ...] = (
    "e-commerce", "social-commerce", "live-commerce", "food-delivery", "grocery",
    "local-services", "retail", "food-and-beverage", "fashion", "beauty",
    "consumer-electronics", "home-appliances", "automotive", "ride-hailing", "micromobility",
    "logistics", "freight", "payments", "lending", "banking", "investing", "super-app",
    "messaging", "social-media", "short-video", "video-streaming", "music-audio",
    "online-community", "education", "healthcare", "fitness", "travel", "real-estate",
    "enterprise-software", "telecom",
    # added for the gap topics of the library's second round (issue 11)
    "gaming", "developer-tools", "b2b-marketplace", "resale", "airline", "hospitality",
    "car-rental", "pharmacy", "news-media", "advertising",
)  # fmt: skip

# Body sections, in order. Lever sections map to the lever they describe.
LEVER_SECTIONS: dict[str, Lever] = {
    "Supply model": Lever.SUPPLY,
    "Demand model": Lever.DEMAND,
    "Acquisition model": Lever.ACQUISITION,
    "Revenue model": Lever.REVENUE,
    "Cost model": Lever.COST,
}
SECTIONS: tuple[str, ...] = (
    "Context",
    "Problem",
    "What they did",
    *LEVER_SECTIONS,
    "Results",
    "What transfers",
)
MIN_WORDS, MAX_WORDS = 500, 1200  # the English body; the Chinese key points are not counted

# Optional last section: the case's key sentences rendered in Chinese by an analyst, one labelled
# item per line ("- 做法：..."). Chinese answers quote them (app/points.py) instead of having a
# small model translate on the fly; retrieval indexes them. Every figure in them must be in the
# English body (checked by value at ingest: 13.4万 for "134,000").
ZH_SECTION = "中文要点"
ZH_LABELS: dict[str, str] = {"做法": "did", "结果": "result", "借鉴": "borrow", "局限": "caveat"}
ZH_COUNTS: dict[str, tuple[int, int]] = {
    "做法": (1, 3),
    "结果": (1, 5),  # results run longer once a case is followed past its first years
    "借鉴": (1, 2),
    "局限": (1, 2),
}
ZH_ITEM_CHARS = 140
ZH_ITEM = re.compile(r"^-\s*(\S+?)\s*[：:]\s*(.*)$")


@lru_cache(maxsize=1024)
def zh_points(text: str) -> tuple[tuple[str, str], ...]:
    """(kind, sentence) of each well-formed item of a Chinese key points section, in order;
    kind is "did", "result", "borrow" or "caveat". Malformed lines are skipped (the validator
    reports them). Cached: an answer asks about the same few cases many times."""
    out = []
    for line in text.splitlines():
        match = ZH_ITEM.match(line.strip())
        if match and match[1] in ZH_LABELS and match[2].strip():
            out.append((ZH_LABELS[match[1]], match[2].strip()))
    return tuple(out)


ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
CJK = re.compile(r"[\u3400-\u9fff]")  # Chinese characters (CJK unified ideographs + ext. A)


def has_chinese(text: str) -> bool:
    return CJK.search(text) is not None


YEARS_PATTERN = re.compile(r"^(\d{4})(?:-(\d{4}))?$")
AS_OF_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
COUNTRY = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)]


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
    publisher: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)
    ]
    year: int = Field(ge=1900, le=date.today().year + 1)
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=500)] | None = None


class CaseMeta(BaseModel):
    """The YAML front matter of one case file."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=80)]
    company: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    company_zh: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = (
        None
    )
    market: Market
    hq_country: COUNTRY
    countries: list[COUNTRY] = Field(min_length=1, max_length=60)
    sector: str
    years: str
    problems: list[ShortText] = Field(min_length=1, max_length=8)
    levers: list[Lever] = Field(min_length=1, max_length=5)
    mechanisms: list[str] = Field(min_length=1, max_length=6)  # ids in ingest/data/mechanisms.yaml
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=600)]
    outcome: Outcome
    sources: list[Source] = Field(min_length=1, max_length=30)
    as_of: str  # year-month the facts were last checked against the sources, e.g. 2026-12

    @field_validator("company")
    @classmethod
    def _english_name(cls, value: str) -> str:
        if has_chinese(value):
            raise ValueError(
                "must be the common English name only; put the Chinese name in company_zh, "
                f"got {value!r}"
            )
        return value

    @field_validator("sector")
    @classmethod
    def _known_sector(cls, value: str) -> str:
        if value not in SECTORS:
            raise ValueError(f"must be one of: {', '.join(SECTORS)}; got {value!r}")
        return value

    @field_validator("mechanisms")
    @classmethod
    def _known_mechanisms(cls, value: list[str]) -> list[str]:
        from ingest.mechanisms import mechanism_ids

        known = mechanism_ids()
        unknown = [item for item in value if item not in known]
        if unknown:
            raise ValueError(
                f"unknown mechanism(s) {', '.join(map(repr, unknown))}; "
                f"valid ids (ingest/data/mechanisms.yaml): {', '.join(known)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists a mechanism twice")
        return value

    @field_validator("years", mode="before")
    @classmethod
    def _year_range(cls, value: object) -> str:
        # Type and size first: str() of an arbitrary YAML value can be huge (an alias bomb).
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"must be YYYY or YYYY-YYYY, got a {type(value).__name__}")
        if isinstance(value, str) and len(value) > 40:
            raise ValueError(f"must be YYYY or YYYY-YYYY, got {len(value):,} characters")
        text = str(value).strip()
        match = YEARS_PATTERN.match(text)
        if not match:
            raise ValueError(f"must be YYYY or YYYY-YYYY, got {text!r}")
        start, end = int(match[1]), int(match[2] or match[1])
        if not 1900 <= start <= end <= date.today().year + 1:
            raise ValueError(
                f"must be a period from 1900 to next year with start <= end, got {text}"
            )
        return text

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of_month(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(
                f"must be a quoted or plain YYYY-MM year-month, got a {type(value).__name__}"
            )
        text = value.strip()
        match = AS_OF_PATTERN.match(text)
        if not match:
            raise ValueError(
                f"must be YYYY-MM (the month the facts were last checked), got {text[:20]!r}"
            )
        if (int(match[1]), int(match[2])) > (date.today().year, date.today().month):
            raise ValueError(f"is in the future: {text}")
        return text

    @field_validator("levers")
    @classmethod
    def _unique_levers(cls, value: list[Lever]) -> list[Lever]:
        if len(set(value)) != len(value):
            raise ValueError("lists a lever twice")
        return value

    @model_validator(mode="after")
    def _chinese_name_for_china(self) -> CaseMeta:
        if self.market is Market.CHINA and not self.company_zh:
            raise PydanticCustomError(
                COMPANY_ZH_REQUIRED,
                "is required when market is china (the company's Chinese name)",
            )
        return self
