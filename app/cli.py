"""The `elsewhere` command line. Heavy libraries are imported inside the commands that use them,
so `elsewhere --help` and an unchanged re-ingest start fast."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, get_args

import click

from app.errors import ElsewhereError
from app.settings import EmbedderName, MarketName, ProviderName, Settings, load_settings

if TYPE_CHECKING:
    from app.chain import Answer
    from app.retrieval import MarketChoice, Retriever, SearchResult
    from ingest.lint import CaseWarning

F = TypeVar("F", bound=Callable[..., Any])


MARKET_OPTION = click.option(
    "--market",
    type=click.Choice([*get_args(MarketName), "any"]),
    help="Override the market found in the question.",
)
ASKER_OPTION = click.option(
    "--asker",
    type=click.Choice(get_args(MarketName)),
    help="The asker's own market, so 'elsewhere' means the other [ELSEWHERE_ASKER_MARKET].",
)
LLM_OPTION = click.option(
    "--llm",
    type=click.Choice(get_args(ProviderName)),
    help="Language model provider: local, openai or none [ELSEWHERE_LLM].",
)


def _edge(func: F) -> F:
    """Turn our own errors into a clean message and exit code 1 (2 for bad usage)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ElsewhereError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(ctx.obj or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    return load_settings(**base)


def _echo_json(payload: Any) -> None:
    """One JSON line; valid UTF-8 even when a value holds undecodable bytes (lone surrogates
    from a file name or argv), which are then written as \\u escapes."""
    text = json.dumps(payload, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(payload, ensure_ascii=True)
    click.echo(text)


def _question(raw: str) -> str:
    """The shared question check; a clipped question is said on stderr."""
    from app.question import clean_question, clip_notice

    question = clean_question(raw)
    notice = clip_notice(question)
    if notice:
        click.echo(notice, err=True)
    return question.text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Index folder [ELSEWHERE_DATA_DIR]."
)
@click.option(
    "--cases-dir", type=click.Path(path_type=Path), help="Case library [ELSEWHERE_CASES_DIR]."
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, cases_dir: Path | None) -> None:
    """Elsewhere: who elsewhere solved X? Cited briefs from China and overseas case studies."""
    ctx.obj = {"data_dir": data_dir, "cases_dir": cases_dir}


@cli.group()
def cases() -> None:
    """Write and check case files."""


@cases.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on problems.")
@click.pass_context
@_edge
def cases_check(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, strict: bool) -> None:
    """Validate case files (default: the whole library). Exit 1 on any problem.

    Valid files are also checked for warnings (undated figures, public sources without a URL, a
    stale as_of); they are printed but fail the run only with --strict.
    """
    from datetime import date

    from ingest.lint import library_warnings
    from ingest.parse import scan_library

    settings = _settings(ctx)
    files = [p for path in paths for p in _expand(path)] if paths else None
    scan = scan_library(settings.cases_dir, files, settings.max_case_bytes)
    problems = [str(problem) for error in scan.errors for problem in error.problems]
    warnings = library_warnings(
        scan.cases, settings.cases_dir, date.today(), settings.max_case_bytes
    )
    if as_json:
        _echo_json(
            {
                "checked": scan.files_seen,
                "valid": len(scan.cases),
                "problems": problems,
                "warnings": [_warning_json(warning) for warning in warnings],
            }
        )
    else:
        from app.question import printable

        for line in problems + [_warning_text(warning) for warning in warnings]:
            click.echo(printable(line), err=True)
        click.echo(
            f"{scan.files_seen} file(s) checked, {len(scan.cases)} valid, "
            f"{len(scan.errors)} with problems, {len(warnings)} warning(s)"
        )
    if scan.errors or (strict and warnings):
        sys.exit(1)


def _warning_text(warning: CaseWarning) -> str:
    where = warning.path if warning.line is None else f"{warning.path} line {warning.line}"
    what = f"`{warning.field}` {warning.message}" if warning.field else warning.message
    quoted = f' (in "{warning.excerpt}")' if warning.excerpt else ""
    return f"{where}: warning [{warning.kind}]: {what}{quoted}"


def _warning_json(warning: CaseWarning) -> dict[str, Any]:
    return {
        "kind": warning.kind.value,
        "path": warning.path,
        "line": warning.line,
        "field": warning.field,
        "message": warning.message,
        "excerpt": warning.excerpt,
    }


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.rglob("*.md"))
    return [path]


