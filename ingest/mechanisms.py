"""The controlled vocabulary of business-model mechanisms (`ingest/data/mechanisms.yaml`).

Each case names the mechanisms it uses (front matter `mechanisms`); retrieval matches a
question against each mechanism's definition and paraphrases, so "we sell the device at cost"
finds razor-and-blade cases in any sector. The file is validated when first read: unique slug
ids, every field present and non-empty, at least two paraphrases per language.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from app.errors import LibraryError

MECHANISMS_PATH = Path(__file__).with_name("data") / "mechanisms.yaml"
_TEXT_FIELDS = ("id", "name_en", "name_zh", "definition_en", "definition_zh")
_LIST_FIELDS = ("paraphrases_en", "paraphrases_zh")
MIN_PARAPHRASES = 2


@dataclass(frozen=True)
class Mechanism:
    id: str
    name_en: str
    name_zh: str
    definition_en: str
    definition_zh: str
    paraphrases_en: tuple[str, ...]
    paraphrases_zh: tuple[str, ...]

    def phrasings(self) -> tuple[str, ...]:
        """Every way the vocabulary describes this mechanism, in both languages."""
        return (
            f"{self.name_en}: {self.definition_en}",
            f"{self.name_zh}：{self.definition_zh}",
            *self.paraphrases_en,
            *self.paraphrases_zh,
        )


def parse_mechanisms(data: object, where: str) -> tuple[Mechanism, ...]:
    """Validate the loaded YAML; any problem is a LibraryError naming the entry and field."""
    if not isinstance(data, list) or not data:
        raise LibraryError(f"{where}: expected a non-empty list of mechanisms")
    found: list[Mechanism] = []
    seen: set[str] = set()
    for number, entry in enumerate(data, start=1):
        label = f"{where} entry {number}"
        if not isinstance(entry, dict):
            raise LibraryError(f"{label}: expected a mapping with {', '.join(_TEXT_FIELDS)}")
        label = f"{where} entry {number} ({entry.get('id', '?')})"
        unknown = set(entry) - set(_TEXT_FIELDS) - set(_LIST_FIELDS)
        if unknown:
            raise LibraryError(f"{label}: unknown field(s) {sorted(unknown)}")
        for name in _TEXT_FIELDS:
            if not isinstance(entry.get(name), str) or not entry[name].strip():
                raise LibraryError(f"{label}: `{name}` is missing or empty")
        for name in _LIST_FIELDS:
            items = entry.get(name)
            if not isinstance(items, list) or len(items) < MIN_PARAPHRASES:
                raise LibraryError(f"{label}: `{name}` needs at least {MIN_PARAPHRASES} phrases")
            if not all(isinstance(item, str) and item.strip() for item in items):
                raise LibraryError(f"{label}: `{name}` has an empty or non-text phrase")
        slug = entry["id"]
        if not slug.replace("-", "").isalnum() or slug != slug.lower() or "--" in slug:
            raise LibraryError(f"{label}: `id` must be a lowercase slug, got {slug!r}")
        if slug in seen:
            raise LibraryError(f"{label}: duplicate id {slug!r}")
        seen.add(slug)
        text = {name: entry[name].strip() for name in _TEXT_FIELDS}
        found.append(
            Mechanism(
                id=text["id"],
                name_en=text["name_en"],
                name_zh=text["name_zh"],
                definition_en=text["definition_en"],
                definition_zh=text["definition_zh"],
                paraphrases_en=tuple(p.strip() for p in entry["paraphrases_en"]),
                paraphrases_zh=tuple(p.strip() for p in entry["paraphrases_zh"]),
            )
        )
    return tuple(found)


@functools.cache
def load_mechanisms(path: Path = MECHANISMS_PATH) -> tuple[Mechanism, ...]:
    """The vocabulary, validated once per process."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LibraryError(f"cannot read the mechanism vocabulary {path}: {exc}") from None
    return parse_mechanisms(data, str(path))


def mechanism_ids() -> tuple[str, ...]:
    return tuple(m.id for m in load_mechanisms())
