"""The validator: one clear error per problem, with file, line, field and expectation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.errors import CaseFileError
from ingest.parse import read_case, scan_library
from tests.casegen import case_text, write_case


def _write(cases: Path, name: str, data: bytes | str, market: str = "overseas") -> Path:
    path = cases / market / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _problems(path: Path, cases: Path) -> list[str]:
    with pytest.raises(CaseFileError) as info:
        read_case(path, cases)
    return [str(p) for p in info.value.problems]


def test_valid_case_parses(settings):
    path = write_case(settings.cases_dir, "dash-club", "DashClub")
    case = read_case(path, settings.cases_dir)
    assert case.id == "dash-club"
    assert case.meta.market.value == "overseas"
    assert list(case.sections)[:3] == ["Context", "Problem", "What they did"]
    assert 500 <= case.word_count <= 1200
    assert case.relpath == "cases/overseas/dash-club.md"


GOOD = case_text("acme", "Acme")

BAD_FILES = [
    # (name, content, expected fragment of the message)
    ("malformed-yaml", GOOD.replace("market: overseas", "market: [overseas"), "not valid YAML"),
    ("missing-field", GOOD.replace("outcome: worked\n", ""), "`outcome` is required but missing"),
    (
        "wrong-market",
        GOOD.replace("market: overseas", "market: CN"),
        "`market` must be 'china' or 'overseas', got 'CN'",
    ),
    (
        "wrong-sector",
        GOOD.replace("sector: food-delivery", "sector: food"),
        "`sector` must be one of",
    ),
    ("wrong-type", GOOD.replace("countries:\n- US", "countries: 12"), "`countries`"),
    ("bad-lever", GOOD.replace("levers:\n- demand", "levers:\n- marketing"), "`levers.0`"),
    (
        "unknown-mechanism",
        GOOD.replace("mechanisms:\n- subscription", "mechanisms:\n- subscriptions"),
        "unknown mechanism(s) 'subscriptions'; valid ids (ingest/data/mechanisms.yaml): freemium,",
    ),
    (
        "missing-mechanisms",
        GOOD.replace("mechanisms:\n- subscription\n", ""),
        "`mechanisms` is required but missing",
    ),
    (
        "too-many-mechanisms",
        GOOD.replace(
            "mechanisms:\n- subscription",
            "mechanisms: [freemium, subscription, escrow, franchising, live-commerce, "
            "referral-rewards, dynamic-pricing]",
        ),
        "`mechanisms`",
    ),
    ("bad-year", GOOD.replace("years: 2018-2022", "years: 2022-2018"), "start <= end"),
    ("bad-as-of", GOOD.replace("as_of: 2026-11", "as_of: 2026-13"), "`as_of` must be YYYY-MM"),
    ("future-as-of", GOOD.replace("as_of: 2026-11", "as_of: 2099-01"), "is in the future"),
    ("missing-as-of", GOOD.replace("as_of: 2026-11\n", ""), "`as_of` is required but missing"),
    (
        "unknown-field",
        GOOD.replace("outcome: worked", "outcome: worked\nrating: 5"),
        "`rating` is not a known field",
    ),
    ("no-front-matter", "# Just a title\n", "must start with a `---` line"),
    ("unclosed-front-matter", "---\nid: x\n", "no closing `---`"),
    ("missing-section", GOOD.replace("## Cost model", "## Costs"), "unknown section `## Costs`"),
    ("too-short", GOOD.split("## Problem")[0], "words; expected 500 to 1200"),
    (
        "chinese-in-company",
        GOOD.replace("company: Acme", "company: Acme (阿克米)"),
        "put the Chinese name in company_zh",
    ),
]


@pytest.mark.parametrize("name,content,expected", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_gets_clear_error(settings, name, content, expected):
    content = content.replace("id: acme", f"id: {name}")
    path = _write(settings.cases_dir, f"{name}.md", content)
    problems = _problems(path, settings.cases_dir)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(f"cases/overseas/{name}.md") for p in problems)


def test_error_names_the_line_of_the_field(settings):
    path = _write(settings.cases_dir, "acme.md", GOOD.replace("market: overseas", "market: CN"))
    problems = _problems(path, settings.cases_dir)
    line_no = GOOD.split("\n").index("market: overseas") + 1
    assert f"cases/overseas/acme.md line {line_no}: `market`" in problems[0]


def test_empty_file(settings):
    path = _write(settings.cases_dir, "empty.md", b"")
    assert _problems(path, settings.cases_dir) == [
        "cases/overseas/empty.md: is empty; start from `elsewhere cases new`"
    ]


def test_non_utf8_bytes(settings):
    path = _write(settings.cases_dir, "latin1.md", GOOD.replace("Acme", "Acmé").encode("latin-1"))
    (problem,) = _problems(path, settings.cases_dir)
    assert "is not valid UTF-8" in problem and "line 3" in problem


def test_oversized_file_is_refused_before_reading(settings):
    path = _write(settings.cases_dir, "huge.md", GOOD + "x" * 70_000)
    (problem,) = _problems(path, settings.cases_dir)
    assert "may be at most 65,536 bytes" in problem


def test_symlink_outside_cases_folder(settings, tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text(GOOD, encoding="utf-8")
    link = settings.cases_dir / "overseas" / "acme.md"
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    (problem,) = _problems(link, settings.cases_dir)
    assert "points outside the cases folder" in problem


def test_symlink_inside_cases_folder_is_fine(settings):
    real = write_case(settings.cases_dir, "acme", "Acme")
    link_dir = settings.cases_dir / "overseas" / "more"
    link_dir.mkdir()
    os.symlink(real, link_dir / "acme.md")
    assert read_case(link_dir / "acme.md", settings.cases_dir).id == "acme"


def test_market_must_match_folder(settings):
    path = _write(settings.cases_dir, "acme.md", GOOD, market="china")
    problems = _problems(path, settings.cases_dir)
    assert any("move it to overseas/" in p for p in problems)
    assert any("company_zh" not in p for p in problems)


def test_id_must_match_file_name(settings):
    path = _write(settings.cases_dir, "other-name.md", GOOD)
    assert any("rename the file to acme.md" in p for p in _problems(path, settings.cases_dir))


def test_china_case_needs_chinese_name(settings):
    text = case_text("acme", "Acme", market="china").replace("company_zh: 测试公司\n", "")
    path = _write(settings.cases_dir, "acme.md", text, market="china")
    assert any("`company_zh` is required" in p for p in _problems(path, settings.cases_dir))


def test_duplicate_id_is_an_error_on_every_file_naming_the_others(settings):
    write_case(settings.cases_dir, "acme", "Acme")
    dup = settings.cases_dir / "overseas" / "zz" / "acme.md"
    dup.parent.mkdir()
    dup.write_text(GOOD, encoding="utf-8")
    scan = scan_library(settings.cases_dir)
    assert scan.cases == []
    first, second = sorted(str(error) for error in scan.errors)
    assert first.startswith("cases/overseas/acme.md line 2: `id`")
    assert "also the id of cases/overseas/zz/acme.md" in first
    assert second.startswith("cases/overseas/zz/acme.md line 2: `id`")
    assert "also the id of cases/overseas/acme.md" in second


def test_id_reused_across_markets_names_both_files(settings):
    write_case(settings.cases_dir, "acme", "Acme", market="overseas")
    write_case(settings.cases_dir, "acme", "Acme", market="china")
    scan = scan_library(settings.cases_dir)
    assert scan.cases == [] and len(scan.errors) == 2
    text = "\n".join(str(error) for error in scan.errors)
    assert "cases/china/acme.md line 2: `id` 'acme' is also the id of cases/overseas/acme.md" in (
        text
    )
    assert "cases/overseas/acme.md line 2: `id` 'acme' is also the id of cases/china/acme.md" in (
        text
    )


BOMB = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [{','.join(['*' + chr(97 + n)] * 9)}]\n" for n in range(8)
    )
    + "years: *i\n---\n"
)


@pytest.mark.parametrize("field", ["years", "id"])
def test_alias_bomb_is_refused_before_anything_expands(settings, field):
    """9**9 = 387 million strings if expanded; refused at the first anchor instead."""
    import resource
    import time

    text = BOMB.replace("years: *i", f"{field}: *i")
    path = _write(settings.cases_dir, "bomb.md", text)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    problems = _problems(path, settings.cases_dir)
    assert problems[0] == (
        "cases/overseas/bomb.md line 2: front matter may not use YAML anchors or aliases (& or *)"
    )
    # Not a timing test: generous bounds that an expansion (GBs, tens of seconds) cannot meet.
    assert time.process_time() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_plain_alias_is_refused_at_its_line(settings):
    text = GOOD.replace("outcome: worked", "outcome: &o worked\nyears2: *o")
    path = _write(settings.cases_dir, "acme.md", text)
    line_no = GOOD.split("\n").index("outcome: worked") + 1
    assert _problems(path, settings.cases_dir) == [
        f"cases/overseas/acme.md line {line_no}: "
        "front matter may not use YAML anchors or aliases (& or *)"
    ]


@pytest.mark.parametrize("value", ["[2018, 2019]", "{start: 2018}", "true", "x" * 500])
def test_years_of_the_wrong_type_or_size_is_refused_without_echoing_it(settings, value):
    text = GOOD.replace("years: 2018-2022", f"years: {value}")
    path = _write(settings.cases_dir, "acme.md", text)
    (problem,) = _problems(path, settings.cases_dir)
    assert "`years` must be YYYY or YYYY-YYYY" in problem
    assert len(problem) < 200


def test_control_character_in_front_matter_is_reported_at_its_line(settings):
    text = GOOD.replace("company: Acme", "company: Ac\x07me")
    path = _write(settings.cases_dir, "acme.md", text)
    line_no = GOOD.split("\n").index("company: Acme") + 1
    assert _problems(path, settings.cases_dir) == [
        f"cases/overseas/acme.md line {line_no}: "
        "front matter contains the control character U+0007; remove it"
    ]


def test_unclosed_quote_is_reported_where_the_quote_opens(settings):
    text = GOOD.replace("company: Acme", 'company: "Acme')
    path = _write(settings.cases_dir, "acme.md", text)
    line_no = GOOD.split("\n").index("company: Acme") + 1
    (problem,) = _problems(path, settings.cases_dir)
    assert problem.startswith(f"cases/overseas/acme.md line {line_no}: front matter is not valid")


def test_error_flood_is_capped_with_a_count(settings):
    body = "".join(f"## H{n}\n" for n in range(5000))
    path = _write(settings.cases_dir, "acme.md", GOOD + body)
    problems = _problems(path, settings.cases_dir)
    assert len(problems) == 51
    assert problems[-1].startswith("cases/overseas/acme.md: and ")
    assert problems[-1].endswith(" more problems")
    assert sum(len(p) for p in problems) < 20_000


def test_scan_keeps_good_files_when_some_are_bad(settings):
    write_case(settings.cases_dir, "acme", "Acme")
    _write(settings.cases_dir, "broken.md", "---\nid: [\n---\n")
    scan = scan_library(settings.cases_dir)
    assert [c.id for c in scan.cases] == ["acme"]
    assert len(scan.errors) == 1 and scan.files_seen == 2


def test_case_mechanisms_are_kept(settings):
    path = write_case(
        settings.cases_dir, "acme", "Acme", mechanisms=["razor-and-blade", "subscription"]
    )
    assert read_case(path, settings.cases_dir).meta.mechanisms == [
        "razor-and-blade",
        "subscription",
    ]


ZH_OK = """
## 中文要点
- 做法：推出月度会员，满额订单免配送费。
- 结果：2021年会员达到1800万，公司称复购提高。
- 借鉴：会员制能把一次性优惠变成习惯。
- 局限：依赖餐厅承担部分费用，别的市场未必愿意。
"""


def _with_zh(settings, section: str) -> Path:
    path = write_case(
        settings.cases_dir,
        "dash-club",
        "DashClub",
        extra={"Results": "Members reached 18 million in 2021, the company said, in July."},
    )
    path.write_text(path.read_text(encoding="utf-8") + section, encoding="utf-8")
    return path


def test_chinese_key_points_parse_and_are_not_counted_as_english_words(settings):
    plain = read_case(write_case(settings.cases_dir, "dash-club", "DashClub"), settings.cases_dir)
    case = read_case(_with_zh(settings, ZH_OK), settings.cases_dir)
    assert case.sections["中文要点"].startswith("- 做法：推出月度会员")
    assert list(case.sections)[-1] == "中文要点"
    assert abs(case.word_count - plain.word_count) <= 2  # only the Results edit differs


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("1800万", "18000万"), "states 18000万, which the English text of this case does not"),
        (("1800万", "180万"), "states 180万"),
        (("2021年", "2021年8月"), "states 8月"),  # the English says July
        (("- 借鉴：", "- 启示："), "item must be `- <做法|结果|借鉴|局限>：<sentence>`"),
        (("- 局限：依赖餐厅承担部分费用，别的市场未必愿意。\n", ""), "has 0 `局限` item(s)"),
        (
            ("- 结果：2021年会员达到1800万，公司称复购提高。\n",) * 1
            + ("- 结果：2021年会员达到1800万，公司称复购提高。\n" * 6,),
            "has 6 `结果` item(s); expected 1 to 5",
        ),
        (("习惯。", "habit"), "`借鉴` item must be one Chinese sentence ending with 。"),
        (("推出月度会员", "推出月度会员" * 30), "characters; at most 140"),
    ],
)
def test_chinese_key_points_are_checked_against_the_english(settings, change, expected):
    path = _with_zh(settings, ZH_OK.replace(*change))
    problems = _problems(path, settings.cases_dir)
    assert any(expected in p for p in problems), problems


def test_chinese_key_points_with_a_correct_month_and_order_pass_and_wrong_order_fails(settings):
    month = ZH_OK.replace("2021年", "2021年7月")
    assert read_case(_with_zh(settings, month), settings.cases_dir)
    swapped = ZH_OK.replace("- 做法：推出月度会员，满额订单免配送费。\n", "") + (
        "- 做法：推出月度会员，满额订单免配送费。\n"
    )
    assert any(
        "out of order" in p for p in _problems(_with_zh(settings, swapped), settings.cases_dir)
    )


def test_chinese_key_points_must_be_the_last_section(settings):
    path = write_case(settings.cases_dir, "dash-club", "DashClub")
    text = path.read_text(encoding="utf-8").replace(
        "## What transfers", ZH_OK + "\n## What transfers"
    )
    path.write_text(text, encoding="utf-8")
    assert any("must be the last section" in p for p in _problems(path, settings.cases_dir))


@pytest.mark.parametrize(("count", "ok"), [(30, True), (31, False)])
def test_a_case_may_cite_up_to_thirty_sources(settings, count, ok):
    import yaml

    path = write_case(settings.cases_dir, "dash-club", "DashClub")
    _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
    meta = yaml.safe_load(front)
    meta["sources"] = [
        {"title": f"DashClub report {n}", "publisher": "Reuters", "year": 2021}
        for n in range(count)
    ]
    path.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body, "utf-8")
    if ok:
        assert len(read_case(path, settings.cases_dir).meta.sources) == count
    else:
        assert any(
            "`sources` must have at most 30 items" in p for p in _problems(path, settings.cases_dir)
        )
