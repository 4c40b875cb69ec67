"""The one question check shared by the CLI, --batch, the chain and the web app."""

from __future__ import annotations

import pytest

from app.errors import QuestionError
from app.question import MAX_QUESTION_CHARS, clean_question, clip_notice, printable


def test_ordinary_question_is_kept_as_typed():
    assert clean_question("How did DoorDash keep customers?") == clean_question(
        "  How did DoorDash\tkeep customers?\n"
    )
    assert clean_question("外卖平台如何留住用户？").text == "外卖平台如何留住用户？"


@pytest.mark.parametrize(
    "raw,kind",
    [("", "empty"), (" \t\n", "empty"), ("\x00\x07\x1b[0m", "empty"), ("a\ud800", "not_utf8")],
)
def test_bad_questions_are_named(raw, kind):
    with pytest.raises(QuestionError) as info:
        clean_question(raw)
    assert info.value.kind == kind


def test_control_characters_and_escapes_become_spaces_or_vanish():
    assert clean_question("churn\x00in\x1b[31m red\x1b[0m\x7fapps").text == "churn in red apps"


def test_nfc_normalisation_makes_equal_text_equal():
    assert clean_question("cafe\u0301").text == clean_question("caf\u00e9").text == "caf\u00e9"


def test_long_question_is_clipped_at_a_word_with_a_notice():
    question = clean_question("membership " * 1000)
    assert len(question.text) <= MAX_QUESTION_CHARS and question.text.endswith("membership")
    assert question.clipped_from == len(("membership " * 1000).strip())
    assert "only the first" in (clip_notice(question) or "")
    assert clip_notice(clean_question("short")) is None


def test_clean_is_idempotent():
    once = clean_question("x" * 5000 + " y")
    assert clean_question(once.text).text == once.text


def test_printable_keeps_lines_but_drops_terminal_controls():
    assert printable("a\x1b[2Jb\x1b]0;title\x07c\nd\x08e") == "abc\nd e"
    assert printable("name \udcff.md") == "name \\udcff.md"