@cases.command("new")
@click.argument("company")
@click.option("--market", type=click.Choice(get_args(MarketName)), required=True)
@click.option("--id", "case_id", help="Case id (default: the company name as a slug).")
@click.pass_context
@_edge
def cases_new(ctx: click.Context, company: str, market: str, case_id: str | None) -> None:
    """Write a new case file from the template, with every section heading."""
    from ingest.schema import Market
    from ingest.template import write_new_case

    settings = _settings(ctx)
    path = write_new_case(settings.cases_dir, company, Market(market), case_id)
    click.echo(f"wrote {path}; fill it in, then run `elsewhere cases check {path}`")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--embedder",
    type=click.Choice(get_args(EmbedderName)),
    help="Embedding model [ELSEWHERE_EMBEDDER].",
)
@click.option("--chroma-url", help="Chroma server URL [ELSEWHERE_CHROMA_URL].")
@click.pass_context
@_edge
def ingest(ctx: click.Context, as_json: bool, embedder: str | None, chroma_url: str | None) -> None:
    """Index the case folder: add new cases, replace changed ones, remove deleted ones."""
    from ingest.index import run_ingest

    settings = _settings(ctx, embedder=embedder, chroma_url=chroma_url)
    with _Progress(enabled=not as_json) as progress:
        report = run_ingest(settings, on_progress=progress.update, on_status=progress.status)
    if as_json:
        _echo_json(report.as_json())
    else:
        for line in report.failed:
            click.echo(line, err=True)
        for case_id in report.kept_previous:
            click.echo(f"{case_id}: file now invalid; its previous version stays indexed", err=True)
        counts = ", ".join(f"{n} {name}" for name, n in report.counts().items())
        click.echo(f"{counts}; {report.chunks_total} chunks indexed in {report.seconds:.1f}s")
    if not report.ok:
        sys.exit(1)


