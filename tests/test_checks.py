"""The answer checks on fixed strings: each bad kind of answer must fail its measure, and a
good answer must pass every one (so the eval can tell them apart)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.checks import (
    Company,
    content_words,
    copy_ratio,
    echoed_question,
    figures,
    foreign_companies,
    is_repeat,
    language_ok,
    sentences,
    unsupported_figures,
)
from app.extract import (
    SentencePicker,
    dated_figure_bonus,
    lesson_candidates,
    result_candidates,
)
from evals.answers import CitedPoint, Shown, check_shown, split_points
from evals.gold import GoldQuestion
from ingest.state import CaseRecord

CASE_TEXT = (
    "DashClub launched a pass in 2018 at US$9.99 a month. Members ordered 1,204 times more, "
    "and by 2023 it had 18 million members."
)
KNOWN = [Company("DashClub"), Company("BikeGo", "单车公司"), Company("Luckin Coffee", "瑞幸咖啡")]


def test_figures_are_normalised():
    assert figures("US$9.99, 1,204 orders, 18.0 million, 2023, 25%") == [
        "9.99", "1204", "18", "2023", "25",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("It charged US$9.99 from 2018 and had 18 million members by 2023.", []),
        ("Members ordered 1204 times more.", []),  # separators do not matter
        ("It had 25 million members by 2024.", ["25", "2024"]),  # invented figure and year
        ("It grew 40% a year.", ["40"]),
    ],
)
def test_unsupported_figures(text, missing):
    assert unsupported_figures(text, CASE_TEXT) == missing


def test_foreign_companies_only_flags_names_not_given():
    given = [Company("DashClub")]
    assert foreign_companies("DashClub copied BikeGo.", KNOWN, given) == ["BikeGo"]
    assert foreign_companies("单车公司也这样做。", KNOWN, given) == ["BikeGo"]
    assert foreign_companies("DashClub did it alone.", KNOWN, given) == []
    # a name inside a longer given name is not another company
    assert foreign_companies("Luckin Coffee grew.", [Company("Luckin")], KNOWN) == []


def test_names_only_and_substance():
    names = ["DashClub", "BikeGo"]
    assert content_words("- [1] DashClub [2] BikeGo", names) < 8
    assert (
        content_words(
            "**[1] DashClub** — sold a monthly pass that waived the delivery fee [1]", names
        )
        >= 8
    )


def test_repeat_and_copy():
    said = ["It sold a monthly pass that waived delivery fees."]
    assert is_repeat("It sold a monthly pass that waived the delivery fees.", said)
    assert not is_repeat("Members churned less and ordered more often.", said)
    summary = "DashClub launched DashPass, a monthly pass that waives delivery fees."
    assert (
        copy_ratio("DashClub launched DashPass, a monthly pass that waives delivery fees.", summary)
        > 0.95
    )
    assert copy_ratio("It cut churn by making every order cheaper for members.", summary) < 0.5


def test_language():
    assert language_ok("美团 (Meituan) 用会员卡让用户少比价，多下单。", "zh")
    assert not language_ok("Meituan sold a membership card to cut coupon shopping.", "zh")
    assert language_ok("Meituan (美团) sold a membership card to cut coupon shopping.", "en")
    assert not language_ok("美团用会员卡让用户少比价，多下单。", "en")


def test_sentences_split_in_both_languages():
    assert sentences("One. Two! 三。四？") == ["One.", "Two!", "三。", "四？"]


# --- the eval's measures fail each bad answer -----------------------------------------------


def record(case_id: str, company: str, summary: str, text: str) -> CaseRecord:
    return CaseRecord(
        case_id=case_id, company=company, company_zh="", market="overseas", sector="retail",
        outcome="worked", years="2018-2023", hq_country="US", countries=["US"], problems=["p"],
        levers=["demand"], summary=summary, title=company, relpath=f"{case_id}.md",
        sources=[], sections={"Results": text},
    )  # fmt: skip


RECORDS = {
    "dash": record("dash", "DashClub", "DashClub sold a monthly pass that waives fees.", CASE_TEXT),
    "bike": record("bike", "BikeGo", "BikeGo used deposits.", "Deposits of 299 in 2017."),
}
QUESTION = GoldQuestion("q1", "how to keep customers", "en", None, None, {"dash": 2}, "tune")
GOOD_POINT = (
    "**[1] DashClub** — It charged US$9.99 a month so members stopped paying per order, "
    "and it had 18 million members by 2023. [1]"
)


def shown(*points: CitedPoint, text: str | None = None) -> Shown:
    body = text if text is not None else "\n\n".join(p.text for p in points)
    return Shown("test", body, list(points), ["dash"], False)


def test_a_good_answer_passes_every_measure():
    check = check_shown(shown(CitedPoint(GOOD_POINT, ("dash",))), QUESTION, RECORDS)
    assert check.names_only == 0 and check.cited_points == 1
    assert check.figures == check.figures_found == 3
    assert check.foreign == [] and check.repeats == 0 and check.copies == 0
    assert check.language_ok and check.gold_recall == 1.0 and check.on_topic == 1


def test_a_point_on_a_case_the_question_is_not_about_is_off_topic():
    off = "**[2] BikeGo** — BikeGo took a deposit of 299 from every rider in 2017. [2]"
    points = (CitedPoint(GOOD_POINT, ("dash",)), CitedPoint(off, ("bike",)))
    check = check_shown(shown(*points), QUESTION, RECORDS)
    assert check.points == 2 and check.on_topic == 1


def test_a_bare_list_of_names_fails():
    check = check_shown(shown(CitedPoint("- [1] DashClub", ("dash",))), QUESTION, RECORDS)
    assert check.names_only == 1


def test_an_invented_figure_fails():
    point = CitedPoint(
        "DashClub had 25 million members in 2024 and charged US$9.99. [1]", ("dash",)
    )
    check = check_shown(shown(point), QUESTION, RECORDS)
    assert check.figures_found == 1 and check.unfaithful == ["25", "2024"]


def test_an_uncited_point_has_no_found_figures():
    check = check_shown(shown(CitedPoint("DashClub charged US$9.99.", ())), QUESTION, RECORDS)
    assert check.cited_points == 0 and check.figures_found == 0


def test_a_repeated_point_fails():
    p = CitedPoint(GOOD_POINT, ("dash",))
    assert check_shown(shown(p, p), QUESTION, RECORDS).repeats == 1


def test_an_unlisted_company_fails():
    point = CitedPoint(GOOD_POINT + " BikeGo did the same.", ("dash",))
    assert check_shown(shown(point), QUESTION, RECORDS).foreign == ["BikeGo"]


def test_a_copied_summary_fails():
    point = CitedPoint("DashClub sold a monthly pass that waives fees. [1]", ("dash",))
    assert check_shown(shown(point), QUESTION, RECORDS).copies == 1


def test_a_wrong_language_fails():
    zh = GoldQuestion("q2", "怎么留住用户", "zh", None, None, {"dash": 2}, "tune")
    assert not check_shown(shown(CitedPoint(GOOD_POINT, ("dash",))), zh, RECORDS).language_ok


def test_baseline_points_map_citations_to_chunks():
    text = "- DashClub charged a fee [1].\n- BikeGo took deposits [2][9].\n- Nothing cited."
    points = split_points(text, ["dash", "bike"])
    assert [p.cases for p in points] == [("dash",), ("bike",), ()]


def test_cut_off_sentences_are_dropped_not_shown_half_finished():
    from app.points import Checker

    checker = Checker(KNOWN, [], "en")
    text = "It charged US$9.99 a month. Members then ordered far more and by the"
    assert checker.clean(text, CASE_TEXT, "dash", truncated=True) == "It charged US$9.99 a month."
    # the next field continuing the cut sentence in lower case loses that fragment
    follow = "end of the year churn fell. Members stayed."
    assert checker.clean(follow, CASE_TEXT, "dash", continues=True) == "Members stayed."
    assert [c.kind for c in checker.corrections] == ["cut-off", "cut-off"]


def test_a_case_dressed_up_in_the_questions_words_is_caught():
    from app.checks import borrowed_words

    question = "how did rooftop solar installers get homeowners to sign up without paying upfront?"
    case = "WeChat launched mini programs inside the messenger for merchants and developers."
    projected = "WeChat built mini programs, which let rooftop solar installers skip upfront fees."
    assert borrowed_words(projected, question, case) == ["installer", "rooftop", "solar", "upfront"]
    honest = "WeChat launched mini programs so merchants could serve users inside the messenger."
    assert borrowed_words(honest, question, case) == []


def test_a_chinese_echo_of_the_question_is_caught():
    question = "有没有海外公司靠会员制让用户在二手交易平台上更活跃？"
    echo = "DoorDash通过推出DashPass会员制，允许用户在二手交易平台上更活跃。"
    assert (
        echoed_question(echo, question, "DashPass waived delivery fees.")
        == "用户在二手交易平台上更活跃"
    )
    assert echoed_question("DoorDash推出会员制，每月9.99美元。", question, "DashPass") == ""
    # words the case itself has (here in Chinese) are not an echo
    assert echoed_question(echo, question, "用户在二手交易平台上更活跃") == ""


def test_the_picker_ranks_by_the_question_without_an_encoder():
    picker = SentencePicker()
    candidates = ["Riders paid a deposit per bike.", "Members paid a monthly delivery fee."]
    assert picker.best("why pay a monthly fee for delivery?", candidates)[0] == candidates[1]


def test_lessons_split_into_borrow_and_caveat_without_their_labels():
    record = SimpleNamespace(
        sections={
            "What transfers": "Transferable: pooling small orders into one scheduled batch. "
            "What does not: where cards dominate, a wallet adds little value here."
        }
    )
    borrow, caveat = lesson_candidates([record])
    assert borrow == ["Pooling small orders into one scheduled batch."]
    # the analyst's label decides the side, and is then left out
    assert caveat == ["Where cards dominate, a wallet adds little value here."]
    record.sections["What transfers"] += " Wallets spread fastest where cash still rules."
    assert lesson_candidates([record])[0][-1] == "Wallets spread fastest where cash still rules."


@pytest.mark.parametrize(
    ("lesson", "side", "shown"),
    [
        ("Less transferable: Keep relied on cheap contract makers.", "caveat", "Keep relied on"),
        (
            "What does not transfer easily: the captive payer of its parent.",
            "caveat",
            "The captive",
        ),
        ("What may not transfer: Netflix was the leader.", "caveat", "Netflix was the leader."),
        ("What is specific to China: cheap couriers in every city.", "caveat", "Cheap couriers"),
        ("What differs: card use is high in Europe.", "caveat", "Card use is high"),
        ("What others can borrow: the launch sequence.", "borrow", "The launch sequence."),
        # a label that names its subject is content: kept, its side read from the sentence
        ("The super-app playbook did not transfer: one ban killed it.", "caveat", "The super-app"),
    ],
)
def test_an_analysts_lesson_label_decides_its_side_and_is_not_shown(lesson, side, shown):
    borrow, caveat = lesson_candidates([SimpleNamespace(sections={"What transfers": lesson})])
    assert (caveat if side == "caveat" else borrow)[0].startswith(shown)
    assert not (borrow if side == "caveat" else caveat)


def test_results_with_a_figure_and_a_year_are_preferred_but_not_forced():
    record = SimpleNamespace(
        sections={
            "Results": "Growth was strong across the board. Members reached 18 million in 2023. "
            "It had 5 million members at some point."
        }
    )
    candidates = result_candidates(record)
    assert len(candidates) == 3
    bonus = dated_figure_bonus(candidates)
    assert bonus[1] > bonus[2] > bonus[0] == 0.0  # figure and year > figure > neither
    picker = SentencePicker()  # word overlap without an encoder
    assert picker.best("how many members", candidates, bonus)[0] == candidates[1]
    assert picker.best("was growth strong across the board", candidates, bonus)[0] == candidates[0]


def test_a_number_restated_in_chinese_units_is_checked_by_value():
    source = "Revenue was US$515 million in 2023; about 134,000 locations; ₹3,248 crore."
    assert unsupported_figures("2023年收入为515亿美元。", source) == ["515亿"]  # 100x too much
    assert unsupported_figures("2023年收入为5.15亿美元。", source) == []
    assert unsupported_figures("2023年收入为US$515 million。", source) == []
    assert unsupported_figures("约13.4万家门店，324.8亿卢比。", source) == []
    assert unsupported_figures("约13万家门店。", source) == ["13万"]  # rounded: not stated
    assert unsupported_figures("用户达到3亿。", "用户达到3亿。") == []  # the case itself says so


def test_a_month_in_chinese_is_checked_against_the_month_named_in_the_case():
    source = "It listed in July 2021 and cut prices on 6 February 2025."
    assert unsupported_figures("2021年7月上市。", source) == []
    assert unsupported_figures("2021年8月上市。", source) == ["8月"]
    assert unsupported_figures("2025年2月6日降价。", source) == []


def test_the_closing_line_quotes_the_best_cases_before_a_lower_one_sharing_more_words():
    from app.points import Checker, Point, closing_line

    lessons = {
        "a": "Bundling delivery into a monthly pass keeps members ordering. "
        "A pass does not work where orders are rare.",
        "b": "Charging merchants for placement funds the discounts. "
        "Paid placement fails when buyers stop trusting the rankings.",
        "c": "Lowering the hotel commission wins hotels from the hotel leader. "
        "A low hotel commission does not last when the hotel commission race ends.",
    }
    records = {}
    for cid, text in lessons.items():
        records[cid] = record(cid, f"Co{cid.upper()}", "s", "r")
        records[cid].sections["What transfers"] = text
    points = [Point(n, cid, f"Co{cid.upper()}", "h") for n, cid in enumerate("abc", 1)]
    question = "how do we earn more from hotel merchants without raising the commission?"
    checker = Checker([], list(records.values()), "en", question)
    borrow, caveat = closing_line(points, records, question, checker, SentencePicker())
    # case c shares the most words with the question, but the answer's best cases speak first
    assert borrow.startswith(("Bundling", "Charging")) and "hotel" not in borrow + caveat
    # without lessons of their own, the lower case is used
    for cid in "ab":
        records[cid].sections["What transfers"] = ""
    assert closing_line(points, records, question, checker, SentencePicker())[0].startswith(
        "Lowering"
    )


def test_a_quoted_move_fits_the_mechanism_the_case_matched_on():
    from app.points import Checker, quoted_point
    from app.retrieval import CaseHit

    case = record("shop", "ShopCo", "s", "Orders doubled in 2012.")
    # Both moves share the question's words equally; the definition of the mechanism the
    # case matched on (weighed beside the question, app.extract.CONTEXT_WEIGHT) decides.
    case.sections["What they did"] = (
        "ShopCo gave rural buyers discounts on online orders. "
        "ShopCo let rural buyers pay for online orders in cash at the door."
    )
    question = "how did shops get rural buyers to order online?"
    checker = Checker([], [case], "en", question)
    plain = list(quoted_point(1, CaseHit(case, 1.0), question, checker, SentencePicker()))
    assert plain[-1].fields["did"].startswith("ShopCo gave rural buyers discounts")
    checker = Checker([], [case], "en", question)
    hit = CaseHit(case, 1.0, mechanisms=["cash-on-delivery"])
    matched = list(quoted_point(1, hit, question, checker, SentencePicker()))
    assert matched[-1].fields["did"].startswith("ShopCo let rural buyers pay for online orders")


def test_the_picker_scores_english_with_the_english_encoder_and_chinese_with_the_other():
    from langchain_core.embeddings import Embeddings

    class Recording(Embeddings):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            self.seen += texts
            return [[float(len(t)), 1.0] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            self.seen.append(text)
            return [1.0, 0.0]

    multilingual, english = Recording(), Recording()
    picker = SentencePicker(multilingual, english)
    picker.best("who waived delivery fees?", ["A pass waived fees.", "It opened stores."])
    assert english.seen and not multilingual.seen
    picker.best("谁免了配送费？", ["推出会员免配送费。", "开了门店。"])
    assert "谁免了配送费？" in multilingual.seen and "谁免了配送费？" not in english.seen


def test_a_sentence_leaning_on_the_one_before_is_quoted_only_when_nothing_else_passes():
    from app.points import Checker, closing_line, quoted_point
    from app.retrieval import CaseHit

    case = record("ride", "RideCo", "s", "Drivers rose to 2 million in 2019. That doubled supply.")
    # The dangling sentence shares more of the question's words, yet the standalone one leads.
    case.sections["What they did"] = (
        "Both companies paid drivers bonuses to keep drivers on the app. "
        "RideCo guaranteed hourly earnings for new drivers in its first cities."
    )
    case.sections["What transfers"] = (
        "Guaranteed earnings bring drivers in fast. "
        "Rivals ended their fight for drivers the same way. "
        "Guarantees do not work where drivers can switch apps in seconds."
    )
    question = "how do we keep drivers on the app?"
    checker = Checker([], [case], "en", question)
    point = list(quoted_point(1, CaseHit(case, 1.0), question, checker, SentencePicker()))[-1]
    assert point.fields["did"].startswith("RideCo guaranteed")
    assert point.fields["result"].startswith("Drivers rose")
    points = [point]
    borrow, caveat = closing_line(points, {"ride": case}, question, checker, SentencePicker())
    assert borrow.startswith("Guaranteed") and caveat.startswith("Guarantees do not work")
    # a closing line is never a sentence leaning on one the reader does not see
    case.sections["What transfers"] = (
        "Guaranteed earnings bring drivers in fast. That is why it does not work for long."
    )
    assert closing_line(points, {"ride": case}, question, checker, SentencePicker()) is None
    # nor one contrasting with it ("But ... show the same risk"), however well it fits
    case.sections["What transfers"] = (
        "But drivers kept on the app with guarantees show the same risk elsewhere. "
        "Guarantees do not work where drivers can switch apps in seconds."
    )
    assert closing_line(points, {"ride": case}, question, checker, SentencePicker()) is None
    # with no other sentence left, a move that leans is still better than no point
    case.sections["What they did"] = (
        "Both companies paid drivers bonuses to keep drivers on the app."
    )
    checker = Checker([], [case], "en", question)
    point = list(quoted_point(1, CaseHit(case, 1.0), question, checker, SentencePicker()))[-1]
    assert point.fields["did"].startswith("Both companies")


@pytest.mark.parametrize(
    ("sentence", "leans"),
    [
        ("This gave people a reason to visit.", True),
        ("May 2014: both companies stopped passenger subsidies.", True),
        ("Uber and Grab ended their fight the same way in 2018.", True),
        ("Over the same period the network grew fast.", True),
        ("Vinted charged the buyer instead.", True),
        ("It charged buyers a fee instead of taking a cut from sellers.", True),
        ("Vinted charged buyers a fee instead of taking a cut from sellers.", False),
        ("因此，平台把补贴转给了商家。", True),
        ("But NIO remained deeply loss-making in 2023.", False),
        ("Thisbe Ltd launched in 2019.", False),
        ("RideCo guaranteed hourly earnings in 2015.", False),
        ("美团推出可膨胀的会员红包。", False),
    ],
)
def test_which_sentences_lean_on_the_one_before(sentence, leans):
    from app.extract import leans_back

    assert leans_back(sentence) is leans
