"""Synthetic case files for scale benchmarks: schema-valid, realistic lengths, clearly fake.

Every file is marked synthetic (id `synthetic-NNNNNN`, company `Synthetic NNNNNN`, a summary
starting "SYNTHETIC benchmark case") and is written only to a folder outside the repository's
`cases/`, normally a temp dir. Section lengths follow the library's template (500 to 1,200 words
per case, a few sentences per section) with a Zipf-like vocabulary, so chunk counts, token
counts and BM25 statistics look like the real library's.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from ingest.mechanisms import mechanism_ids
from ingest.schema import LEVER_SECTIONS, SECTIONS, SECTORS, Lever

REPO_CASES = Path(__file__).resolve().parent.parent / "cases"
_STEMS = (
    "market customer order driver rider merchant subsidy fee membership price margin cost "
    "revenue supply demand growth churn retention acquisition referral platform app store "
    "delivery logistics payment wallet credit loan seller buyer shopper brand inventory "
    "warehouse network city region share commission take rate ad advertising coupon discount "
    "bundle subscription loyalty program pilot launch expansion regulator policy competitor "
    "rival war funding investor loss profit unit economics basket frequency cohort channel "
    "offline online community group team friend invite live stream video creator content "
    "search recommendation data model fleet battery vehicle bike scooter ride trip booking "
    "hotel flight travel health clinic pharmacy school course student teacher tool software"
).split()
_GLUE = "the a of to and in for on with by as at from that which after before while".split()


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    """Real business words first (frequent), then invented ones (the long tail)."""
    words = list(_STEMS)
    while len(words) < size:
        stem = rng.choice(_STEMS)
        tail = "".join(rng.choice("aeioulnrstk") for _ in range(rng.randint(2, 4)))
        words.append(stem[: rng.randint(min(3, len(stem)), len(stem))] + tail)
    return words


def _sentence(rng: random.Random, vocab: list[str], weights: list[float]) -> str:
    length = rng.randint(9, 22)
    picks = rng.choices(vocab, cum_weights=weights, k=length)
    for n in range(len(picks)):
        if rng.random() < 0.3:
            picks[n] = rng.choice(_GLUE)
    if rng.random() < 0.3:
        picks.insert(
            rng.randrange(len(picks)), f"{rng.randint(2, 95)}% in {rng.randint(2010, 2024)}"
        )
    return " ".join(picks).capitalize() + "."


def _zipf(size: int) -> list[float]:
    """Cumulative Zipf-like weights (rank r ~ 1 / (r + 10))."""
    total, cumulative = 0.0, []
    for rank in range(size):
        total += 1.0 / (rank + 10)
        cumulative.append(total)
    return cumulative


def _section(rng: random.Random, vocab: list[str], weights: list[float], words: int) -> str:
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(_sentence(rng, vocab, weights))
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs)


def case_file(
    number: int, rng: random.Random, vocab: list[str], weights: list[float]
) -> tuple[str, str, str]:
    """(market, file name, text) of synthetic case `number`."""
    market = "china" if number % 2 else "overseas"
    case_id = f"synthetic-{number:06d}"
    lever = rng.choice(list(Lever)).value
    front = {
        "id": case_id,
        "company": f"Synthetic {number:06d}",
        "market": market,
        "hq_country": "CN" if market == "china" else "US",
        "countries": ["CN"] if market == "china" else ["US"],
        "sector": rng.choice(SECTORS),
        "years": "2016-2022",
        "problems": [f"{rng.choice(_STEMS)} {rng.choice(_STEMS)} problem"],
        "levers": [lever],
        "mechanisms": [rng.choice(mechanism_ids())],
        "summary": f"SYNTHETIC benchmark case {number}: not a real company; generated text.",
        "outcome": rng.choice(["worked", "mixed", "failed"]),
        "as_of": "2026-11",
        "sources": [{"title": "Synthetic source (benchmark)", "publisher": "none", "year": 2022}],
    }
    if market == "china":
        front["company_zh"] = "合成案例"
    body = [f"# Synthetic {number:06d} (SYNTHETIC)", ""]
    for name in SECTIONS:
        words = rng.randint(25, 45) if name in LEVER_SECTIONS else rng.randint(60, 140)
        body += [f"## {name}", _section(rng, vocab, weights, words), ""]
    text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n"
    return market, f"{case_id}.md", text + "\n".join(body)


def write_synthetic_library(target: Path, cases: int, seed: int = 7) -> Path:
    """Write `cases` synthetic case files under target/china and target/overseas."""
    if target.resolve().is_relative_to(REPO_CASES.resolve()):
        raise ValueError(f"synthetic cases never go into {REPO_CASES}; use a temp dir")
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    weights = _zipf(len(vocab))
    for number in range(1, cases + 1):
        market, name, text = case_file(number, rng, vocab, weights)
        (target / market).mkdir(parents=True, exist_ok=True)
        (target / market / name).write_text(text, encoding="utf-8")
    return target
