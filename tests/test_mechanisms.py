"""The mechanism vocabulary: the shipped file is valid, and a bad one gets a clear error."""

from __future__ import annotations

import pytest

from app.errors import LibraryError
from ingest.mechanisms import load_mechanisms, mechanism_ids, parse_mechanisms
from ingest.schema import has_chinese

ENTRY = {
    "id": "razor-and-blade",
    "name_en": "Razor and blade",
    "name_zh": "剃须刀与刀片",
    "definition_en": "Device at cost, margin from refills.",
    "definition_zh": "设备按成本卖，靠耗材赚钱。",
    "paraphrases_en": ["sell the device at cost", "earn later from refills"],
    "paraphrases_zh": ["硬件不赚钱", "靠后续耗材赚钱"],
}


def test_shipped_vocabulary_is_valid_and_bilingual():
    mechanisms = load_mechanisms()
    assert 30 <= len(mechanisms) <= 45
    assert len(set(mechanism_ids())) == len(mechanisms)
    for m in mechanisms:
        assert has_chinese(m.name_zh) and has_chinese(m.definition_zh), m.id
        assert all(has_chinese(p) for p in m.paraphrases_zh), m.id
        assert not any(has_chinese(p) for p in m.paraphrases_en), m.id
    assert {"freemium", "razor-and-blade", "team-buying", "cash-on-delivery"} <= set(
        mechanism_ids()
    )


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"id": "Razor Blade"}, "lowercase slug"),
        ({"definition_zh": ""}, "`definition_zh` is missing or empty"),
        ({"paraphrases_en": ["only one"]}, "`paraphrases_en` needs at least 2"),
        ({"colour": "red"}, "unknown field(s) ['colour']"),
    ],
)
def test_bad_entry_is_named(change, expected):
    with pytest.raises(LibraryError, match=".*") as info:
        parse_mechanisms([{**ENTRY, **change}], "vocab.yaml")
    assert "vocab.yaml entry 1" in str(info.value)
    assert expected in str(info.value)


def test_duplicate_id_is_refused():
    with pytest.raises(LibraryError) as info:
        parse_mechanisms([ENTRY, ENTRY], "vocab.yaml")
    assert "entry 2 (razor-and-blade): duplicate id 'razor-and-blade'" in str(info.value)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("拼团这种模式在海外有人做成功吗？", {"team-buying"}),  # the Chinese name
        ("Who made freemium work for small teams?", {"freemium"}),
        ("bike sharing deposits in China", {"customer-float"}),  # a part in parentheses
        ("我们想试试换电，有先例吗", {"asset-as-a-service"}),  # 资产即服务（换电、租赁）
        ("Cash-on-delivery in Africa", {"cash-on-delivery"}),  # hyphens, any case
        ("Which instant grocery startups failed?", {"dark-store-rapid-delivery"}),
        ("前置仓在海外有人做成吗", {"dark-store-rapid-delivery"}),
        ("social media ads for a bakery", set()),  # "Social / team buying": too generic a part
        ("a subscriptionless model", set()),  # whole words only
    ],
)
def test_a_question_naming_a_mechanism_matches_it(question, expected):
    from app.mechanisms import named_mechanisms

    assert named_mechanisms(question) == expected


def test_named_mechanism_matches_first_even_below_the_bar():
    from app.mechanisms import MechanismMatcher
    from ingest.embed import make_embeddings

    matcher = MechanismMatcher(make_embeddings("hash"))
    found = matcher.match("拼团这种模式在海外有人做成功吗？", 0.99, 2, names=True)
    assert found[0].id == "team-buying" and found[0].similarity == 1.0
    assert all(m.similarity >= 0.99 for m in found)
    assert "team-buying" not in [m.id for m in matcher.match("拼团这种模式", 0.99, 2)]
