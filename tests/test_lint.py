"""Case warnings: undated figures, public sources without a URL, a stale as_of."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from ingest.lint import (
    MAX_AS_OF_AGE_MONTHS,
    WarningKind,
    case_warnings,
    library_warnings,
    sentences,
    undated_figures,
)
from ingest.parse import read_case
from tests.casegen import case_text

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    "sentence,figures",
    [
        ("It raised US$3.4bn at listing.", ["US$3.4bn"]),
        ("Sales were RMB 100 million.", ["RMB 100 million"]),
        ("Losses near ₹3,248cr.", ["₹3,248cr"]),
        ("Bookings of €1.14bn.", ["€1.14bn"]),
        ("Losses reached 5 million yuan.", ["5 million yuan"]),
        ("Margins rose 15% and churn fell 3 per cent.", ["15%", "3 per cent"]),
        ("It had 18 million members and 500k drivers.", ["18 million", "500k"]),
        ("It ran 16,000 stores and 2500 vans.", ["16,000", "2500"]),
        ("Users passed 3亿.", ["3亿"]),
    ],
)
def test_figures_without_a_year_are_found(sentence, figures):
    assert undated_figures(sentence) == figures


@pytest.mark.parametrize(
    "sentence",
    [
        "In 2023 it raised US$3.4bn.",
        "Revenue was RMB 100 million in FY2022.",
        "Margins were 13% in FY22.",
        "GOV grew 20% in Q3 2024.",
        "Costs fell 5% in Q3 FY24.",
        "Members reached 5 million in H1'25.",
        "By the 2010s it had 4,000 stores.",
        "It grew 20% (2019).",
        "营收在2023年增长了15%。",
        "It is listed in Hong Kong (1179).",
        "Mobvista, listed in Hong Kong (stock code 1860), sells ads.",
        "Merchants fund 0% APR plans.",
        "It had 300 stores and 24 hours of service.",
    ],
)
def test_dated_sentences_and_non_figures_are_not_flagged(sentence):
    assert undated_figures(sentence) == []


def test_a_year_inside_a_money_amount_does_not_date_the_sentence():
    assert undated_figures("A bike cost US$2019 to build.") == ["US$2019"]


def test_sentences_do_not_split_after_abbreviations():
    text = "The U.S. market grew. Uber Technologies Inc. listed in 2019! Then it fell."
    assert [s.strip() for _o, s in sentences(text)] == [
        "The U.S. market grew.",
        "Uber Technologies Inc. listed in 2019!",
        "Then it fell.",
    ]


def _case(settings, body: dict[str, str] | None = None, **front):
    """A valid case with section texts from `body` and front-matter fields from `front`."""
    text = case_text("acme", "Acme", extra=body)
    head, rest = text.split("\n---\n", 1)
    data = yaml.safe_load(head.removeprefix("---\n"))
    data.update(front)
    text = "---\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False) + "---\n" + rest
    path = settings.cases_dir / "overseas" / "acme.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return read_case(path, settings.cases_dir), text


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line)


URLS = [
    {"title": "Acme annual report", "publisher": "Acme", "year": 2022, "url": "https://a.example"},
    {"title": "Acme coverage", "publisher": "Reuters", "year": 2021, "url": "https://r.example"},
]


def _undated(warnings):
    return [w for w in warnings if w.kind is WarningKind.UNDATED_FIGURE]


def test_an_undated_figure_in_the_body_is_reported_with_line_and_sentence(settings):
    body = {"Results": "Acme grew fast in 2021. Members reached 5 million. Churn fell."}
    case, text = _case(settings, body, sources=URLS)
    warnings = case_warnings(case, text, TODAY)
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning.kind is WarningKind.UNDATED_FIGURE and warning.path == case.relpath
    assert warning.line == _line(text, "Members reached 5 million")
    assert warning.excerpt == "Members reached 5 million."
    assert "'5 million'" in warning.message and "in 2023" in warning.message


def test_an_undated_figure_in_the_summary_names_the_field(settings):
    case, text = _case(
        settings, summary="Acme cut fees. Orders rose 40% after the change.", sources=URLS
    )
    (warning,) = case_warnings(case, text, TODAY)
    assert warning.field == "summary" and warning.line == _line(text, "summary:")
    assert warning.excerpt == "Orders rose 40% after the change."


def test_headings_and_link_targets_are_ignored(settings):
    body = {
        "Context": "See [the 2021 filing](https://example.com/filing-5000000) for context.",
        "Results": "Results are in the 2022 report. [Sales](https://x.example/US$5bn) grew.",
    }
    case, text = _case(settings, body, sources=URLS)
    text = text.replace("# Acme: delivery", "# Acme: 5 million members and delivery")
    assert _undated(case_warnings(case, text, TODAY)) == []


def test_a_bullet_list_with_a_dated_lead_in_counts_as_dated(settings):
    body = {
        "Results": "In 2023:\n- Members reached 5 million.\n- Churn fell 3%.\n\n"
        "Later on:\n- Revenue rose 20%.",
        "What they did": "- 2019: launched in Jakarta. It signed 10,000 drivers.\n"
        "  Then it reached 2 million riders.\n- Expanded to 500k riders.",
    }
    case, text = _case(settings, body, sources=URLS)
    found = [(w.excerpt, w.line) for w in _undated(case_warnings(case, text, TODAY))]
    assert found == [
        ("Expanded to 500k riders.", _line(text, "Expanded to 500k")),
        ("Revenue rose 20%.", _line(text, "Revenue rose 20%")),
    ]


def test_a_paragraph_after_a_list_does_not_inherit_its_lead_in(settings):
    body = {"Results": "In 2023:\n- Members reached 5 million.\n\nRevenue rose 20%."}
    case, text = _case(settings, body, sources=URLS)
    assert [w.excerpt for w in _undated(case_warnings(case, text, TODAY))] == ["Revenue rose 20%."]


@pytest.mark.parametrize(
    "source,warns",
    [
        ({"title": "Acme coverage", "publisher": "Reuters", "year": 2021}, True),
        ({"title": "Acme Form S-1", "publisher": "U.S. Securities and Exchange Commission",
          "year": 2020}, True),
        ({"title": "Prospectus", "publisher": "Hong Kong Exchanges and Clearing", "year": 2020},
         True),
        ({"title": "Acme 2023 results", "publisher": "Acme Inc. (Business Wire)", "year": 2024},
         True),
        ({"title": "Acme blog post", "publisher": "Acme (company blog)", "year": 2024}, True),
        ({"title": "Parent Co Annual Report 2023", "publisher": "Parent Co", "year": 2024}, True),
        ({"title": "Acme: a history", "publisher": "HarperCollins", "year": 2015}, False),
        ({"title": "Acme case study", "publisher": "Harvard Business School", "year": 2015},
         False),
        ({"title": "Acme coverage", "publisher": "Reuters", "year": 2021,
          "url": "https://r.example"}, False),
    ],
)  # fmt: skip
def test_public_sources_without_url(settings, source, warns):
    case, text = _case(settings, sources=[URLS[0], source])
    warnings = case_warnings(case, text, TODAY)
    if not warns:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.kind is WarningKind.SOURCE_WITHOUT_URL and warning.field == "sources.1.url"
    assert warning.line == _line(text, f"title: {source['title']}")
    assert source["publisher"] in warning.message and "add `url:`" in warning.message


def test_as_of_older_than_18_months_warns(settings):
    case, text = _case(settings, sources=URLS, as_of="2025-06")
    assert case_warnings(case, text, date(2026, 12, 1)) == []  # exactly 18 months: fine
    assert MAX_AS_OF_AGE_MONTHS == 18
    (warning,) = case_warnings(case, text, date(2027, 1, 1))
    assert warning.kind is WarningKind.STALE_AS_OF and warning.field == "as_of"
    assert warning.line == _line(text, "as_of:")
    assert "2025-06, 19 months ago" in warning.message and "2027-01" in warning.message


def test_library_warnings_reads_each_file(settings):
    case, _text = _case(settings, {"Results": "Churn fell 3%."}, sources=URLS)
    warnings = library_warnings([case], settings.cases_dir, TODAY)
    assert [(w.kind, w.excerpt) for w in warnings] == [
        (WarningKind.UNDATED_FIGURE, "Churn fell 3%.")
    ]


def test_a_year_right_after_a_chinese_character_dates_the_sentence():
    assert undated_figures("OYO在2020年收入达到3亿元。") == []
    assert undated_figures("收入达到3亿元。") == ["3亿元"]
