"""The real case library: coverage promised in the case-library issue, and every file valid."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
from click.testing import CliRunner

from app.cli import cli
from ingest.lint import library_warnings
from ingest.parse import read_front_matter, scan_library
from ingest.schema import MAX_WORDS, MIN_WORDS, SECTORS
from tests.conftest import ROOT

# Issue 11's targets for the library's second round.
MIN_CASES = 161
MIN_FAILED, MIN_MIXED = 15, 30
MIN_CHINESE_ABROAD_OUTSIDE_US_EUROPE = 10
MIN_EMERGING_REGION_CASES = 10
MIN_CASES_PER_GAP_TOPIC = 2
# Each gap topic of issue 11 and the sector(s) its cases are filed under.
GAP_TOPICS: dict[str, tuple[str, ...]] = {
    "games": ("gaming",),
    "developer tools and API pricing": ("developer-tools",),
    "B2B procurement marketplaces": ("b2b-marketplace",),
    "second-hand resale": ("resale",),
    "airline and hotel loyalty": ("airline", "hospitality"),
    "car rental and car-sharing": ("car-rental",),
    "pharmacy e-commerce": ("pharmacy",),
    "news paywalls": ("news-media",),
    "ad-tech": ("advertising",),
}

# ISO 3166 alpha-2 sets. Europe is the whole continent (for "outside the US and Europe"); the
# emerging regions are the ones issue 11 names.
EUROPE = frozenset(
    "AD AL AT BA BE BG BY CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MC MD ME "
    "MK MT NL NO PL PT RO RS RU SE SI SK SM UA VA XK".split()
)
AFRICA = frozenset(
    "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML "
    "MR MU MW MZ NA NE NG RW SC SD SL SN SO SS ST SZ TD TG TN TZ UG ZA ZM ZW".split()
)
MIDDLE_EAST = frozenset("AE BH IL IQ IR JO KW LB OM PS QA SA SY TR YE".split())
LATIN_AMERICA = frozenset(
    "AR BB BO BR BS CL CO CR CU DO EC GT HN HT JM MX NI PA PE PR PY SV TT UY VE".split()
)
SOUTH_AND_SOUTHEAST_ASIA = frozenset(
    "AF BD BN BT ID IN KH LA LK MM MV MY NP PH PK SG TH TL VN".split()
)
CENTRAL_AND_EASTERN_EUROPE = frozenset(
    "AL AM AZ BA BG BY CZ EE GE HR HU LT LV MD ME MK PL RO RS RU SI SK UA XK".split()
)
EMERGING_REGIONS = (
    AFRICA | MIDDLE_EAST | LATIN_AMERICA | SOUTH_AND_SOUTHEAST_ASIA | CENTRAL_AND_EASTERN_EUROPE
)

CHINA = [
    "Pinduoduo",
    "Meituan",
    "Ele.me",
    "Luckin Coffee",
    "Taobao",
    "JD.com",
    "WeChat",
    "Alipay",
    "Didi",
    "Douyin",
    "Kuaishou",
    "Xiaohongshu",
    "Bilibili",
    "Tencent Music",
    "iQiyi",
    "Mobike",
    "Hema",
    "Cainiao",
    "Full Truck Alliance",
    "Beike",
    "Youzan",
    "NIO",
    "Keep",
    "Zhihu",
    "Ximalaya",
    "WeBank",
    "Trip.com",
    "Xiaomi",
    "Perfect Diary",
    "DingTalk",
    "Xingsheng Youxuan",
    "Ping An Good Doctor",
    "Genki Forest",
    "Zuoyebang",
    "Haier",
    "Tujia",
]
OVERSEAS = [
    "Groupon",
    "DoorDash",
    "Deliveroo",
    "Uber",
    "Grab",
    "Gojek",
    "Amazon",
    "Costco",
    "Starbucks",
    "PayPal",
    "M-Pesa",
    "Klarna",
    "Affirm",
    "Nubank",
    "Revolut",
    "LINE",
    "KakaoTalk",
    "TikTok Shop",
    "QVC",
    "Twitch",
    "Spotify",
    "Netflix",
    "Zara",
    "Shein",
    "Temu",
    "Peloton",
    "Duolingo",
    "Byju's",
    "Shopify",
    "Mercado Libre",
    "Shopee",
    "Coupang",
    "Meesho",
    "Instacart",
    "Amazon Go",
    "Lime",
    "Better Place",
    "Convoy",
    "Opendoor",
    "Tesla",
    "Rappi",
    "Kaspi.kz",
    "Paytm",
    "Reliance Jio",
    "Teladoc",
    "Airbnb",
    "Booking.com",
    "Dollar Shave Club",
    "Glossier",
    "Robinhood",
    "Slack",
    "Audible",
    "Quora",
    "Strava",
    "Flipkart",
    "Zillow",
]
CHINESE_FOUNDED_ABROAD = {"Shein", "Temu", "TikTok Shop"}


@pytest.fixture(scope="module")
def library():
    return scan_library(ROOT / "cases")


def test_every_file_is_valid(library):
    assert [str(e) for e in library.errors] == []


def test_enough_cases_with_unique_ids(library):
    ids = [case.id for case in library.cases]
    assert len(ids) >= MIN_CASES, f"{len(ids)} cases; issue 11 asks for {MIN_CASES} or more"
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("market,companies", [("china", CHINA), ("overseas", OVERSEAS)])
def test_every_listed_company_is_covered_in_its_market(library, market, companies):
    present = {(c.meta.company, c.meta.market.value) for c in library.cases}
    missing = [name for name in companies if (name, market) not in present]
    assert missing == []


def test_chinese_founded_overseas_businesses(library):
    for case in library.cases:
        if case.meta.company in CHINESE_FOUNDED_ABROAD:
            assert case.meta.market.value == "overseas" and case.meta.hq_country == "CN"


def test_word_range_and_sources(library):
    for case in library.cases:
        assert MIN_WORDS <= case.word_count <= MAX_WORDS, case.id
        assert len(case.meta.sources) >= 2, case.id


def test_library_is_balanced_and_tells_failures(library):
    markets = Counter(case.meta.market.value for case in library.cases)
    outcomes = Counter(case.meta.outcome.value for case in library.cases)
    assert min(markets.values()) >= 40
    assert outcomes["failed"] >= MIN_FAILED and outcomes["mixed"] >= MIN_MIXED, outcomes


@pytest.mark.parametrize("topic", list(GAP_TOPICS))
def test_every_gap_topic_has_cases(library, topic):
    sectors = GAP_TOPICS[topic]
    assert set(sectors) <= set(SECTORS), f"{sectors} left the sector vocabulary"
    found = [case.id for case in library.cases if case.meta.sector in sectors]
    assert len(found) >= MIN_CASES_PER_GAP_TOPIC, f"{topic}: only {found}"


def test_chinese_companies_abroad_outside_the_us_and_europe(library):
    found = [
        case.id
        for case in library.cases
        if case.meta.market.value == "overseas"
        and case.meta.hq_country == "CN"
        and not set(case.meta.countries) & (EUROPE | {"US"})
    ]
    assert len(found) >= MIN_CHINESE_ABROAD_OUTSIDE_US_EUROPE, found


def test_cases_from_emerging_regions(library):
    found = [c.id for c in library.cases if set(c.meta.countries) <= EMERGING_REGIONS]
    assert len(found) >= MIN_EMERGING_REGION_CASES, found


def test_every_file_states_as_of():
    """Read from the raw front matter, so a schema default could not hide a missing as_of."""
    files = [path for path in sorted((ROOT / "cases").rglob("*.md")) if path.name != "README.md"]
    missing = [p.name for p in files if "as_of" not in read_front_matter(p.read_bytes(), p.name)]
    assert files and missing == []


def test_library_has_no_warnings(library):
    warnings = library_warnings(library.cases, ROOT / "cases", date.today())
    assert [f"{w.path}:{w.line}: {w.kind} {w.field or ''} {w.message}" for w in warnings] == []


def test_cases_check_reports_zero_problems_and_warnings(monkeypatch):
    monkeypatch.setenv("ELSEWHERE_CASES_DIR", str(ROOT / "cases"))
    result = CliRunner().invoke(cli, ["cases", "check", "--json", "--strict"])
    payload = json.loads(result.output)
    assert (len(payload["problems"]), len(payload["warnings"])) == (0, 0)
    assert result.exit_code == 0
