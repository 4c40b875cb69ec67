"""What a question says beyond its topic: which market it asks about and which levers.

Both are plain phrase tables, checked by tests; no model is trusted with either. Geography:
an explicit "outside China" / "abroad" / "in India" means overseas; "in China" / "Chinese" /
"国内" means china; "elsewhere" means the market other than the asker's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.schema import Lever, Market, has_chinese

# Places outside mainland China that name a market on their own ("in India", "Indian apps").
_PLACES = (
    "america",
    "united states",
    "europe",
    "britain",
    "england",
    "germany",
    "france",
    "spain",
    "italy",
    "netherlands",
    "sweden",
    "india",
    "japan",
    "korea",
    "brazil",
    "mexico",
    "latin america",
    "latam",
    "southeast asia",
    "south-east asia",
    "indonesia",
    "vietnam",
    "thailand",
    "philippines",
    "malaysia",
    "singapore",
    "africa",
    "kenya",
    "nigeria",
    "kazakhstan",
    "australia",
    "canada",
    "israel",
    "denmark",
    "argentina",
    "colombia",
    "turkey",
    "middle east",
    "silicon valley",
    "emerging markets?",
    "developing markets?",
)
_DEMONYMS = (
    "american",
    "european",
    "british",
    "indian",
    "japanese",
    "korean",
    "brazilian",
    "african",
    "indonesian",
    "latin american",
    "western",
    "mexican",
    "german",
    "french",
    "kenyan",
)
_NOUNS = (
    "companies",
    "firms",
    "startups",
    "players",
    "apps",
    "platforms",
    "brands",
    "banks",
    "retailers",
    "markets?",
    "services",
    "regulators",
    "consumers",
    "users",
    "shoppers",
)
# Strong signals name where: "in the US", "outside China", "海外". Weak ones describe: "Western".
_OVERSEAS_STRONG = [
    r"\boutside (of )?(mainland )?china\b",
    r"\bbeyond china\b",
    r"\babroad\b",
    r"\boverseas\b",
    r"\bthe west\b",
    r"\binternational(ly)?\b",
    r"\bglobal markets?\b",
    r"\b(in|across|from|of) the (us|usa|u\.s\.|uk|eu)(?!\w)",
    r"\bus-style\b",
    r"\beu\b",
    r"\b(" + "|".join(_PLACES) + r")\b",
    "国外",
    "海外",
    "外国",
    "国际",
    "境外",
    "欧美",
    "美国",
    "欧洲",
    "英国",
    "印度",
    "日本",
    "韩国",
    "东南亚",
    "拉美",
    "巴西",
    "非洲",
    "印尼",
    "中国以外",
    "中国之外",
    "除中国",
    "西方",
]
_OVERSEAS_WEAK = [
    r"\b(" + "|".join(_DEMONYMS) + r")\b",
    r"\bnon-chinese\b",
    r"\b(us|u\.s\.|uk|foreign) (" + "|".join(_NOUNS) + r")\b",
]
_CHINA_STRONG = [
    r"\b(in|inside|within|across|from) (mainland )?china\b",
    r"\bmainland\b",
    r"\bprc\b",
    r"\b(shanghai|beijing|shenzhen|hangzhou|guangzhou|chengdu)\b",
    "国内",
    "在中国",
    "中国市场",
    "大陆",
    "内地",
    "本土",
]
_CHINA_WEAK = [r"\bchinese\b", r"\bchina'?s\b", r"\bchina\b", "中国", "国产"]
# Going abroad (出海, 走出去) is itself the market: a Chinese firm selling abroad is an overseas
# case (DESIGN: Temu, Shein), whatever else the sentence says ("国内品牌出海东南亚").
_GOING_ABROAD = re.compile(r"出海|走出去")
_SENTENCE = re.compile(r"(?<=[.?!。？！;；])\s*|\n+")
_ELSEWHERE_PATTERNS = [
    r"\belsewhere\b",
    r"\bother markets?\b",
    r"\bthe other market\b",
    "其他市场",
    "别的市场",
]

_LEVER_PATTERNS: dict[Lever, list[str]] = {
    Lever.REVENUE: [
        r"monetis",
        r"monetiz",
        r"\brevenue",
        r"\bpricing\b",
        r"\bprice(s|d)?\b",
        r"\bfees?\b",
        r"\bcommission",
        r"\btake rate",
        r"\bsubscription",
        r"\bpaywall",
        r"\bpaid\b",
        r"\badvertis",
        r"\bads\b",
        r"\bmake money\b",
        r"\bwillingness to pay\b",
        r"\bupsell",
        "变现",
        "收入",
        "营收",
        "定价",
        "收费",
        "佣金",
        "付费",
        "广告",
        "赚钱",
        "盈利模式",
    ],
    Lever.ACQUISITION: [
        r"\bacquisition\b",
        r"\bacquir",
        r"\bcac\b",
        r"\bgrowth\b",
        r"\bgrow\b",
        r"\breferr",
        r"\bviral",
        r"\brecruit",
        r"\binvit",
        r"\bnew users\b",
        r"\bmarketing\b",
        r"\bsign[- ]?ups?\b",
        r"\bonboard(ing)? (users|customers)\b",
        r"\bcold start\b",
        r"\bword of mouth\b",
        "获客",
        "拉新",
        "增长",
        "裂变",
        "推荐",
        "邀请",
        "营销",
        "新用户",
        "冷启动",
    ],
    Lever.SUPPLY: [
        r"\bsupply\b",
        r"\bmerchants?\b",
        r"\bsellers?\b",
        r"\bdrivers?\b",
        r"\briders?\b",
        r"\bcouriers?\b",
        r"\bsuppliers?\b",
        r"\bhosts?\b",
        r"\bcreators?\b",
        r"\binventory\b",
        r"\bagents?\b",
        r"\bvendors?\b",
        r"\bsupply side\b",
        r"\bmanufactur",
        "供给",
        "供应",
        "商家",
        "司机",
        "骑手",
        "卖家",
        "商户",
        "创作者",
        "主播",
        "货源",
    ],
    Lever.COST: [
        r"\bcosts?\b",
        r"\bmargins?\b",
        r"\bunit economics\b",
        r"\bprofitab",
        r"\bburn",
        r"\blogistics\b",
        r"\bcheaper\b",
        r"\bexpens",
        r"\bbreak[- ]?even\b",
        r"\blosses\b",
        "成本",
        "利润",
        "毛利",
        "盈利",
        "亏损",
        "烧钱",
        "物流",
        "单位经济",
    ],
    Lever.DEMAND: [
        r"\bdemand\b",
        r"\bretention\b",
        r"\bretain",
        r"\bchurn",
        r"\bfrequency\b",
        r"\bengagement\b",
        r"\bloyal",
        r"\brepeat\b",
        r"\bcome back\b",
        r"\bkeep (customers|users)",
        r"\bhabit",
        r"\bstickiness\b",
        r"\bsticky\b",
        "需求",
        "留存",
        "流失",
        "复购",
        "频次",
        "黏性",
        "粘性",
        "忠诚",
        "回头客",
        "活跃",
    ],
}


GLOSSARY_PATH = Path(__file__).with_name("data") / "glossary.yaml"


@functools.cache
def _glossary() -> tuple[tuple[str, str], ...]:
    import yaml

    entries = yaml.safe_load(GLOSSARY_PATH.read_text(encoding="utf-8")) or {}
    # longest terms first, so 获客成本 is used before 获客
    return tuple(sorted(((str(k), str(v)) for k, v in entries.items()), key=lambda kv: -len(kv[0])))


def english_glosses(question: str) -> str:
    """English search words for the Chinese business terms in a question ("" if none).

    The case files are English; appending "food delivery membership" to "外卖会员" lets BM25
    and the encoder match them. Terms are consumed longest first so a phrase is glossed once.
    """
    if not has_chinese(question):
        return ""
    rest, words = question, []
    for term, gloss in _glossary():
        if term in rest:
            words.append(gloss)
            rest = rest.replace(term, " ")
    return " ".join(words)


# Regions a question can name, with the countries (ISO 3166 alpha-2) they cover, so results
# from those countries can be preferred. Keys are regexes (English, lower case) or Chinese.
_EU = ("GB", "IE", "FR", "DE", "IT", "ES", "PT", "NL", "BE", "SE", "DK", "NO", "FI", "PL",
       "LT", "AT", "CH", "IS")  # fmt: skip
_LATAM = ("BR", "MX", "AR", "CO", "CL", "PE", "UY", "EC", "CR")
_SEA = ("SG", "MY", "ID", "TH", "VN", "PH", "MM", "KH")
_AFRICA = ("NG", "GH", "KE", "ET", "TZ", "UG", "EG", "ZA")
_SOUTH_ASIA = ("IN", "PK", "BD")
REGIONS: dict[str, tuple[str, ...]] = {
    r"latin america|latam|south america|拉美|南美": _LATAM,
    r"south-?east asia|东南亚": _SEA,
    r"africa|非洲": _AFRICA,
    r"europe|\beu\b|欧洲": _EU,
    r"emerging markets?|developing markets?|新兴市场": _LATAM
    + _SEA
    + _AFRICA
    + _SOUTH_ASIA
    + ("KZ",),
    r"middle east|中东": ("AE", "KW", "QA", "SA", "IL", "TR", "EG"),
    r"\b(us|usa|united states)\b|(?<!latin )(?<!south )(?<!north )\bamerica\b|美国": ("US",),
    r"\b(uk|britain|england)\b|英国": ("GB",),
    r"\bindia\b|印度": ("IN",),
    r"\bbrazil\b|巴西": ("BR",),
    r"\bmexico\b|墨西哥": ("MX",),
    r"\bindonesia\b|印尼": ("ID",),
    r"\bjapan\b|日本": ("JP",),
    r"\bkorea\b|韩国": ("KR",),
    r"\bkenya\b|肯尼亚": ("KE",),
    r"\bnigeria\b|尼日利亚": ("NG",),
    r"\bgermany\b|德国": ("DE",),
    r"\bfrance\b|法国": ("FR",),
}
# "outside the US and China", "other than Europe", "除了中国和美国", "欧洲以外": the places named
# are excluded. Excluding China means overseas; excluding only other places says nothing of
# the market, and those places must not count as the place asked about.
_PLACE_WORD = (
    r"(?:the |mainland )?(?:china|us|usa|uk|eu|"
    + "|".join(_PLACES)
    + r"|"
    + "|".join(_DEMONYMS)
    + r")\b"
)
_EXCLUDE_EN = re.compile(
    r"\b(?:outside|beyond|except(?: for| in)?|excluding|other than|apart from|besides|not in)"
    r"(?: of)? (" + _PLACE_WORD + r"(?:(?:,| and| or| &|, and|, or) " + _PLACE_WORD + r")*)"
)
_ZH_PLACE = r"(?:中国|国内|大陆|美国|欧洲|英国|印度|日本|韩国|东南亚|拉美|巴西|非洲|印尼|欧美|北美)"
_ZH_LIST = _ZH_PLACE + r"(?:[和、与及或跟]" + _ZH_PLACE + r")*"
_EXCLUDE_ZH = re.compile(
    r"除(?:了)?(" + _ZH_LIST + r")(?:以外|之外|外)?|(" + _ZH_LIST + r")(?:以外|之外)"
)
_CHINA_WORDS = re.compile(r"china|中国|国内|大陆")


@dataclass(frozen=True)
class QueryIntent:
    market: Market | None
    levers: tuple[Lever, ...]
    countries: frozenset[str] = frozenset()  # countries of the regions the question asks about
    failures: bool = False  # the question asks for failures outright ("which ones failed")
    market_phrase: str | None = None  # what in the question set `market` ("国外", "in india")


def exclusions(text: str) -> tuple[str, list[str]]:
    """The text without its exclusive place phrases, and the phrases themselves ("outside the
    us and china")."""
    excluded: list[str] = []

    def cut(match: re.Match[str]) -> str:
        excluded.append(match.group(0).strip())
        return " "

    text = _EXCLUDE_EN.sub(cut, text)
    text = _EXCLUDE_ZH.sub(cut, text)
    return text, excluded


def region_countries(question: str) -> frozenset[str]:
    """Countries of the regions a question names (not those it excludes, nor the asker's own,
    as in detect_market): "in Latin America or Southeast Asia" -> BR, MX, ..., SG, ID, ...;
    "We run an invoicing app for small firms in Mexico. Who ...?" -> none (the asker in Mexico
    learns from Slack, not from a Mexican food-delivery app)."""
    parts = [part for part in _SENTENCE.split(_normalise(question)) if part.strip()]
    text, _ = exclusions(" ".join(_without_self(part) for part in parts))
    found: set[str] = set()
    for pattern, countries in REGIONS.items():
        if re.search(pattern, text):
            found.update(countries)
    return frozenset(found)


def _first_hit(patterns: list[str], text: str) -> str | None:
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            return match.group(0)
    return None


def detect_market(question: str, asker: Market | None = None) -> tuple[Market | None, str | None]:
    """The market a question asks about, and the phrase that said so (None if it does not).

    The ask is usually the last sentence ("We sell groceries in the US. Did any Chinese grocer
    make it pay?"), so sentences are read from the end. Within one, a place ("in India",
    "outside China", "国内") beats a description ("Chinese", "Western"); when a sentence names
    both markets equally, the asker's other market wins, or nothing is assumed.

    Where the asker says where they are ("We run an invoicing app in Mexico", "we're a neobank
    in Europe", "我们在印度做外卖"), the place is the asker's market, not the one asked about:
    those clauses are no filter (a PM in Mexico learns from Toast and from DingTalk), though
    they say what "elsewhere" means. An alternative tacked on after the ask ("国外有没有做起来
    的？还是只有国内玩得转？", "... or only in China?") is not the ask either.
    """
    text = _normalise(question)
    parts = [part for part in _SENTENCE.split(text) if part.strip()]
    if asker is None:
        asker = _own_market(parts)
    for sentence in reversed(parts):
        if _ALTERNATIVE.match(sentence) and len(parts) > 1:
            continue
        sentence, excluded = exclusions(_without_self(sentence))
        china_out = next((e for e in excluded if _CHINA_WORDS.search(e)), None)
        if china_out is not None:
            return Market.OVERSEAS, china_out
        abroad = _GOING_ABROAD.search(sentence)
        if abroad:
            return Market.OVERSEAS, abroad[0]
        hit_o, hit_c = _place_hits(sentence)
        if hit_o and hit_c:
            # both markets at the same strength: a weaker signal will not settle it
            return (asker.other, f"{hit_o} / {hit_c}") if asker is not None else (None, None)
        if hit_o:
            return Market.OVERSEAS, hit_o
        if hit_c:
            return Market.CHINA, hit_c
    hit = _first_hit(_ELSEWHERE_PATTERNS, text)
    if hit and asker is not None:
        return asker.other, hit
    return None, None


# A clause in which the asker says where they are: "we're a neobank in Europe", "we run grocery
# delivery in the US", "I'm based in Lagos", "我们在印度做外卖", "我们是一家美国的SaaS公司".
# Not "we're expanding into Brazil" or "our users in India" (where they sell is what they ask
# about), nor a clause that goes on to ask ("we're in Kenya: who solved ...").
_SELF = re.compile(
    r"^(?:as (?:an?|the) [^,;:]{0,60}? in\b"
    r"|(?:we|i)\s*(?:'re|'m| are| am)\s+(?:an?|the|based|located|headquartered)\b"
    r"|(?:we|i)\s+(?:run|operate|own|sell|build|make|manage)\b"
    r"|我们(?:是|在)|我司(?:是|在)|我(?:是|在))"
)
_CLAUSE = re.compile(r"[,，:：]\s*|\s+but\s+|\s*(?:但是?|不过)\s*")
_ASKS = re.compile(
    r"\?|？|\b(?:who|which|what|how|did|does|has|have|any)\b|谁|哪些|怎么|如何|有没有"
)
# "还是只有国内玩得转？", "or only in China?": an alternative after the ask.
_ALTERNATIVE = re.compile(r"^(?:还是|或者|or (?:only|just|is it)\b)")


def _self_clauses(sentence: str) -> list[str]:
    return [
        c for c in _CLAUSE.split(sentence.strip()) if _SELF.match(c.strip()) and not _ASKS.search(c)
    ]


def _without_self(sentence: str) -> str:
    """The sentence without the clauses in which the asker says where they are."""
    for clause in _self_clauses(sentence):
        sentence = sentence.replace(clause, " ")
    return sentence


def _own_market(sentences: Sequence[str]) -> Market | None:
    """The asker's market where they say where they are (see _SELF), else None."""
    for sentence in sentences:
        for clause in _self_clauses(sentence):
            hit_o, hit_c = _place_hits(clause)
            if hit_o or hit_c:
                return None if hit_o and hit_c else Market.OVERSEAS if hit_o else Market.CHINA
    return None


def _place_hits(text: str) -> tuple[str | None, str | None]:
    """(overseas phrase, China phrase) at the strongest level where `text` names either market
    (a place such as "in india" beats a description such as "chinese"); (None, None) if none."""
    for overseas, china in ((_OVERSEAS_STRONG, _CHINA_STRONG), (_OVERSEAS_WEAK, _CHINA_WEAK)):
        hits = _first_hit(overseas, text), _first_hit(china, text)
        if any(hits):
            return hits
    return None, None


def _normalise(question: str) -> str:
    return question.lower().replace("\u2019", "'").replace("u.s.", "us").replace("u.k.", "uk")


def detect_levers(question: str) -> tuple[Lever, ...]:
    """Levers a question is about, in the fixed lever order."""
    text = question.lower()
    return tuple(lever for lever in Lever if _first_hit(_LEVER_PATTERNS[lever], text))


# Asking for failures outright, not describing one's own trouble ("we lose money on every
# basket" is a problem, "which ones failed" a request): the words name the outcome.
_FAILURES = re.compile(
    r"\b(?:failed|failures?|collapsed?|went (?:bust|under)|shut down|died|cautionary tales?)\b"
    r"|失败|倒闭|暴雷|破产|关门|死掉",
    re.IGNORECASE,
)


def asks_for_failures(question: str) -> bool:
    return bool(_FAILURES.search(question))


def parse_question(question: str, asker: Market | None = None) -> QueryIntent:
    market, phrase = detect_market(question, asker)
    return QueryIntent(
        market,
        detect_levers(question),
        region_countries(question),
        asks_for_failures(question),
        phrase,  # None whenever market is
    )
