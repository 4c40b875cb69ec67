"""Eval outputs: a JSON file, a Markdown table and a PNG bar chart per run; the baseline gate."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.harness import METRICS, PRIMARY, ConfigResult

PRODUCT_CONFIG = "product"  # what the product ships (defaults); gated in CI
TOLERANCE = 0.02  # a drop in mean nDCG@10 smaller than this never fails the gate
MAX_P = 0.05


def run_stamp(out_dir: Path) -> str:
    """Create `out_dir` and return the UTC time stamp every output of one run is named with."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_outputs(
    results: list[ConfigResult], out_dir: Path, meta: dict[str, Any]
) -> dict[str, Path]:
    stamp = run_stamp(out_dir)
    paths = {
        "json": out_dir / f"eval-{stamp}.json",
        "markdown": out_dir / f"eval-{stamp}.md",
        "png": out_dir / f"eval-{stamp}.png",
    }
    payload = {"meta": meta, "configs": [asdict(r) for r in results]}
    paths["json"].write_text(json.dumps(payload, indent=1, ensure_ascii=False), "utf-8")
    paths["markdown"].write_text(markdown_table(results, meta), "utf-8")
    _bar_chart(results, paths["png"])
    return paths


def markdown_table(results: list[ConfigResult], meta: dict[str, Any]) -> str:
    head = [
        "config",
        *[f"{m} tune" for m in METRICS[:1]],
        f"{PRIMARY} holdout",
        "recall@5",
        "recall@10",
        "mrr@10",
        "wrong market",
        "median ms",
    ]
    lines = [
        f"Case-level retrieval, {meta['questions']} gold questions "
        f"({meta['tune']} tune / {meta['holdout']} holdout); recall/MRR over all questions; "
        "wrong market = share of top-10 results outside the market the question asks for.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in results:
        row: list[object] = [
            r.name,
            r.metrics["tune"][PRIMARY],
            r.metrics["holdout"][PRIMARY],
            r.metrics["all"]["recall@5"],
            r.metrics["all"]["recall@10"],
            r.metrics["all"]["mrr@10"],
            r.wrong_market["all"],
            r.median_ms,
        ]
        lines.append(_row(row))
    lines += ["", *hard_table(results), "", *no_match_table(results)]
    return "\n".join(lines) + "\n"


NAIVE_CONFIG = "naive-langchain"


def _row(values: list[object]) -> str:
    return "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in values) + " |"


def hard_table(results: list[ConfigResult]) -> list[str]:
    """The hard kinds, per kind and per language, product next to the naive baseline."""
    shown = [r for r in results if r.name in (PRODUCT_CONFIG, NAIVE_CONFIG)] or results[-1:]
    groups = sorted({g for r in shown for g in r.by_group}, key=_group_order)
    if not groups:
        return []
    head = ["hard questions (split/group)", "n"]
    for r in shown:
        head += [f"{r.name} nDCG@10", "R@10", "MRR@10"]
    lines = [
        "By kind (plain = the library's own words; hard = mechanism, analogy, failure, region, "
        "jargon) and, for the hard ones, by language:",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for group in groups:
        row: list[object] = [group, shown[0].group_sizes.get(group, "")]
        for r in shown:
            scores = r.by_group.get(group, {})
            row += [scores.get(m, float("nan")) for m in ("ndcg@10", "recall@10", "mrr@10")]
        lines.append(_row(row))
    return lines


def no_match_table(results: list[ConfigResult]) -> list[str]:
    """How well each configuration's `weak` flag finds the out-of-library questions."""
    rows = [r for r in results if r.no_match and r.no_match["all"]["flagged"] > 0]
    if not rows:
        return ["No-match detection: no configuration flagged any result set as weak."]
    lines = [
        "No-match detection (`weak` flag vs the out-of-library gold questions):",
        "",
        "| config | P tune | R tune | P holdout | R holdout | flagged (all) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, h = r.no_match["tune"], r.no_match["holdout"]
        lines.append(
            _row(
                [
                    r.name,
                    t["precision"],
                    t["recall"],
                    h["precision"],
                    h["recall"],
                    int(r.no_match["all"]["flagged"]),
                ]
            )
        )
    return lines


def _group_order(group: str) -> tuple[int, str]:
    split, _, name = group.partition("/")
    return (0 if split == "tune" else 1, "" if name == "hard" else name)


def _bar_chart(results: list[ConfigResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in results]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.38
    xs = range(len(names))
    for offset, split in ((-width / 2, "tune"), (width / 2, "holdout")):
        values = [r.metrics[split][PRIMARY] for r in results]
        bars = ax.bar([x + offset for x in xs], values, width, label=split)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(list(xs), names, rotation=20, ha="right")
    ax.set_ylabel(PRIMARY)
    ax.set_ylim(0, 1)
    ax.set_title("Elsewhere case-level retrieval")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass(frozen=True)
class LatestOutputs:
    retrieval_md: Path | None
    retrieval_png: Path | None
    answers_md: Path | None


def latest_outputs(out_dir: Path) -> LatestOutputs:
    """The newest retrieval run (table, chart) and answer-eval summary under `out_dir`."""

    def newest(pattern: str) -> Path | None:
        found = sorted(out_dir.glob(pattern)) if out_dir.is_dir() else []
        return found[-1] if found else None

    md = newest("eval-*.md")
    png = md.with_suffix(".png") if md is not None else None
    return LatestOutputs(md, png if png and png.exists() else None, newest("answers-*.md"))


@dataclass
class GateResult:
    passed: bool
    baseline: float
    current: float
    p_value: float | None
    message: str


def save_baseline(result: ConfigResult, path: Path) -> None:
    payload = {"config": result.name, "metrics": result.metrics, "run": result.run}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", "utf-8")


def check_baseline(
    current: ConfigResult, qrels: dict[str, dict[str, int]], path: Path
) -> GateResult:
    """Fail only on a real drop: larger than TOLERANCE and significant by ranx's paired t-test."""
    from ranx import Qrels, Run, compare

    baseline = json.loads(path.read_text("utf-8"))
    shared = sorted(set(baseline["run"]) & set(current.run) & set(qrels))
    qr = Qrels({q: qrels[q] for q in shared})
    base_run = Run({q: baseline["run"][q] or {"__none__": 0.0} for q in shared}, name="baseline")
    cur_run = Run({q: current.run[q] or {"__none__": 0.0} for q in shared}, name="current")
    with warnings.catch_warnings():
        # identical runs make the t-test degenerate (p = nan); that is "no difference", not news
        warnings.simplefilter("ignore", RuntimeWarning)
        report = compare(qr, [base_run, cur_run], [PRIMARY], stat_test="student", max_p=MAX_P)
    data = report.to_dict()
    before = float(data["baseline"]["scores"][PRIMARY])
    after = float(data["current"]["scores"][PRIMARY])
    p_value = float(data["baseline"]["comparisons"]["current"][PRIMARY])
    p_value = 1.0 if math.isnan(p_value) else p_value
    dropped = before - after
    failed = dropped > TOLERANCE and p_value < MAX_P
    verdict = "FAIL" if failed else "ok"
    message = (
        f"{verdict}: {current.name} {PRIMARY} {after:.4f} vs baseline {before:.4f} "
        f"(change {after - before:+.4f}, paired t-test p={p_value:.3g}, {len(shared)} questions; "
        f"fails only if the drop > {TOLERANCE} and p < {MAX_P})"
    )
    return GateResult(not failed, before, after, p_value, message)
