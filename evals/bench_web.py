"""`make bench-web`: the web app under load, served for real on loopback over the built index.

    make bench-web                      # both phases
    BENCH_WEB=search BENCH_SEARCHERS=20 BENCH_SECONDS=60 make bench-web

Phase `search` (`ELSEWHERE_LLM=none`, so an Ask returns the retrieval brief): `BENCH_SEARCHERS`
clients (default 20) each send the gold questions through the Ask endpoint, one after another,
for `BENCH_SECONDS` (default 60). It reports throughput, latency p50/p95 and errors, and where the
time goes: the same questions through the in-process retriever (search only), then one client
alone through the web app (search + Gradio), so the concurrent latency splits into search,
the web layer and waiting.

Phase `ask` (the default local model): after one warm-up answer (the first after start-up, timed),
`BENCH_ASKERS` clients (default 5) send an Ask each, 0.3 s apart. Every answer must complete with
its cited points, in the order the requests were sent (the model answers one at a time).

Needs `elsewhere ingest` first (it uses the project's data dir and index). Results go to
.bench/bench-web.json. Numbers, not assertions (except completion and order in `ask`): run it on
an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ASK_QUESTIONS = [
    "How did food delivery apps outside China get customers to order every week?",
    "国外有哪些公司靠会员费赚钱？",
    "Who made money from free users of a music or video service?",
    "拼团这种模式在海外有人做成功吗？",
    "How did ride-hailing companies cut what they paid drivers per trip?",
]
_CASE_IDS: list[str] = []  # the library's case ids, filled by the in-process pass


def main() -> None:
    phases = os.environ.get("BENCH_WEB", "search,ask").split(",")
    results: dict[str, Any] = {}
    if "search" in phases:
        results["search"] = search_phase(
            int(os.environ.get("BENCH_SEARCHERS", "20")),
            float(os.environ.get("BENCH_SECONDS", "60")),
        )
        sys.stdout.write(_search_line(results["search"]) + "\n")
    if "ask" in phases:
        results["ask"] = ask_phase(int(os.environ.get("BENCH_ASKERS", "5")))
        sys.stdout.write(_ask_line(results["ask"]) + "\n")
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "bench-web.json").write_text(json.dumps(results, indent=1), "utf-8")


def _questions() -> list[str]:
    from evals.gold import load_gold

    return [q.q for q in load_gold()]


@contextmanager
def served(llm: str) -> Iterator[tuple[str, float, int]]:
    """`elsewhere serve` in its own process on a free loopback port; yields (url, start seconds:
    from launch until the page answers, its pid)."""
    from gradio_client import Client

    from tests.webapp import free_port

    port = free_port()
    env = {**os.environ, "ELSEWHERE_LLM": llm, "ELSEWHERE_PORT": str(port)}
    env.pop("ELSEWHERE_HOST", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"`elsewhere serve` exited: {proc.stderr.read()[-2000:]}")
            try:
                Client(url, verbose=False)
                break
            except Exception:  # not listening yet
                if time.perf_counter() - started > 300:
                    raise SystemExit("`elsewhere serve` did not answer within 300 s") from None
                time.sleep(0.5)
        yield url, time.perf_counter() - started, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _ask(client: Any, question: str) -> tuple[str, str]:
    """One Ask through the web API; returns (answer text, source cards HTML)."""
    chat, cards, *_ = client.predict(question, [], "any", "", "", api_name="/ask")
    content = chat[-1]["content"]
    if not isinstance(content, str):
        content = "".join(part.get("text", "") for part in content)
    return content, cards


def search_phase(searchers: int, seconds: float) -> dict[str, Any]:
    from gradio_client import Client

    questions = _questions()
    in_process, in_process_cpu = _in_process_ms(questions)
    with served("none") as (url, start_s, pid):
        alone = Client(url, verbose=False)
        single = []
        for question in questions[:40]:
            began = time.perf_counter()
            _ask(alone, question)
            single.append((time.perf_counter() - began) * 1000)
        floor = []  # the smallest request the app serves: open a case (no search)
        for case_id in _CASE_IDS[:40]:
            began = time.perf_counter()
            alone.predict(f"{case_id}@1", api_name="/open_case")
            floor.append((time.perf_counter() - began) * 1000)
        cpu_before = _cpu_seconds(pid), _own_cpu_seconds()
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop = time.perf_counter() + seconds

        def searcher(offset: int) -> None:
            client = Client(url, verbose=False)
            n = offset
            while time.perf_counter() < stop:
                question = questions[n % len(questions)]
                n += 1
                began = time.perf_counter()
                try:
                    text, cards = _ask(client, question)
                    ok = "case-card" in cards or "No case" in text
                    problem = None if ok else f"no cards for {question!r}"
                except Exception as exc:  # counted, not fatal: the point is to see them
                    problem = f"{type(exc).__name__}: {exc}"[:200]
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append((time.perf_counter() - began) * 1000)

        began = time.perf_counter()
        threads = [threading.Thread(target=searcher, args=(i * 7,)) for i in range(searchers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        server_cpu = _cpu_seconds(pid) - cpu_before[0]
        client_cpu = _own_cpu_seconds() - cpu_before[1]
    return {
        "searchers": searchers,
        "seconds": round(wall, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:5],
        "per_s": round(len(latencies) / wall, 1),
        "p50_ms": _pct(latencies, 0.5),
        "p95_ms": _pct(latencies, 0.95),
        "search_only_p50_ms": _pct(in_process, 0.5),
        "one_client_p50_ms": _pct(single, 0.5),
        "open_case_p50_ms": _pct(floor, 0.5),
        # CPU seconds per ask during the load, in the server and in this process's clients
        # (both share the two cores): where the time goes when the cores are saturated
        "server_cpu_ms_per_ask": round(server_cpu * 1000 / max(1, len(latencies)), 1),
        "client_cpu_ms_per_ask": round(client_cpu * 1000 / max(1, len(latencies)), 1),
        "search_cpu_ms_per_ask": _pct(in_process_cpu, 0.5),
        "server_start_s": round(start_s, 1),
    }


def _in_process_ms(questions: list[str]) -> tuple[list[float], list[float]]:
    """The retriever alone (query encoding included, as the web app does it), warm: wall and
    CPU milliseconds per search."""
    from app.retrieval import Retriever
    from app.settings import load_settings

    retriever = Retriever.open(load_settings(llm="none"))
    for question in questions[:10]:
        retriever.search(question)
    wall, cpu = [], []
    for question in questions:
        began, began_cpu = time.perf_counter(), time.process_time()
        retriever.search(question)
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    _CASE_IDS[:] = sorted(retriever.records)
    return wall, cpu


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ask_phase(askers: int) -> dict[str, Any]:
    from gradio_client import Client

    with served("local") as (url, start_s, _):
        client = Client(url, verbose=False)
        began = time.perf_counter()
        first, _ = _ask(client, "Who charged a membership fee for free delivery?")
        first_s = time.perf_counter() - began
        done: list[tuple[int, float, str]] = []
        lock = threading.Lock()
        sent: list[float] = []

        def asker(n: int) -> None:
            own = Client(url, verbose=False)
            text, _ = _ask(own, ASK_QUESTIONS[n % len(ASK_QUESTIONS)])
            with lock:
                done.append((n, time.perf_counter(), text))

        threads = []
        for n in range(askers):
            thread = threading.Thread(target=asker, args=(n,))
            sent.append(time.perf_counter())
            thread.start()
            threads.append(thread)
            time.sleep(0.3)
        for thread in threads:
            thread.join()
    order = [n for n, _, _ in done]
    return {
        "askers": askers,
        "server_start_s": round(start_s, 1),
        "first_answer_s": round(first_s, 1),
        "first_answer_cited": _cited(first),
        "completed": len(done),
        "cited": sum(_cited(text) for _, _, text in done),
        "in_order": order == sorted(order),
        "order": order,
        "seconds_each": [round(at - sent[n], 1) for n, at, _ in sorted(done)],
        "answers": {ASK_QUESTIONS[n % len(ASK_QUESTIONS)]: text for n, _, text in sorted(done)},
    }


def _cited(text: str) -> bool:
    """The answer as the page shows it cites a case: its `[n]` became a link that opens it."""
    return "](#open:ask:" in text


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else 0.0


def _search_line(r: dict[str, Any]) -> str:
    return (
        f"[search] {r['searchers']} clients for {r['seconds']} s: {r['requests']} asks "
        f"({r['per_s']}/s), {r['errors']} errors, p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms; "
        f"one client alone p50 {r['one_client_p50_ms']} ms (opening a case, no search: "
        f"{r['open_case_p50_ms']} ms); the retriever in-process p50 {r['search_only_p50_ms']} ms; "
        f"CPU per ask under load: server {r['server_cpu_ms_per_ask']} ms (of which search "
        f"{r['search_cpu_ms_per_ask']} ms), clients {r['client_cpu_ms_per_ask']} ms; server up in "
        f"{r['server_start_s']} s"
    )


def _ask_line(r: dict[str, Any]) -> str:
    each = ", ".join(f"{s} s" for s in r["seconds_each"])
    median = statistics.median(r["seconds_each"]) if r["seconds_each"] else 0
    return (
        f"[ask] server up in {r['server_start_s']} s, first answer {r['first_answer_s']} s; "
        f"{r['askers']} askers at once: {r['completed']} completed ({r['cited']} cited), in order "
        f"{r['in_order']} {r['order']}; each from its send: {each} (median {median} s)"
    )


if __name__ == "__main__":
    main()
