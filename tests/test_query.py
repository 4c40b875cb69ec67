"""Geography and lever understanding: phrase tables, no model involved."""

from __future__ import annotations

import pytest

from app.query import detect_levers, detect_market
from ingest.schema import Lever, Market

CN, OS = Market.CHINA, Market.OVERSEAS

MARKETS = [
    ("How did delivery apps outside China keep customers?", None, OS),
    ("what worked abroad for bike sharing", None, OS),
    ("any overseas examples of membership fees", None, OS),
    ("How do Western platforms monetise free users?", None, OS),
    ("who solved rider supply in India", None, OS),
    ("subscription retention in the US", None, OS),
    ("grocery delivery in Europe", None, OS),
    ("Chinese apps that succeeded in the US", None, OS),
    ("How did Chinese platforms get shoppers to recruit friends?", None, CN),
    ("ride hailing price war in China", None, CN),
    ("what did China's super apps do about payments", None, CN),
    ("国外有哪些外卖平台解决了骑手供给问题", None, OS),
    ("海外的会员制度", None, OS),
    ("中国以外的直播电商", None, OS),
    ("国内的社区团购怎么做的", None, CN),
    ("中国的共享单车为什么失败", None, CN),
    (
        "We run grocery delivery in the US and lose money. Did any Chinese grocer make it pay?",
        OS,
        CN,
    ),
    ("why do big Western platforms keep failing in China?", OS, CN),
    ("why do big Western platforms keep failing in China?", None, CN),
    ("Chinese apps do this with subsidies. What did companies outside China do?", None, OS),
    ("how did super apps play out in emerging markets?", None, OS),
    ("rate parity clauses and EU regulators", None, OS),
    ("can a US-style shopper model work for supermarkets?", None, OS),
    ("food delivery in lower-income Latin American cities", None, OS),
    ("what happened in the U.S. with BNPL", None, OS),
    ("how do US services price audiobooks?", None, OS),
    ("在中国，会员制怎么做？", None, CN),
    ("who elsewhere solved churn", CN, OS),
    ("who elsewhere solved churn", OS, CN),
    ("who elsewhere solved churn", None, None),
    ("how to lower customer acquisition cost", None, None),
    ("the user base keeps churning", None, None),
]


@pytest.mark.parametrize("question,asker,expected", MARKETS)
def test_market_filter_from_question(question, asker, expected):
    assert detect_market(question, asker)[0] == expected


LEVERS = [
    ("How do we monetise free users?", {Lever.REVENUE}),
    ("our CAC keeps rising", {Lever.ACQUISITION}),
    ("getting merchants and drivers onto the platform", {Lever.SUPPLY}),
    ("margins are thin and logistics costs high", {Lever.COST}),
    ("customers churn after the first order", {Lever.DEMAND}),
    ("pricing a subscription to improve retention", {Lever.REVENUE, Lever.DEMAND}),
    ("如何变现", {Lever.REVENUE}),
    ("获客成本越来越高", {Lever.ACQUISITION, Lever.COST}),
    ("骑手供给不足", {Lever.SUPPLY}),
    ("用户留存和复购", {Lever.DEMAND}),
    ("tell me about Meituan", set()),
]


@pytest.mark.parametrize("question,expected", LEVERS)
def test_levers_from_question(question, expected):
    assert set(detect_levers(question)) == expected


def test_chinese_business_terms_get_english_glosses():
    from app.query import english_glosses

    assert english_glosses("国外的外卖平台怎么用会员提高复购？") == (
        "food delivery membership subscription repeat orders frequency retention"
    )
    assert english_glosses("获客成本越来越高") == "customer acquisition cost CAC"  # longest first
    assert english_glosses("how do we reduce churn") == ""
