"""Geography and lever understanding: phrase tables, no model involved."""

from __future__ import annotations

import pytest

from app.query import detect_levers, detect_market, exclusions, region_countries
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
    ("哪些中国公司出海后被当地监管卡住了？", None, OS),  # going abroad is the market
    ("国内品牌出海东南亚，谁做好了本地化？", None, OS),
    ("中国企业走出去，在拉美怎么招人？", CN, OS),
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


# Compound and exclusive place phrases (issue 9): excluding China means overseas; excluding
# other places says nothing about the market; the excluded places are not the place asked about.
COMPOUND = [
    ("Outside the US and China, who got people to buy online?", None, OS),
    ("outside of China and the US, which apps kept riders?", None, OS),
    ("Except for China, where did live commerce work?", None, OS),
    ("apart from China and Europe, who made BNPL pay?", None, OS),
    ("other than the US or China, any super-app profits?", None, OS),
    ("what worked in emerging markets for cash payments", None, OS),
    ("In Latin America or Southeast Asia, which super-apps got to profit?", None, OS),
    ("Latin America, Africa or India: who reached the unbanked?", None, OS),
    ("outside Europe, who did buy now pay later", None, None),
    ("outside the US, how did delivery memberships do", None, None),
    ("欧洲以外有哪些先买后付做成了", None, None),
    ("欧洲以外的海外市场，有哪些先买后付做成了的？", None, OS),
    ("除了中国和美国，哪里的外卖平台用会员提升了复购？", None, OS),
    ("除了美国，中国的会员怎么做的", None, CN),
    ("除中国外，哪里的直播电商做起来了", None, OS),
    ("美国和中国以外的市场怎么做货到付款", None, OS),
    ("在新兴市场怎么做支付", None, None),
]


# Where the asker says where they are, the place is theirs, not the market asked about: no
# filter, though it says what "elsewhere" means. Where they sell or expand is what they ask about.
OWN_PLACE = [
    ("We run an invoicing app for small firms in Mexico. Who got small firms to pay?", None, None),
    ("we're a branchless neobank in Europe. how did other challenger banks sign up?", None, None),
    ("I'm based in Nigeria, who elsewhere solved cash payments?", None, CN),
    ("As a grocer in the US, what did others do about waste?", None, None),
    ("我们在印度做外卖，骑手流失严重，别的市场怎么解决的？", None, CN),
    ("我们是一家美国的SaaS公司，别的市场怎么收费？", None, CN),
    ("We're a US grocer; what did Chinese grocers do about fresh food waste?", None, CN),
    ("we're expanding into Brazil. who solved last-mile delivery there?", None, OS),
    ("our users in India won't pay upfront. who fixed that?", None, OS),
    ("We sell games, but players in emerging markets won't pay. What worked?", None, OS),
    ("we're in Kenya: who solved cash payments in Africa?", None, OS),
    # an alternative after the ask is not the ask
    ("国外有没有直播带货做起来的？还是只有国内玩得转？", None, OS),
    ("Did live commerce take off abroad? Or only in China?", None, OS),
]


@pytest.mark.parametrize("question,asker,expected", OWN_PLACE)
def test_the_askers_own_place_is_no_filter(question, asker, expected):
    assert detect_market(question, asker)[0] == expected


@pytest.mark.parametrize("question,asker,expected", COMPOUND)
def test_compound_and_exclusive_places(question, asker, expected):
    assert detect_market(question, asker)[0] == expected


REGIONS = [
    (
        "In Latin America or Southeast Asia, which super-apps got to profit?",
        {"BR", "MX", "ID"},
        {"US"},
    ),
    ("what worked in emerging markets for cash payments", {"KE", "IN", "BR", "ID"}, {"US", "GB"}),
    ("Any examples from Africa of cheap phones?", {"NG", "KE"}, {"BR"}),
    ("Outside the US and China, who got people to buy online?", set(), {"US", "CN"}),
    ("outside Europe, who did buy now pay later", set(), {"DE", "SE"}),
    ("在东南亚，哪些平台靠补贴包邮打赢了？", {"ID", "VN", "SG"}, {"BR"}),
    ("除了中国和美国，哪里的外卖平台用会员提升了复购？", set(), {"US"}),
    ("欧洲以外的海外市场，有哪些先买后付", set(), {"DE", "GB"}),
    ("拉美或者印度的超级应用", {"BR", "CO", "IN"}, {"SG"}),
    ("how to lower customer acquisition cost", set(), {"US"}),
    # the asker's own place is no region to prefer (as it is no market filter)
    ("We run an invoicing app for small firms in Mexico. Who got them to pay?", set(), {"MX"}),
    ("我们在东南亚做电商，怎么获取第一批卖家？", set(), {"ID", "SG"}),
    ("We're a neobank in Europe. Who in Latin America signed up users cheaply?", {"BR"}, {"DE"}),
]


@pytest.mark.parametrize("question,included,excluded", REGIONS)
def test_regions_named_in_the_question(question, included, excluded):
    countries = region_countries(question)
    assert included <= countries
    assert not (excluded & countries)


def test_exclusions_cut_the_place_list():
    text, excluded = exclusions("outside the us and china, who did it?")
    assert excluded == ["outside the us and china"] and "china" not in text


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


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which companies failed trying to do instant grocery delivery, and why?", True),
        ("I want the cautionary tales: startups that still died.", True),
        ("有哪些不要店员的便利店最后失败了，为什么？", True),
        ("哪些P2P平台暴雷了？", True),
        ("we lose money on every basket; who fixed that?", False),  # a problem, not a request
        ("Our drivers keep leaving for competitors.", False),
        ("我们的外卖平台补贴烧钱太多", False),
    ],
)
def test_a_question_asking_for_failures_outright(question, asks):
    from app.query import asks_for_failures, parse_question

    assert asks_for_failures(question) is asks
    assert parse_question(question).failures is asks
