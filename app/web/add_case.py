"""Add case (analysts): a form built from the case schema, or a .md upload. Both go through
`ingest.submit` (the checks of `elsewhere cases check`); on success the case is indexed at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from app.errors import CaseFileError, CaseProblem
from app.library import CaseFilter
from app.web.common import WebContext, esc, t, user_errors
from app.web.compare import choices
from app.web.library import rows
from ingest.submit import FormField, check_submission, compose_case, form_fields, save_submission
from ingest.template import body_template

HINTS = {
    "list": "comma-separated",
    "records": "one per line: title | publisher | year | url",
}


def _widget(spec: FormField) -> gr.components.Component:
    label = spec.name + ("" if spec.required else " (optional)")
    elem_id = f"add-{spec.name}"
    if spec.kind == "choice":
        return gr.Dropdown(list(spec.choices), value=None, label=label, elem_id=elem_id)
    if spec.kind == "multi":
        return gr.Dropdown(list(spec.choices), multiselect=True, label=label, elem_id=elem_id)
    lines = 3 if spec.kind == "records" or spec.name == "summary" else 1
    return gr.Textbox(label=label, info=HINTS.get(spec.kind), lines=lines, elem_id=elem_id)


def problems_by_field(problems: list[CaseProblem], names: list[str]) -> dict[str, list[str]]:
    """Each problem under the form field it is about; the rest (body, file) under `body`."""
    placed: dict[str, list[str]] = {}
    for problem in problems:
        root = (problem.field or "").split(".", 1)[0]
        key = root if root in names else "body"
        where = f"line {problem.line}: " if key == "body" and problem.line else ""
        what = f"`{problem.field}` " if problem.field and problem.field != key else ""
        placed.setdefault(key, []).append(f"⚠ {where}{what}{esc(problem.message)}")
    return placed


def build(ctx: WebContext, picks: gr.Dropdown, table: gr.Dataframe) -> None:
    specs = form_fields()
    names = [spec.name for spec in specs]

    def saved(submission: Any) -> str:
        report = ctx.service.reindex()
        searchable = submission.case_id in ctx.retriever.records
        counts = ", ".join(f"{n} {name}" for name, n in report.counts().items())
        tail = "It is searchable now." if searchable else "It was not indexed; see the problems."
        verb = "Replaced" if submission.replaces else "Saved"
        return f"✅ {verb} `{submission.relpath}` and indexed it ({counts}). {tail}"

    def refreshed() -> tuple[Any, Any]:
        return gr.update(choices=choices(ctx)), gr.update(value=rows(ctx, CaseFilter()))

    @user_errors
    def submit(write: bool, replace: bool, body: str, *values: Any) -> list[Any]:
        raw = compose_case(dict(zip(names, values, strict=True)), body or "")
        limit = ctx.settings.max_case_bytes
        errors = {name: "" for name in [*names, "body"]}
        try:
            if write:
                status = saved(save_submission(ctx.settings.cases_dir, raw, limit, replace))
            else:
                check_submission(ctx.settings.cases_dir, raw, limit, replace)
                status = "✅ Valid; nothing written yet."
        except CaseFileError as exc:
            for key, lines in problems_by_field(exc.problems, names).items():
                errors[key] = "\n\n".join(lines)
            status = f"❌ {len(exc.problems)} problem(s); nothing was written."
        return [status, *[errors[n] for n in names], errors["body"], *refreshed()]

    @user_errors
    def upload(path: str | None, replace: bool) -> list[Any]:
        if not path:
            return ["No file.", *refreshed()]
        source = Path(path)
        limit = ctx.settings.max_case_bytes
        if source.stat().st_size > limit:
            source.unlink(missing_ok=True)
            return [f"❌ Refused: larger than {limit:,} bytes; nothing was written.", *refreshed()]
        raw = source.read_bytes()
        try:
            status = saved(save_submission(ctx.settings.cases_dir, raw, limit, replace))
        except CaseFileError as exc:
            lines = "\n".join(f"- {esc(str(p))}" for p in exc.problems)
            status = f"❌ Problems found; nothing was written:\n\n{lines}"
        return [status, *refreshed()]

    with gr.Tab(t("tab_add"), id="add"):
        gr.Markdown(
            "Fill in every field (vocabularies are lists), or upload a `.md` case file. "
            "Checked exactly like `elsewhere cases check`; saved as "
            "`cases/<market>/<id>.md` and indexed at once."
        )
        widgets, errors = [], []
        with gr.Row():
            with gr.Column():
                for spec in specs:
                    widgets.append(_widget(spec))
                    errors.append(
                        gr.Markdown(elem_id=f"err-{spec.name}", elem_classes="field-error")
                    )
            with gr.Column():
                body = gr.Textbox(
                    body_template("Company"), label=t("body"), lines=24, elem_id="add-body"
                )
                body_error = gr.Markdown(elem_id="err-body", elem_classes="field-error")
        replace = gr.Checkbox(label=t("replace"), elem_id="add-replace")
        with gr.Row():
            check = gr.Button(t("check"), elem_id="add-check")
            save = gr.Button(t("save"), variant="primary", elem_id="add-save")
        status = gr.Markdown(elem_id="add-status")
        file = gr.File(file_types=[".md"], label=t("upload"), elem_id="add-upload", type="filepath")
        outputs = [status, *errors, body_error, picks, table]
        check.click(
            lambda *a: submit(False, *a), [replace, body, *widgets], outputs, api_name="check_case"
        )
        save.click(
            lambda *a: submit(True, *a), [replace, body, *widgets], outputs, api_name="save_case"
        )
        file.upload(upload, [file, replace], [status, picks, table], api_name="upload_case")