class _Progress:
    """A progress bar on stderr for long work; silent when output is JSON or not a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.render_finish()

    def status(self, message: str) -> None:
        if self.enabled:
            click.echo(message + "...", err=True)

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label="embedding chunks", file=sys.stderr)
            self._bar.render_progress()
        self._bar.update(done - self._bar.pos)


@cli.command()
@click.argument("question", required=False)
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="How many cases to return.",
)
@MARKET_OPTION
@ASKER_OPTION
@click.option(
    "--batch",
    type=click.File("r", encoding="utf-8", errors="surrogateescape"),
    help='JSON lines {"id": ..., "q": ..., "market": optional}; one result line each '
    '(a bad line gets {"id", "error"} and the batch goes on; exit 1 if any line failed).',
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the documented shape).")
@click.option("--embedder", type=click.Choice(get_args(EmbedderName)))
@click.pass_context
@_edge
def search(
    ctx: click.Context,
    question: str | None,
    k: int,
    market: str | None,
    asker: str | None,
    batch: TextIO | None,
    as_json: bool,
    embedder: str | None,
) -> None:
    """Find the cases that answer QUESTION, best first, one per company case."""
    from app.retrieval import Retriever

    if (question is None) == (batch is None):
        raise click.UsageError("give a QUESTION or --batch FILE (not both)")
    text = _question(question) if question is not None else None
    settings = _settings(ctx, asker_market=asker, embedder=embedder)
    retriever = Retriever.open(settings)
    if batch is not None:
        if not _search_batch(retriever, batch, k, market):
            sys.exit(1)
        return
    assert text is not None
    result = retriever.search(text, k=k, market=_market_choice(market))
    if as_json:
        _echo_json(result.as_json())
    else:
        _print_hits(result)


def _market_choice(value: str | None) -> MarketChoice:
    from ingest.schema import Market

    if value is None:
        return None
    return "any" if value == "any" else Market(value)


def _search_batch(retriever: Retriever, lines: Iterable[str], k: int, market: str | None) -> bool:
    """One JSON result line per question line; a bad line gets an error line. True if all ok."""
    from app.question import clean_question

    ok = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            qid, text, chosen = _batch_item(line, number, market)
            result = retriever.search(clean_question(text).text, k=k, market=chosen)
        except ElsewhereError as exc:
            ok = False
            _echo_json({"id": _line_id(line, number), "line": number, "error": str(exc)})
            continue
        _echo_json({"id": qid, **result.as_json()})
    return ok


def _batch_item(line: str, number: int, market: str | None) -> tuple[Any, str, MarketChoice]:
    from app.errors import QuestionError

    try:
        item = json.loads(line)
        qid, text = item["id"], item["q"]
        chosen = _market_choice(item.get("market") or market)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise QuestionError(
            "bad_line", f'line {number}: expected {{"id": ..., "q": ..., "market": optional}}'
        ) from None
    if not isinstance(text, str):
        raise QuestionError("bad_line", f'line {number}: "q" must be a string')
    return qid, text, chosen


def _line_id(line: str, number: int) -> Any:
    try:
        item = json.loads(line)
        return item.get("id") if isinstance(item, dict) else None
    except ValueError:
        return None


def _print_hits(result: SearchResult) -> None:
    from app.question import printable

    scope = result.market_filter or "any market"
    if result.market_reason:
        scope += f', from "{result.market_reason}"'
    lines = [f"{len(result.hits)} case(s) for: {result.query}  [{scope}]"]
    if result.weak and result.hits:
        lines.append(_weak_line(result))
    for rank, hit in enumerate(result.hits, start=1):
        r = hit.record
        lines.append(f"\n{rank}. {r.company} ({r.market}, {r.sector}, {r.outcome})  [{r.case_id}]")
        lines.append(f"   {r.summary}")
        if hit.evidence:
            best = hit.evidence[0]
            snippet = " ".join(best.text.split())[:240]
            lines.append(f"   {best.section}: {snippet}")
    click.echo(printable("\n".join(lines)))  # case text is untrusted: no terminal escapes


def _weak_line(result: SearchResult) -> str:
    from app.industries import industry_label

    if result.uncovered:
        named = ", ".join(industry_label(i, "en") for i in result.uncovered)
        return f"No case is about {named}: these are the closest, not a direct answer."
    return "No case matches this well: these are the closest, not a direct answer."


@cli.command()
@click.option("--host", help="Interface to bind [ELSEWHERE_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [ELSEWHERE_PORT, default 7860].")
@click.pass_context
@_edge
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Start the web app; loopback only unless ELSEWHERE_AUTH=user:password is set."""

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from app.web import serve as run_server

    settings = _settings(ctx, host=host, port=port)
    run_server(settings, say=lambda line: click.echo(f"{line} (Ctrl+C to stop)", err=True))


