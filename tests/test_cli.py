"""The `elsewhere` CLI through click's CliRunner: exit codes, messages and --json shapes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from app.cli import cli
from ingest.parse import read_case
from ingest.schema import SECTIONS
from tests.conftest import ANSWER_KEYS, heavy_imports_after


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_help_lists_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("ingest", "search", "cases"):
        assert command in result.output


def test_cases_new_writes_a_file_with_every_heading(settings):
    result = run("cases", "new", "Full Truck Alliance", "--market", "china")
    assert result.exit_code == 0, result.output
    path = settings.cases_dir / "china" / "full-truck-alliance.md"
    text = path.read_text("utf-8")
    assert "id: full-truck-alliance" in text and 'company: "Full Truck Alliance"' in text
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    again = run("cases", "new", "Full Truck Alliance", "--market", "china")
    assert again.exit_code == 1 and "already exists" in again.output


def test_new_template_fails_check_until_filled_in(settings):
    run("cases", "new", "Acme", "--market", "overseas")
    result = run("cases", "check")
    assert result.exit_code == 1
    assert "cases/overseas/acme.md" in result.output and "words; expected 500" in result.output


def test_cases_check_passes_on_valid_library(starter):
    result = run("cases", "check")
    assert result.exit_code == 0
    assert "6 file(s) checked, 6 valid, 0 with problems" in result.output


def test_cases_check_json_and_exit_code(settings, starter):
    (settings.cases_dir / "china" / "bad.md").write_text("---\nid: [\n---\n", "utf-8")
    result = run("cases", "check", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["checked"] == 7 and payload["valid"] == 6
    assert payload["problems"][0].startswith("cases/china/bad.md line 2:")


def test_cases_check_prints_warnings_but_passes_unless_strict(settings, starter):
    path = settings.cases_dir / "overseas" / "scoot.md"
    path.write_text(path.read_text("utf-8").replace("## Results\n", "## Results\nRides grew 40%. "))
    result = run("cases", "check", str(path))
    assert result.exit_code == 0
    assert "1 file(s) checked, 1 valid, 0 with problems, 3 warning(s)" in result.output
    line = next(i for i, t in enumerate(path.read_text("utf-8").split("\n"), 1) if "40%" in t)
    assert (
        f"cases/overseas/scoot.md line {line}: warning [undated-figure]: figure '40%' has no year"
        in result.output
    )
    assert '(in "Rides grew 40%.")' in result.output
    assert "warning [source-without-url]: `sources.1.url` source 'Scoot coverage'" in result.output
    assert run("cases", "check", "--strict", str(path)).exit_code == 1


def test_cases_check_json_lists_warnings(settings, starter):
    result = run("cases", "check", "--json", "--strict")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["problems"] == [] and len(payload["warnings"]) == 12  # 2 sources x 6 cases
    first = payload["warnings"][0]
    assert set(first) == {"kind", "path", "line", "field", "message", "excerpt"}
    assert first["kind"] == "source-without-url" and first["field"] == "sources.0.url"
    assert isinstance(first["line"], int) and first["path"].startswith("cases/")


def test_cases_check_single_path(settings, starter):
    path = settings.cases_dir / "overseas" / "scoot.md"
    result = run("cases", "check", str(path))
    assert result.exit_code == 0 and "1 file(s) checked" in result.output
    assert read_case(path, settings.cases_dir).id == "scoot"


def test_ingest_json_report_and_failed_exit_code(settings, starter):
    result = run("ingest", "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["counts"] == {"added": 6, "updated": 0, "removed": 0, "unchanged": 0, "failed": 0}
    (settings.cases_dir / "china" / "bad.md").write_bytes(b"\xff\xfe")
    result = run("ingest", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["counts"]["unchanged"] == 6 and report["counts"]["failed"] == 1


def test_ingest_human_summary(starter):
    result = run("ingest")
    assert result.exit_code == 0
    assert (
        "6 added, 0 updated, 0 removed, 0 unchanged, 0 failed; 66 chunks indexed" in result.output
    )


def test_search_json_has_the_documented_shape(starter):
    run("ingest")
    result = run("search", "membership fee outside China", "--json", "-k", "3")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["query"] == "membership fee outside China"
    assert payload["market_filter"] == "overseas"
    assert payload["market_reason"] == "outside china"  # the words that set the filter
    assert 1 <= len(payload["results"]) <= 3
    first = payload["results"][0]
    documented = {"case_id", "company", "market", "sector", "score", "summary", "evidence"}
    assert set(first) == documented | {"mechanisms"}  # a compatible addition (issue 9)
    assert isinstance(payload["weak"], bool)
    assert all(r["market"] == "overseas" for r in payload["results"])


def test_search_says_when_no_case_is_about_the_industry_asked(starter):
    run("ingest")
    result = run("search", "how do funeral homes keep families coming back?", "-k", "2")
    assert result.exit_code == 0
    assert "No case is about funeral: these are the closest, not a direct answer." in result.output
    plain = run("search", "membership fee outside China", "-k", "2")
    assert "not a direct answer" not in plain.output


def test_search_market_any_and_asker(starter):
    run("ingest")
    payload = json.loads(run("search", "bikes in China", "--market", "any", "--json").output)
    assert payload["market_filter"] is None
    flag = json.loads(run("search", "bikes in China", "--market", "overseas", "--json").output)
    assert flag["market_filter"] == "overseas" and flag["market_reason"] is None  # a flag's
    brief = run("search", "bikes in China", "-k", "2").output
    assert '[china, from "in china"]' in brief
    payload = json.loads(
        run("search", "who elsewhere solved churn", "--asker", "china", "--json").output
    )
    assert payload["market_filter"] == "overseas"


def test_search_batch_prints_one_line_per_question(starter):
    run("ingest")
    lines = "\n".join(
        [
            json.dumps({"id": "q1", "q": "membership"}),
            "",
            json.dumps({"id": "q2", "q": "red envelopes", "market": "china"}),
        ]
    )
    result = run("search", "--batch", "-", "--json", "-k", "2", input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["id"] for row in rows] == ["q1", "q2"]
    assert rows[1]["market_filter"] == "china"
    assert set(rows[0]) == {
        "id",
        "query",
        "market_filter",
        "market_reason",
        "results",
        "weak",
        "uncovered_industries",
        "match",
        "mechanisms",
    }


def test_search_batch_bad_line_is_a_clear_error(starter):
    run("ingest")
    result = run("search", "--batch", "-", "--json", input='{"q": "no id"}\n')
    assert result.exit_code == 1
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["line"] == 1 and row["error"].startswith("line 1: expected")


def test_search_batch_goes_on_past_bad_lines(starter):
    run("ingest")
    lines = b"\n".join(
        [
            json.dumps({"id": "q1", "q": "membership"}).encode(),
            b'{"id": "bad-bytes", "q": "caf\xe9 membership"}',
            json.dumps({"id": "surrogate", "q": "red \ud800 envelopes"}).encode(),
            json.dumps({"id": "empty", "q": "  \u0007 "}).encode(),
            b"not json",
            json.dumps({"id": "q2", "q": "red envelopes", "market": "china"}).encode(),
        ]
    )
    result = CliRunner().invoke(cli, ["search", "--batch", "-", "-k", "2"], input=lines)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["id"] for row in rows] == ["q1", "bad-bytes", "surrogate", "empty", None, "q2"]
    assert rows[0]["results"] and rows[5]["results"]
    assert "not valid UTF-8" in rows[1]["error"] and "not valid UTF-8" in rows[2]["error"]
    assert "the question is empty" in rows[3]["error"]
    assert rows[4]["error"].startswith("line 5: expected")


def test_search_refuses_an_empty_question(starter):
    run("ingest")
    result = run("search", " \t ", "--json")
    assert result.exit_code == 1
    assert "the question is empty" in result.output and "results" not in result.output


def test_search_argv_that_is_not_utf8_is_a_clear_error(starter):
    run("ingest")
    result = run("search", "caf\udce9")  # how Python hands over the argv bytes b"caf\xe9"
    assert result.exit_code == 1
    assert "not valid UTF-8" in result.output and "Traceback" not in result.output


def test_search_clips_a_huge_question_with_a_notice(starter):
    from app.question import MAX_QUESTION_CHARS

    run("ingest")
    result = CliRunner().invoke(cli, ["search", "membership " * 100_000, "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert len(payload["query"]) <= MAX_QUESTION_CHARS and payload["results"]
    assert "only the first" in result.stderr


def test_search_strips_terminal_escapes_from_case_text(settings):
    from tests.casegen import write_case

    write_case(
        settings.cases_dir,
        "ansi",
        "Ansi",
        extra={"Context": "membership \x1b[2J\x1b]0;pwned\x07 ok"},
    )
    run("ingest")
    result = run("search", "membership", "-k", "1")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "Ansi" in result.output


def test_non_utf8_file_name_keeps_json_valid(settings, starter):
    import os

    folder = os.fsencode(settings.cases_dir / "overseas")
    with open(os.path.join(folder, b"bad\xff.md"), "wb") as handle:
        handle.write(b"---\nid: [\n---\n")
    result = run("cases", "check", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert any(p.startswith("cases/overseas/bad\\xff.md") for p in payload["problems"])
    text = run("cases", "check")
    assert "cases/overseas/bad\\xff.md" in text.output


def test_search_before_ingest_is_a_clean_error(starter):
    result = run("search", "anything")
    assert result.exit_code == 1
    assert "run `elsewhere ingest` first" in result.output
    assert "Traceback" not in result.output


def test_search_needs_question_or_batch():
    result = run("search")
    assert result.exit_code == 2 and "give a QUESTION or --batch FILE" in result.output


def test_bad_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("ELSEWHERE_CHUNK_TOKENS", "five")
    result = run("cases", "check")
    assert result.exit_code == 1
    assert "ELSEWHERE_CHUNK_TOKENS='five'" in result.output


def test_help_does_not_import_heavy_libraries():
    code = (
        "from app.cli import cli; import click.testing as t; t.CliRunner().invoke(cli, ['--help'])"
    )
    heavy = ("torch", "chromadb", "gradio", "sentence_transformers", "langchain_core")
    assert heavy_imports_after(code, heavy) == []


def test_ask_json_without_a_model_is_the_brief(starter):
    run("ingest")
    result = run("ask", "membership fee outside China", "--llm", "none", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert ANSWER_KEYS <= set(answer)
    assert answer["market_filter"] == "overseas" and answer["provider"] == "none"
    assert all(case["market"] == "overseas" for case in answer["cases"])
    assert set(answer["timings"]) == {"retrieval_ms", "brief_ms", "first_token_ms", "total_ms"}


def test_ask_streams_the_brief_to_the_terminal(starter):
    run("ingest")
    result = run("ask", "bike sharing in China", "--llm", "none")
    assert result.exit_code == 0
    assert "BikeGo" in result.output and "market filter: china" in result.output


def test_compare_json_quotes_each_case_with_its_source(starter):
    run("ingest")
    result = run("compare", "dash-club", "bike-go", "--llm", "none", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [c["case_id"] for c in payload["cases"]] == ["dash-club", "bike-go"]
    assert payload["cases"][0]["source"] == "DashClub annual report, DashClub, 2022"
    assert set(payload["rows"]) >= {"Problem", "Supply model", "Revenue model", "What transfers"}
    assert "subscription fee of 9.99" in payload["rows"]["Revenue model"][0]["text"]
    assert payload["synthesis"] is None


def test_compare_unknown_id_and_wrong_count(starter):
    run("ingest")
    result = run("compare", "dash-club", "nope", "--llm", "none")
    assert result.exit_code == 1 and "no indexed case with id nope" in result.output
    result = run("compare", "dash-club", "--llm", "none")
    assert result.exit_code == 1 and "compare takes 2 to 4 case ids" in result.output


def test_ingest_with_the_chroma_server_down_is_one_clean_line(starter, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_CHROMA_URL", "http://127.0.0.1:9")
    result = run("ingest")
    assert result.exit_code == 1
    assert "cannot reach the Chroma server at http://127.0.0.1:9" in result.output
    assert "make chroma" in result.output and "Traceback" not in result.output


def test_eval_subcommands_offer_only_their_own_flags(tmp_path):
    for args in (
        ("eval", "beir", str(tmp_path), "--check"),
        ("eval", "beir", str(tmp_path), "--configs", "bm25"),
        ("eval", "answers", "--check"),
        ("eval", "answers", "--configs", "x"),
        ("eval", "gold", "--limit", "3"),
        ("eval", "gold", "--split", "test"),
    ):
        result = run(*args)
        assert result.exit_code == 2 and "No such option" in result.output, args
    for sub in ("gold", "beir", "answers"):
        assert run("eval", sub, "--help").exit_code == 0
    assert "--out" in run("eval", "beir", "--help").output


def test_eval_beir_errors_are_clean(settings, tmp_path):
    same = run("eval", "beir", str(tmp_path), "--split", "train", "--tune-split", "train")
    assert same.exit_code == 2 and "must differ" in same.output
    missing = run("eval", "beir", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "is not a BEIR dataset" in missing.output
    assert "Traceback" not in missing.output


def test_gold_check_without_a_baseline_is_a_clear_error(settings, tmp_path):
    import pytest

    from app.errors import ElsewhereError
    from evals.runner import gold_eval

    with pytest.raises(ElsewhereError, match="--check needs a baseline at .*update-baseline"):
        gold_eval(
            settings, None, tmp_path, lambda _: None, check=True, baseline=tmp_path / "b.json"
        )
