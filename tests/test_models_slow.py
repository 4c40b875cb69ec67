"""Slow tier: the real packaged embedding models, loaded once per session, on real cases."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from app.retrieval import Retriever
from app.settings import load_settings
from ingest.embed import make_embeddings
from ingest.index import run_ingest
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

REAL = [
    "china/mobike-dockless-bikes",
    "overseas/lime-scooters-path-to-profit",
    "china/nio-battery-swap-baas",
    "overseas/better-place-battery-swap",
    "china/alipay-escrow-trust",
    "overseas/paypal-ebay-payments",
    "overseas/spotify-freemium",
    "china/tencent-music-paid-conversion",
]


@pytest.fixture(scope="session")
def minilm():
    return make_embeddings("minilm")


@pytest.fixture(scope="session")
def use_encoder():
    return make_embeddings("use")


def _copy_real_cases(settings):
    for rel in REAL:
        target = settings.cases_dir / f"{rel}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "cases" / f"{rel}.md", target)


def test_minilm_embeds_offline_and_normalised(minilm):
    vectors = np.array(minilm.embed_documents(["bike sharing deposits", "scooter unit economics"]))
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_real_ingest_and_search_with_minilm(minilm, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_EMBEDDER", "minilm")
    settings = load_settings()
    _copy_real_cases(settings)
    report = run_ingest(settings, embeddings=minilm)
    assert report.ok and len(report.added) == len(REAL)
    retriever = Retriever.open(settings, embeddings=minilm)
    result = retriever.search("dockless bike sharing burned cash on subsidies and deposits", k=3)
    assert result.hits[0].record.case_id == "mobike-dockless-bikes"
    abroad = retriever.search("swapping batteries instead of charging, outside China", k=2)
    assert abroad.market_filter == "overseas"
    assert abroad.hits[0].record.case_id == "better-place-battery-swap"


def test_multilingual_encoder_matches_chinese_question(use_encoder, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_EMBEDDER", "use")
    settings = load_settings()
    _copy_real_cases(settings)
    run_ingest(settings, embeddings=use_encoder)
    from app.retrieval import RetrievalConfig

    dense_only = Retriever.open(settings, RetrievalConfig(use_keyword=False), use_encoder)
    result = dense_only.search("如何让免费听歌的用户付费订阅", k=2, market="any")
    assert {"spotify-freemium", "tencent-music-paid-conversion"} & {
        hit.record.case_id for hit in result.hits
    }