@cli.command()
@click.argument("question")
@MARKET_OPTION
@ASKER_OPTION
@LLM_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the answer object as JSON.")
@click.pass_context
@_edge
def ask(
    ctx: click.Context,
    question: str,
    market: str | None,
    asker: str | None,
    llm: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION with a short brief citing the matched cases (streams to the terminal)."""
    from app.chain import Brief, Done, Token
    from app.question import printable
    from app.render import brief_markdown
    from app.session import answer_session

    text = _question(question)
    settings = _settings(ctx, asker_market=asker, llm=llm)
    if not as_json:
        click.echo(f"loading ({settings.llm} model)...", err=True)
    with answer_session(settings) as engine:
        for event in engine.stream(text, market=_market_choice(market)):
            if as_json:
                if isinstance(event, Done):
                    _echo_json(event.answer.as_json())
            elif isinstance(event, Brief):
                click.echo(printable(brief_markdown(event.result)))
                if engine.chat_model is not None and event.result.hits:
                    click.echo("---")
            elif isinstance(event, Token):
                click.echo(printable(event.text), nl=False)
            elif isinstance(event, Done):
                _print_answer_footer(event.answer)


def _print_answer_footer(answer: Answer) -> None:
    if answer.citations:
        click.echo(
            "\n\nCited: "
            + "; ".join(f"[{c.n}] {c.company} ({c.case_id})" for c in answer.citations)
        )
    if answer.invalid_citations:
        click.echo(
            "Removed citations of cases that were not given: "
            + ", ".join(f"[{n}]" for n in answer.invalid_citations)
        )
    for warning in answer.warnings:
        click.echo(f"Not verified: the answer {warning}.")
    if answer.corrections:
        kinds = sorted({c.kind for c in answer.corrections})
        click.echo(
            f"\n({len(answer.corrections)} sentence(s) of the model's draft not shown: "
            f"{', '.join(kinds)} check)",
            err=True,
        )
    if answer.notice:
        click.echo(f"\n{answer.notice}", err=True)
    t = answer.timings
    click.echo(
        f"\n[{answer.provider}; brief {t.brief_ms:.0f} ms, first model text "
        f"{t.first_token_ms or 0:.0f} ms, total {t.total_ms or 0:.0f} ms]",
        err=True,
    )


@cli.command()
@click.argument("case_ids", nargs=-1, required=True)
@LLM_OPTION
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of the model's synthesis.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_context
@_edge
def compare(
    ctx: click.Context, case_ids: tuple[str, ...], llm: str | None, lang: str, as_json: bool
) -> None:
    """Compare 2 to 4 cases side by side, lever by lever, each cell quoted from its case."""
    from app.compare import compare_cases, synthesize
    from app.retrieval import load_index

    settings = _settings(ctx, llm=llm)
    records, _ = load_index(settings)
    comparison = compare_cases(records, list(case_ids))
    if settings.llm != "none":
        from app.session import answer_session

        with answer_session(settings) as engine:
            if engine.chat_model is None:
                comparison.notice = engine.load_notice
            else:
                chat = engine.chat_model
                language = "中文" if lang == "zh" else ""
                for piece in synthesize(comparison, chat, engine.encoding, records, language):
                    if not as_json:
                        click.echo(piece, nl=False, err=True)
                if not as_json:
                    click.echo("", err=True)
    if as_json:
        _echo_json(comparison.as_json())
    else:
        click.echo(comparison.markdown())


@cli.group("eval", invoke_without_command=True)
@click.pass_context
def eval_group(ctx: click.Context) -> None:
    """Measure retrieval (gold questions; a BEIR dataset), answers, or the moves points open
    with. Plain `eval` = `eval gold`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(eval_gold)


OUT_OPTION = click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("evals/runs"),
    show_default=True,
    help="Folder for the JSON and Markdown outputs.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")


@eval_group.command("gold")
@click.option(
    "--check",
    is_flag=True,
    help="CI gate: exit 1 if the product config drops significantly vs evals/baseline.json.",
)
@click.option("--update-baseline", is_flag=True, help="Write the product config's run as baseline.")
@click.option("--configs", help="Comma-separated configuration names (default: all).")
@OUT_OPTION
@JSON_OPTION
@click.pass_context
@_edge
def eval_gold(
    ctx: click.Context,
    check: bool = False,
    update_baseline: bool = False,
    configs: str | None = None,
    out: Path = Path("evals/runs"),
    as_json: bool = False,
) -> None:
    """Case-level retrieval on the gold questions, several configurations side by side."""
    from evals.report import markdown_table
    from evals.runner import gold_eval

    settings = _settings(ctx)
    status = _Progress(enabled=not as_json).status
    report = gold_eval(settings, configs, out, status, check, update_baseline)
    if as_json:
        _echo_json(report.as_json())
    else:
        click.echo(markdown_table(report.results, report.meta))
        click.echo(f"outputs: {', '.join(str(p) for p in report.outputs.values())}", err=True)
    if report.baseline_written:
        click.echo(f"baseline written to {report.baseline_written}", err=True)
    if report.gate is not None:
        click.echo(report.gate.message, err=as_json)
    if not report.passed:
        sys.exit(1)


