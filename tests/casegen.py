"""Synthetic but schema-valid case files for tests: exact, small and fast to index."""

from __future__ import annotations

from pathlib import Path

import yaml

from ingest.schema import SECTIONS

_FILLER = (
    "The team measured the effect every week and changed the rules when the numbers moved. "
    "Managers compared cohorts, cities and channels before rolling anything out further. "
)


def case_text(
    case_id: str,
    company: str,
    market: str = "overseas",
    sector: str = "food-delivery",
    topic: str = "delivery membership retention",
    problems: list[str] | None = None,
    levers: list[str] | None = None,
    mechanisms: list[str] | None = None,
    outcome: str = "worked",
    extra: dict[str, str] | None = None,
    words_per_section: int = 60,
    countries: list[str] | None = None,
) -> str:
    """A valid case file whose sections mention `topic` (section-specific text via `extra`)."""
    front = {
        "id": case_id,
        "company": company,
        "market": market,
        "hq_country": "CN" if market == "china" else "US",
        "countries": countries or (["CN"] if market == "china" else ["US"]),
        "sector": sector,
        "years": "2018-2022",
        "problems": problems or [f"{topic} problem"],
        "levers": levers or ["demand"],
        "mechanisms": mechanisms or ["subscription"],
        "summary": f"{company} worked on {topic} and reported what happened.",
        "outcome": outcome,
        "as_of": "2026-11",
        "sources": [
            {"title": f"{company} annual report", "publisher": company, "year": 2022},
            {"title": f"{company} coverage", "publisher": "Reuters", "year": 2021},
        ],
    }
    if market == "china":
        front["company_zh"] = "测试公司"
    body = [f"# {company}: {topic}", ""]
    for section in SECTIONS:
        text = (extra or {}).get(section, f"{company} and {topic} in the {section.lower()}.")
        filler = (_FILLER * 20).split()
        need = max(0, words_per_section - len(text.split()))
        body += [f"## {section}", text + " " + " ".join(filler[:need]), ""]
    return (
        "---\n"
        + yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
        + "---\n"
        + "\n".join(body)
    )


def write_case(cases_dir: Path, case_id: str, company: str, market: str = "overseas", **kw) -> Path:
    path = cases_dir / market / f"{case_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(case_text(case_id, company, market, **kw), encoding="utf-8")
    return path


STARTER = [
    (
        "dash-club",
        "DashClub",
        "overseas",
        "food-delivery",
        "delivery membership retention",
        {
            "Revenue model": "A monthly subscription fee of 9.99 replaces per-order delivery fees.",
            "What transfers": "A fee-waiver pass works wherever delivery fees are visible. "
            "A pass does not carry over where coupons already make delivery free.",
        },
    ),
    (
        "red-bag",
        "RedBag",
        "china",
        "payments",
        "payments red envelopes acquisition",
        {
            "Acquisition model": "Lucky money red envelopes made users bind bank cards at no CAC.",
            "What transfers": "Gifting money inside a chat app works where gifting is a custom. "
            "Chat gifting does not carry over where payments already sit with banks.",
        },
    ),
    (
        "bike-go",
        "BikeGo",
        "china",
        "micromobility",
        "bike sharing deposits and subsidies",
        {"Cost model": "Each bike cost money to build and repair; subsidies burned cash."},
    ),
    (
        "scoot",
        "Scoot",
        "overseas",
        "micromobility",
        "scooter fleet unit economics",
        {"Cost model": "Swappable batteries cut the cost of charging each scooter."},
    ),
    (
        "team-buy",
        "TeamBuy",
        "china",
        "e-commerce",
        "group buying friends referral",
        {"Acquisition model": "Team purchase: invite friends to unlock a lower group price."},
    ),
    (
        "cart-prime",
        "CartPrime",
        "overseas",
        "e-commerce",
        "free shipping membership",
        {"Demand model": "Members order more often because shipping is already paid."},
    ),
]


def write_starter(cases_dir: Path) -> list[str]:
    for case_id, company, market, sector, topic, extra in STARTER:
        write_case(cases_dir, case_id, company, market, sector=sector, topic=topic, extra=extra)
    return [row[0] for row in STARTER]
