"""Entry points behind `elsewhere eval`: the gold-set run, the CI gate, the baseline update."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import ElsewhereError
from evals.gold import GOLD_PATH, GoldQuestion, gold_problems, load_gold
from evals.harness import CONFIGS, ConfigResult, ConfigSpec, Status, evaluate_configs
from evals.report import (
    PRODUCT_CONFIG,
    GateResult,
    check_baseline,
    save_baseline,
    write_outputs,
)

if TYPE_CHECKING:
    from app.settings import Settings

BASELINE_PATH = Path(__file__).with_name("baseline.json")


def checked_gold(settings: Settings, path: Path = GOLD_PATH) -> list[GoldQuestion]:
    """Gold questions, refusing to run if any names a case the library does not have."""
    from ingest.parse import scan_library

    scan = scan_library(settings.cases_dir, max_bytes=settings.max_case_bytes)
    markets = {case.id: case.meta.market.value for case in scan.cases}
    questions = load_gold(path)
    problems = gold_problems(questions, markets)
    if problems:
        raise ElsewhereError("the gold set does not match the library:\n" + "\n".join(problems))
    return questions


def select_configs(names: str | None) -> tuple[ConfigSpec, ...]:
    if not names:
        return CONFIGS
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {spec.name: spec for spec in CONFIGS}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ElsewhereError(f"unknown config(s) {unknown}; choose from {sorted(known)}")
    return tuple(known[n] for n in wanted)


def run_gold_eval(
    settings: Settings, specs: tuple[ConfigSpec, ...], status: Status
) -> tuple[list[ConfigResult], dict[str, Any], list[GoldQuestion]]:
    from evals.harness import prepare_searchers

    questions = checked_gold(settings)  # no-match ones are scored by the weak-flag P/R only
    searchers = prepare_searchers(settings, specs, status)
    results = evaluate_configs(questions, searchers, specs, status)
    meta = {
        "questions": len(questions),
        "tune": sum(q.split == "tune" for q in questions),
        "holdout": sum(q.split == "holdout" for q in questions),
        "zh": sum(q.lang == "zh" for q in questions),
        "product_config": PRODUCT_CONFIG,
    }
    return results, meta, questions


@dataclass
class GoldReport:
    """Everything `elsewhere eval gold` shows: results, where they were written, the gate."""

    results: list[ConfigResult]
    meta: dict[str, Any]
    outputs: dict[str, Path]
    gate: GateResult | None = None
    baseline_written: Path | None = None

    @property
    def passed(self) -> bool:
        return self.gate is None or self.gate.passed

    def as_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "configs": [asdict(r) for r in self.results],
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "gate": asdict(self.gate) if self.gate else None,
        }


def gold_eval(
    settings: Settings,
    configs: str | None,
    out: Path,
    status: Status,
    check: bool = False,
    update_baseline: bool = False,
    baseline: Path = BASELINE_PATH,
) -> GoldReport:
    """Run the gold eval; `check` gates the product config against the baseline file."""
    if check and not baseline.exists():
        raise ElsewhereError(
            f"--check needs a baseline at {baseline}; create it with "
            "`elsewhere eval gold --update-baseline`"
        )
    specs = select_configs(
        PRODUCT_CONFIG if ((check or update_baseline) and not configs) else configs
    )
    if (check or update_baseline) and PRODUCT_CONFIG not in {s.name for s in specs}:
        raise ElsewhereError(
            f"--check and --update-baseline measure the product config {PRODUCT_CONFIG!r}; "
            "include it in --configs"
        )
    results, meta, questions = run_gold_eval(settings, specs, status)
    product = (
        next(r for r in results if r.name == PRODUCT_CONFIG) if (check or update_baseline) else None
    )
    report = GoldReport(results, meta, write_outputs(results, out, meta))
    if check and product is not None:
        qrels = {q.id: dict(q.relevant) for q in questions if not q.no_match}
        report.gate = check_baseline(product, qrels, baseline)
    if update_baseline and product is not None:
        save_baseline(product, baseline)
        report.baseline_written = baseline
    return report