@eval_group.command("beir")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Reported qrels split.")
@click.option(
    "--tune-split",
    default="train",
    show_default=True,
    help="Split used to tune BM25 and fusion (never the reported one).",
)
@click.option("--limit", type=click.IntRange(1), help="Use only the first N queries of each split.")
@OUT_OPTION
@JSON_OPTION
@click.pass_context
@_edge
def eval_beir(
    ctx: click.Context,
    folder: Path,
    split: str,
    tune_split: str,
    limit: int | None,
    out: Path,
    as_json: bool,
) -> None:
    """Our retrieval code on a BEIR-format dataset FOLDER (BM25, dense, hybrid vs published)."""
    from evals.beir import run_beir, write_beir_outputs

    if split == tune_split:
        raise click.UsageError("--split and --tune-split must differ (never tune on the report)")
    settings = _settings(ctx)
    status = _Progress(enabled=not as_json).status
    result = run_beir(settings, folder, split, tune_split, limit, status)
    paths = write_beir_outputs(result, out)
    if as_json:
        _echo_json({**asdict(result), "outputs": {k: str(v) for k, v in paths.items()}})
    else:
        click.echo(result.markdown())
        click.echo(f"outputs: {', '.join(str(p) for p in paths.values())}", err=True)


@eval_group.command("moves")
@OUT_OPTION
@JSON_OPTION
@click.option(
    "--judge/--no-judge",
    default=True,
    show_default=True,
    help="with ELSEWHERE_LLM_JUDGE_MOVES >= 2, include the configured model's judgement of "
    "the best moves, as the answers then do (about 20 minutes with the local model); "
    "--no-judge: the encoders alone, no model",
)
@click.pass_context
@_edge
def eval_moves(ctx: click.Context, out: Path, as_json: bool, judge: bool) -> None:
    """Which sentence a point opens with, against evals/moves.jsonl: ours vs naive pickers."""
    from evals.moves import run_moves_eval

    settings = _settings(ctx)
    status = _Progress(enabled=not as_json).status
    report, paths = run_moves_eval(settings, out, status, judge)
    if as_json:
        _echo_json(report)
    else:
        from evals.moves import moves_markdown

        click.echo(moves_markdown(report))
    click.echo(f"outputs: {', '.join(str(p) for p in paths.values())}", err=True)


@eval_group.command("answers")
@click.option(
    "--limit",
    type=click.IntRange(1),
    help="Answer N questions spread over the fixed 40-question subset (default: all 40).",
)
@click.option(
    "--no-baseline",
    is_flag=True,
    help="Only our answers (about a minute; the baseline takes 30-45 minutes on 2 cores).",
)
@LLM_OPTION
@OUT_OPTION
@JSON_OPTION
@click.pass_context
@_edge
def eval_answers(
    ctx: click.Context,
    limit: int | None,
    no_baseline: bool,
    llm: str | None,
    out: Path,
    as_json: bool,
) -> None:
    """Our answers and a LangChain stuff-chain baseline on the gold subset, every point checked."""
    from evals.answers import answers_markdown, evaluate_answers

    settings = _settings(ctx, llm=llm)
    status = _Progress(enabled=not as_json).status
    report, paths = evaluate_answers(settings, limit, status, out, baseline=not no_baseline)
    if as_json:
        _echo_json({k: v for k, v in report.items() if k != "texts"})
    else:
        click.echo(answers_markdown(report))
    click.echo(f"outputs: {', '.join(str(p) for p in paths.values())}", err=True)


def main() -> None:
    from app.llm import prefer_sleeping_openmp

    prefer_sleeping_openmp()  # before anything can load OpenMP (torch, llama.cpp)
    cli(prog_name="elsewhere")


if __name__ == "__main__":
    main()
