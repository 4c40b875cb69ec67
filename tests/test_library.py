"""The real case library: coverage promised in the case-library issue, and every file valid."""

from __future__ import annotations

from collections import Counter

import pytest

from ingest.parse import scan_library
from ingest.schema import MAX_WORDS, MIN_WORDS
from tests.conftest import ROOT

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


def test_at_least_100_cases_with_unique_ids(library):
    ids = [case.id for case in library.cases]
    assert len(ids) >= 100
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
    assert outcomes["failed"] >= 8 and outcomes["mixed"] >= 20
