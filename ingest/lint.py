"""Warnings on valid case files: what the schema cannot reject but a careful editor would fix.

A case that parses is indexed; these checks keep the library's facts trustworthy over time
(issue 11, "Checks that keep it true"). Each warning is a `CaseWarning` value; only the CLI turns
it into words. Three kinds:

- ``undated-figure``: a figure in a sentence of the summary or body with no year in that sentence.
  A *figure* is a money amount (US$3.4bn, RMB 100 million, ₹3,248cr, €1.14bn, 5 million yuan), a
  percentage (15%, 15 per cent), a count with a scale (5 million, 10m, 2.5bn, 500k, 3亿) or any
  number of 1,000 or more that is not itself a year. A sentence is *dated* when it holds a 4-digit
  year (19xx/20xx, "the 2010s" included) or a fiscal marker (FY2022, FY22, Q3 2024, Q3 FY24,
  H1'25). To keep false positives low, a sentence inside a bullet list also counts as dated when
  the list's lead-in (the last sentence of the paragraph right before the list, "In 2023:") is
  dated, or when its own bullet begins with a year within its first four words ("2019: ...",
  "In 2019, ..."), so later sentences of that bullet inherit it. Headings, front-matter fields
  other than `summary`, link targets and bare URLs are ignored. Figures written in words ("two
  million") are not detected.
- ``source-without-url``: a source with no `url` although its documents are public: the publisher
  is one of `PUBLIC_PUBLISHERS` (regulators, exchanges, wire services, reputable press) or names
  the case's own company (investor relations, annual reports, press releases), or the title names
  a public filing kind from `PUBLIC_DOCUMENT_KINDS` (Form 10-K, 20-F, annual report...).
- ``stale-as-of``: `as_of` is more than `MAX_AS_OF_AGE_MONTHS` months before today.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

import yaml

from ingest.parse import HEADING, SAFE_LOADER, Case, read_case_text, split_front_matter, yaml_line
from ingest.schema import MAX_CASE_BYTES, Source

MAX_AS_OF_AGE_MONTHS = 18
EXCERPT_CHARS = 60

# Publishers whose documents are public (online, citable by URL). Matched case-insensitively as
# whole words inside the source's `publisher`, so "Nikkei Asia" and "Reuters via Yahoo" match too.
PUBLIC_PUBLISHERS: tuple[str, ...] = (
    # regulators, exchanges and filing systems
    "SEC", "U.S. Securities and Exchange Commission", "Securities and Exchange Commission",
    "EDGAR", "HKEX", "HKEXnews", "Hong Kong Stock Exchange", "Hong Kong Exchanges",
    "Shanghai Stock Exchange", "Shenzhen Stock Exchange", "SEBI", "Companies House",
    "investor relations", "press release", "newsroom", "annual report",
    # regulators, courts and statistics offices (decisions and data are published)
    "Federal Trade Commission", "FTC", "Financial Conduct Authority", "DART",
    "Financial Supervisory Service", "Competition and Markets Authority", "European Commission",
    "Court of Justice of the European Union", "Supreme Court", "Reserve Bank of India",
    "Telecom Regulatory Authority of India", "State Administration for Market Regulation",
    "Cyberspace Administration of China", "National Bureau of Statistics", "CNMC",
    # wires and press-release services
    "Reuters", "Bloomberg", "Associated Press", "Business Wire", "PR Newswire", "GlobeNewswire",
    "Xinhua",
    # business and technology press
    "Financial Times", "Wall Street Journal", "New York Times", "The Economist", "Forbes",
    "Fortune", "CNBC", "CNN", "BBC", "The Guardian", "Axios", "Wired", "The Verge", "TechCrunch",
    "Business Insider", "Insider", "Nikkei", "Rest of World", "TechNode", "KrASIA", "Caixin",
    "South China Morning Post", "SCMP", "Sixth Tone", "Yicai", "36Kr", "Pandaily", "China Daily",
    "The Economic Times", "Economic Times", "Mint", "Inc42", "Entrackr", "TechCabal",
    "Techpoint Africa", "Nikkei Asia", "Quartz", "The Information", "Skift", "PYMNTS",
    "NPR", "CBS News", "Los Angeles Times", "The Seattle Times", "Fast Company", "El País",
    "The Business of Fashion", "Sifted", "FreightWaves", "Financial Express", "The Canadian Press",
    "CGTN", "Shanghai Daily", "Beijing Review", "The Hill", "Benzinga", "Marketplace Pulse",
    "BusinessKorea", "DC Velocity", "AVCJ", "ET Net", "Green Car Congress", "Singletracks",
)  # fmt: skip

# Titles that name a document companies must or do publish (filings, reports, releases).
PUBLIC_DOCUMENT_KINDS: tuple[str, ...] = (
    "annual report", "interim report", "10-K", "10-Q", "20-F", "8-K", "6-K", "S-1", "F-1",
    "prospectus", "press release", "earnings release", "results announcement",
    "shareholder letter", "letter to shareholders", "results", "investor day",
    "business report", "earnings call",
)  # fmt: skip


class WarningKind(StrEnum):
    UNDATED_FIGURE = "undated-figure"
    SOURCE_WITHOUT_URL = "source-without-url"
    STALE_AS_OF = "stale-as-of"


@dataclass(frozen=True)
class CaseWarning:
    """One warning on one valid case file: what, where (line, front-matter field) and how to fix."""

    kind: WarningKind
    path: str
    message: str
    line: int | None = None
    field: str | None = None
    excerpt: str | None = None  # the start of the sentence an undated figure is in


def _words(names: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


_PUBLIC_PUBLISHER = _words(PUBLIC_PUBLISHERS)
_PUBLIC_KIND = _words(PUBLIC_DOCUMENT_KINDS)

_NUM = r"\d+(?:[,.]\d+)*"
_SCALE = (
    r"(?:\s?(?:trillion|billion|million|thousand|lakh|crore|tn|bn|mn|cr|m|k)(?![\w])"
    r"|\s?[万亿])"
)
_CURRENCY = (
    r"(?:US\$|HK\$|S\$|A\$|C\$|NT\$|NZ\$|R\$|\$|€|£|¥|₹|₩|₦|₱|₺|₫|₸|"
    r"(?:RMB|CNY|USD|EUR|GBP|INR|JPY|KRW|IDR|Rp|BRL|MXN|NGN|KES|KSh|ZAR|TRY|AED|SAR|PLN|CHF|"
    r"SEK|EGP|PKR|VND|THB|MYR|RM|PHP|HKD|SGD|TWD|AUD|CAD|RUB|UAH|CZK|HUF|RON|KZT|Rs\.?)\s?)"
)
_CURRENCY_WORD = (
    r"\s?(?:yuan|renminbi|rupees?|dollars|euros?|pounds|won|yen|naira|shillings|reais|pesos|"
    r"lira|rubles|roubles|dirhams|riyals|zloty|rand|元)(?!\w)"
)
FIGURE = re.compile(
    rf"""
      {_CURRENCY}{_NUM}{_SCALE}?  # US$3.4bn, RMB 100 million, ₹3,248cr
    | (?<![A-Za-z0-9_.,]){_NUM}{_SCALE}?{_CURRENCY_WORD}  # 5 million yuan, 300 rupees
    | (?<![A-Za-z0-9_.,]){_NUM}\s?(?:%|per\s?cent(?!\w)|percentage\ points?(?!\w))  # 15%
    | (?<![A-Za-z0-9_.,]){_NUM}{_SCALE}  # 5 million, 10m, 2.5bn, 3亿
    | (?<![A-Za-z0-9_.,])\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?![\d,])  # 1,000+ with commas
    | (?<![A-Za-z0-9_.,])(?!(?:19|20)\d\d(?!\d))\d{{4,}}(?![\d,])  # 1000+, not a year
    """,
    re.VERBOSE,
)
# Lookbehinds name ASCII word characters: a year right after a Chinese character (在2020年) is
# still a year (\w would include the character).
YEAR = re.compile(r"(?<![A-Za-z0-9_.,$])(?:19|20)\d\d(?!\d)")
FISCAL = re.compile(
    r"(?<!\w)(?:FY\s?'?\d{2,4}(?:/\d{2,4})?|[QH][1-4]\s?(?:FY\s?)?'?\d{2,4})(?!\w)", re.IGNORECASE
)
# A sentence ends at . ! ? (then space and a capital, digit or quote) or at Chinese 。！？.
_SENTENCE_END = re.compile(r"[.!?][\"”’)]*\s+(?=[A-Z0-9\"“‘(\[*])|[。！？]")
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:U\.S|U\.K|U\.N|E\.U|Inc|Co|Corp|Ltd|Bros|e\.g|i\.e|vs|No|St|Mr|Ms|Mrs|Dr|Jr|Sr|"
    r"approx|est|Fig|Rs)|(?<![\w.])[A-Z])$"
)
# Not figures: stock codes ("(1179)", "stock code 1860", "688036.SH") and a bare "0%" (0% APR,
# 0% commission), which names a product term rather than a measured quantity.
_NOT_FIGURE = re.compile(
    r"\((?!(?:19|20)\d\d\))\d{4,6}(?:\.[A-Z]{2})?\)"
    r"|(?:stock code|ticker|code)\s\d{3,6}|\d{6}\.[A-Z]{2}"
    r"|(?<![A-Za-z0-9_.,])0\s?%"
)
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d{1,2}[.)])\s+")
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_BARE_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class _Block:
    """A paragraph or one bullet item of the body, with its first line in the file."""

    text: str
    line: int
    in_list: bool = False
    list_lead_dated: bool = False


def case_warnings(case: Case, text: str, today: date) -> list[CaseWarning]:
    """Every warning for one valid case, given the file's text and today's date."""
    front, body, body_line = split_front_matter(text, case.relpath)
    tree = yaml.compose(front, Loader=SAFE_LOADER)
    warnings = list(_undated_in_summary(case, yaml_line(tree, ("summary",))))
    warnings += _undated_in_body(case.relpath, body, body_line)
    for index, source in enumerate(case.meta.sources):
        if source.url is None and _is_public(source, case.meta.company):
            line = yaml_line(tree, ("sources", index))
            warnings.append(_missing_url(case.relpath, index, source, line))
    stale = _stale_as_of(case, today, yaml_line(tree, ("as_of",)))
    return warnings + ([stale] if stale else [])


def library_warnings(
    cases: Iterable[Case], cases_dir: Path, today: date, max_bytes: int = MAX_CASE_BYTES
) -> list[CaseWarning]:
    """Warnings for every case of a scan (files are re-read under the same size limit)."""
    found: list[CaseWarning] = []
    for case in cases:
        found += case_warnings(case, read_case_text(case.path, cases_dir, max_bytes), today)
    return found


def undated_figures(sentence: str) -> list[str]:
    """The figures in `sentence` if it carries no year or fiscal marker, else [].

    >>> undated_figures("Revenue reached US$3.4bn, up 20%.")
    ['US$3.4bn', '20%']
    >>> undated_figures("In FY23 revenue reached US$3.4bn.")
    []
    """
    sentence = _NOT_FIGURE.sub(lambda m: " " * len(m[0]), sentence)
    figures = list(FIGURE.finditer(sentence))
    if not figures:
        return []
    blanked = FIGURE.sub(lambda m: " " * len(m[0]), sentence)  # a year inside "US$2000" is none
    if _is_dated(blanked):
        return []
    return [match[0].strip() for match in figures]


def _is_dated(text: str) -> bool:
    return bool(YEAR.search(text) or FISCAL.search(text))


def _ends_dated(text: str) -> bool:
    """A paragraph whose last sentence carries a year: the lead-in of the list after it."""
    last = [sentence for _offset, sentence in sentences(text)][-1:]
    return bool(last) and _is_dated(last[0])


def _starts_dated(text: str) -> bool:
    """A block whose first four words carry a year ("2019: ...", "In 2019, ...")."""
    return _is_dated(" ".join(text.split()[:4]))


def sentences(text: str) -> Iterator[tuple[int, str]]:
    """(offset, sentence) pairs of a paragraph, not splitting after abbreviations like U.S."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match[0][0] == "." and _ABBREVIATIONS.search(text[start : match.start()]):
            continue
        yield start, text[start : match.end()]
        start = match.end()
    if text[start:].strip():
        yield start, text[start:]


