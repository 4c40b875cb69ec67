"""Evals: run the retrieval eval from the page, show the newest table, chart and answer-eval
summary, and the feedback users left (each can become a gold-question draft)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.feedback import gold_draft
from app.web.common import WebContext, esc, t, user_errors
from evals.report import latest_outputs

DEFAULT_CONFIGS = ["bm25", "hybrid-use+geo+lever"]
PROGRESS = gr.Progress()  # Gradio injects the request's tracker in its place
FEEDBACK_COLUMNS = ["#", "time", "vote", "question", "cited", "comment"]


def feedback_rows(ctx: WebContext) -> list[list[Any]]:
    return [
        [f.id, f.created, f.vote, f.question, ", ".join(f.cited), f.comment]
        for f in ctx.feedback.all()
    ]


def latest(ctx: WebContext) -> tuple[str, str | None, str]:
    found = latest_outputs(ctx.runs_dir)
    table = (
        f"Latest retrieval run: `{found.retrieval_md.name}`\n\n"
        + esc(found.retrieval_md.read_text("utf-8"))
        if found.retrieval_md
        else "No retrieval eval run yet: run one here or with `make eval`."
    )
    answers = (
        f"Latest answer eval: `{found.answers_md.name}`\n\n"
        + esc(found.answers_md.read_text("utf-8"))
        if found.answers_md
        else "No answer eval yet: `elsewhere eval answers` writes one."
    )
    return table, str(found.retrieval_png) if found.retrieval_png else None, answers


def build(ctx: WebContext) -> None:
    from evals.harness import CONFIGS

    @user_errors
    def run(configs: list[str], progress: gr.Progress = PROGRESS) -> tuple[Any, ...]:
        from evals.report import write_outputs
        from evals.runner import run_gold_eval, select_configs

        specs = select_configs(",".join(configs or DEFAULT_CONFIGS))
        steps = iter(range(1, 1000))

        def status(message: str) -> None:
            progress((next(steps), None), desc=message)

        def job() -> None:
            results, meta, _ = run_gold_eval(ctx.settings, specs, status)
            write_outputs(results, ctx.runs_dir, meta)

        ctx.service.exclusive(job)  # never alongside a generation or an ingest
        return latest(ctx)

    @user_errors
    def draft(number: float | None) -> str:
        if not number:
            raise gr.Error("Type the number (#) of a feedback row first.")
        return gold_draft(ctx.feedback.get(int(number)))

    table, chart, answers = latest(ctx)
    with gr.Tab(t("tab_evals"), id="evals"):
        configs = gr.CheckboxGroup(
            [c.name for c in CONFIGS],
            value=DEFAULT_CONFIGS,
            label=t("configs"),
            elem_id="eval-configs",
        )
        start = gr.Button(t("run_eval"), variant="primary", elem_id="eval-run")
        with gr.Row(equal_height=False):
            shown = gr.Markdown(table, elem_id="eval-table")
            image = gr.Image(chart, label="nDCG@10", type="filepath", elem_id="eval-chart")
        answer_summary = gr.Markdown(answers, elem_id="eval-answers")
        start.click(run, configs, [shown, image, answer_summary], api_name="run_eval")
        gr.Markdown("### Feedback")
        feedback = gr.Dataframe(
            feedback_rows(ctx),
            headers=FEEDBACK_COLUMNS,
            interactive=False,
            elem_id="feedback-table",
        )
        refresh = gr.Button(t("refresh"), size="sm")
        refresh.click(lambda: feedback_rows(ctx), None, feedback, api_name="feedback")
        with gr.Row():
            number = gr.Number(label=t("make_draft"), precision=0, elem_id="draft-number")
            make = gr.Button(t("draft"), elem_id="draft-make")
        line = gr.Code(label=t("draft"), language="json", elem_id="draft-line")
        make.click(draft, number, line, api_name="gold_draft")
