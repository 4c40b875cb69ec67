"""What every tab shares: the error adapter, HTML escaping of untrusted text, case links, labels.

Case files and model output are untrusted: every text taken from them is HTML-escaped before it
reaches a Markdown or HTML component, so a `<script>` or `<img>` in a case shows as text.
"""

from __future__ import annotations

import functools
import html
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.errors import ElsewhereError
from app.feedback import FeedbackStore
from app.retrieval import Retriever
from app.session import AnswerService
from app.settings import Settings

CASE_LINK = "#open:{scope}:{case_id}"  # caught by LINK_JS, which opens the case in that tab


@dataclass
class WebContext:
    """What the tabs wire to: one settings object, the retriever, the serialised service."""

    settings: Settings
    retriever: Retriever
    service: AnswerService
    feedback: FeedbackStore
    runs_dir: Path


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """The one adapter: our errors become a clean message in the page, never a traceback."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from func(*args, **kwargs)
            except ElsewhereError as exc:
                raise gr.Error(str(exc)) from None

        return stream

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ElsewhereError as exc:
            raise gr.Error(str(exc)) from None

    return call


def esc(text: str) -> str:
    """Untrusted text for a Markdown component: no HTML, no Markdown images (no tracking)."""
    return html.escape(str(text), quote=False).replace("![", "!\\[")


def case_href(scope: str, case_id: str) -> str:
    return CASE_LINK.format(scope=scope, case_id=case_id)


def link_citations(text: str, case_ids: list[str], scope: str) -> str:
    """`[n]` -> a link that opens case n in the tab's case viewer (text already escaped)."""

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if 1 <= n <= len(case_ids):
            return f"[\\[{n}\\]]({case_href(scope, case_ids[n - 1])})"
        return match.group(0)

    return re.sub(r"\[(\d{1,2})\]", link, text)


def case_request_box(scope: str) -> gr.Textbox:
    """Hidden box LINK_JS writes a clicked case id into; its `change` event opens the case."""
    return gr.Textbox(visible="hidden", elem_id=f"case-request-{scope}", show_label=False)


LINK_JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#open:"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const [, scope, caseId] = link.getAttribute('href').split(':');
    const box = document.querySelector(`#case-request-${scope} textarea`);
    if (!box) return;
    box.value = caseId + '@' + Date.now();
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }, true);
}
"""

CSS = """
.case-card { display: block; border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 8px 10px; margin-bottom: 8px;
  text-decoration: none !important; color: inherit !important; }
.case-card:hover { border-color: var(--color-accent); }
.case-card .meta { font-size: 0.85em; opacity: 0.8; }
.field-error { color: var(--error-text-color, #b91c1c); font-size: 0.9em; min-height: 0; }
"""

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "tagline": "Who elsewhere solved X? Ask in English or Chinese.",
        "tab_ask": "Ask", "tab_compare": "Compare", "tab_library": "Library",
        "tab_add": "Add case", "tab_evals": "Evals",
        "chat": "Answer", "question": "Your question", "send": "Ask",
        "new_chat": "New conversation",
        "asker": "I work in", "sector": "Sector (optional)", "lever": "Lever (optional)",
        "sources": "Sources", "case": "Case", "up": "👍 Helpful", "down": "👎 Not helpful",
        "comment": "Comment (optional)", "export": "Export answer (.md)",
        "pick": "Two to four cases (type a company, Chinese name or id)",
        "synthesis": "Add a cited synthesis by the model (waits for the model)",
        "compare": "Compare", "market": "Market", "outcome": "Outcome", "search": "Search the text",
        "cases": "Cases", "upload": "Or upload a .md case file", "replace":
        "Replace an existing case with the same id", "body": "Body (Markdown sections)",
        "check": "Check only", "save": "Save and index", "run_eval": "Run the retrieval eval",
        "configs": "Configurations", "feedback": "Feedback", "draft": "Gold-question draft",
        "make_draft": "Draft a gold question from feedback #", "refresh": "Refresh",
    },
    "zh": {
        "tagline": "别处谁解决过这个问题？可用中文或英文提问。",
        "tab_ask": "提问", "tab_compare": "对比", "tab_library": "案例库",
        "tab_add": "添加案例", "tab_evals": "评测",
        "chat": "回答", "question": "你的问题", "send": "提问", "new_chat": "新对话",
        "asker": "我所在的市场", "sector": "行业（可选）", "lever": "杠杆（可选）",
        "sources": "来源", "case": "案例", "up": "👍 有帮助", "down": "👎 没帮助",
        "comment": "评论（可选）", "export": "导出回答（.md）",
        "pick": "选择两到四个案例（输入公司名、中文名或编号）",
        "synthesis": "让模型写一段带引用的对比（需等待模型）",
        "compare": "对比", "market": "市场", "outcome": "结果", "search": "全文搜索",
        "cases": "案例", "upload": "或上传 .md 案例文件", "replace": "替换同编号的已有案例",
        "body": "正文（Markdown 分节）", "check": "仅检查", "save": "保存并索引",
        "run_eval": "运行检索评测", "configs": "配置", "feedback": "反馈",
        "draft": "金标问题草稿", "make_draft": "从反馈编号生成金标问题草稿", "refresh": "刷新",
    },
}  # fmt: skip
I18N = gr.I18n(en=LABELS["en"], zh=LABELS["zh"], **{"zh-CN": LABELS["zh"]})


def t(key: str) -> Any:
    """A label in the browser's language (English or Chinese)."""
    return I18N(key)