def _undated_in_summary(case: Case, line: int | None) -> Iterator[CaseWarning]:
    for _offset, sentence in sentences(case.meta.summary):
        for figure in undated_figures(sentence):
            yield _undated(case.relpath, figure, sentence, line, "summary")


def _undated_in_body(rel: str, body: str, first_line: int) -> Iterator[CaseWarning]:
    for block in _blocks(body, first_line):
        lead_dated = block.in_list and (block.list_lead_dated or _starts_dated(block.text))
        for offset, sentence in sentences(block.text):
            if lead_dated:
                continue
            line = block.line + block.text.count("\n", 0, offset + _leading_space(sentence))
            for figure in undated_figures(sentence):
                yield _undated(rel, figure, sentence, line, None)


def _leading_space(text: str) -> int:
    return len(text) - len(text.lstrip())


def _blocks(body: str, first_line: int) -> Iterator[_Block]:
    """Paragraphs and bullet items of the body, each list's items marked if its lead-in is dated."""
    previous: _Block | None = None  # the block before, within the same section
    lead_dated = False
    for text, line, is_item in _raw_blocks(body, first_line):
        if text is None:  # a heading: a list after it has no lead-in
            previous = None
            continue
        if is_item and not (previous and previous.in_list):
            lead_dated = previous is not None and _ends_dated(previous.text)
        previous = _Block(text, line, is_item, is_item and lead_dated)
        yield previous


