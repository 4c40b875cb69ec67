"""Prompts are data: each lives in prompts/<name>.yaml (system + user parts, declared variables)
and is rendered strictly, so a missing or unexpected variable is an error, never a silent gap."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from app.errors import ElsewhereError
from ingest.schema import has_chinese

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.prompts import ChatPromptTemplate

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@functools.cache
def load_prompt(name: str, folder: Path = PROMPTS_DIR) -> ChatPromptTemplate:
    """The named prompt as a ChatPromptTemplate, checked against its declared variables."""
    from langchain_core.prompts import ChatPromptTemplate

    path = folder / f"{name}.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        template = ChatPromptTemplate.from_messages(
            [("system", spec["system"]), ("human", spec["user"])]
        )
        declared = set(spec["variables"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ElsewhereError(f"prompt {path} is missing or malformed: {exc}") from None
    if set(template.input_variables) != declared:
        raise ElsewhereError(
            f"prompt {path} uses {sorted(template.input_variables)} but declares {sorted(declared)}"
        )
    return template


@functools.cache
def _instructions(folder: Path = PROMPTS_DIR) -> dict[str, dict[str, str]]:
    path = folder / "languages.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {lang: dict(parts) for lang, parts in data.items()}
    except (OSError, yaml.YAMLError, AttributeError, TypeError) as exc:
        raise ElsewhereError(f"prompt {path} is missing or malformed: {exc}") from None


def instruction(kind: str, text: str) -> str:
    """The closing instruction for `kind` ("answer" or "compare") in the language of `text`."""
    language = "zh" if has_chinese(text) else "en"
    try:
        return _instructions()[language][kind]
    except KeyError:
        raise ElsewhereError(f"prompts/languages.yaml has no {language}.{kind}") from None


def label(language: str, key: str) -> str:
    """A fixed piece of answer text (a label, an instruction) in `language` ("en" or "zh")."""
    try:
        return _instructions()[language][key]
    except KeyError:
        raise ElsewhereError(f"prompts/languages.yaml has no {language}.{key}") from None


def render(name: str, **values: str) -> list[BaseMessage]:
    """Render a prompt to chat messages; any missing or extra variable raises."""
    template = load_prompt(name)
    expected = set(template.input_variables)
    if set(values) != expected:
        raise ElsewhereError(
            f"prompt {name!r} needs exactly {sorted(expected)}, got {sorted(values)}"
        )
    return template.format_messages(**values)