def _raw_blocks(body: str, first_line: int) -> Iterator[tuple[str | None, int, bool]]:
    """(text, first line, is a bullet item) per block; (None, line, False) for a heading.

    A bullet starts an item; lines after it (indented or not) continue it until a blank line; an
    indented paragraph after a blank line still belongs to the item above.
    """
    lines: list[str] = []
    start, is_item = first_line, False
    for number, raw in enumerate(body.split("\n"), start=first_line):
        line = _mask_urls(raw)
        bullet = _BULLET.match(line)
        heading = HEADING.match(line)
        if lines and (bullet or heading or not line.strip()):
            yield "\n".join(lines), start, is_item
            lines = []
        if heading:
            yield None, number, False
            is_item = False
            continue
        if not line.strip():
            continue
        if bullet:
            line, is_item = " " * bullet.end() + line[bullet.end() :], True
        elif not lines:
            is_item = is_item and raw.startswith((" ", "\t"))
        if not lines:
            start = number
        lines.append(line)
    if lines:
        yield "\n".join(lines), start, is_item


def _mask_urls(line: str) -> str:
    """Blank out link targets and bare URLs (same length, so offsets still map to lines)."""
    line = _LINK_TARGET.sub(lambda m: "]" + " " * (len(m[0]) - 1), line)
    return _BARE_URL.sub(lambda m: " " * len(m[0]), line)


def _excerpt(sentence: str) -> str:
    flat = " ".join(sentence.replace("**", "").split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS].rstrip() + "…"


def _undated(
    rel: str, figure: str, sentence: str, line: int | None, field: str | None
) -> CaseWarning:
    return CaseWarning(
        WarningKind.UNDATED_FIGURE,
        rel,
        f"figure {figure!r} has no year in its sentence; add the year or period it is for "
        "(e.g. 'in 2023', 'FY2023', 'Q3 2024') or remove the figure",
        line,
        field,
        _excerpt(sentence),
    )


def _is_public(source: Source, company: str) -> bool:
    own = re.search(rf"(?<!\w){re.escape(company)}(?!\w)", source.publisher, re.IGNORECASE)
    return bool(
        _PUBLIC_PUBLISHER.search(source.publisher) or own or _PUBLIC_KIND.search(source.title)
    )


def _missing_url(rel: str, index: int, source: Source, line: int | None) -> CaseWarning:
    return CaseWarning(
        WarningKind.SOURCE_WITHOUT_URL,
        rel,
        f"source {source.title!r} ({source.publisher}, {source.year}) has no url although "
        "documents of this kind are public; add `url:` with the document's public address",
        line,
        f"sources.{index}.url",
    )


def _stale_as_of(case: Case, today: date, line: int | None) -> CaseWarning | None:
    year, month = (int(part) for part in case.meta.as_of.split("-"))
    age = (today.year - year) * 12 + today.month - month
    if age <= MAX_AS_OF_AGE_MONTHS:
        return None
    return CaseWarning(
        WarningKind.STALE_AS_OF,
        case.relpath,
        f"is {case.meta.as_of}, {age} months ago (more than {MAX_AS_OF_AGE_MONTHS}); re-check "
        f"the facts against the sources and set as_of to the month you did ({today:%Y-%m})",
        line,
        "as_of",
    )
