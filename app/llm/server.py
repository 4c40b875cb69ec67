"""llama.cpp (xllamacpp) serving OpenAI's /v1 API on 127.0.0.1 inside this process, so the same
client code serves the local model, OpenAI, vLLM or Ollama. xllamacpp is imported inside
functions: importing this module stays cheap."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from app.errors import LLMError, ModelUnavailableError
from app.llm.weights import DEFAULT_MODEL, check_gguf_header, resolve_model_file

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

_POLL = 0.05  # seconds between readiness polls


class LocalLLMServer:
    """llama.cpp in this process, serving OpenAI's /v1 API on 127.0.0.1 at a free port.

    Use as a context manager, or start()/stop(). start() returns once the model is loaded and
    the server's task loop answers; a file that is not a loadable GGUF raises
    ModelUnavailableError. stop() frees the model and closes the port.

    Facts about xllamacpp this class relies on (2026.10.11549):
    - `xllamacpp.Server(params)` loads the model and starts HTTP before returning, holding the
      GIL the whole time (no Python thread runs meanwhile); a bad file raises RuntimeError.
    - The server is stopped by dropping the last reference (its destructor), which also holds
      the GIL while it joins the server thread. Two ways that join can hang forever: the
      destructor runs before the task loop has started (it does so just after the constructor
      returns; the stop request is then lost), or a non-streaming request is still running
      (its handler waits for a result that never comes). start() therefore waits until /slots
      answers, which only the running loop does, and stop() waits for non-streaming requests
      to finish. Streaming requests (all ours) end cleanly when the server stops.
    """

    def __init__(
        self,
        settings: Settings,
        model_file: Path | None = None,
        *,
        ready_timeout: float = 30.0,
    ):
        """`model_file` defaults to `resolve_model_file(settings)`, resolved in start() (the
        first resolution may join 1.1 GB); context and threads come from settings."""
        self.settings = settings
        self.model_file = Path(model_file) if model_file is not None else None
        self.context = settings.llm_context
        self.threads = settings.llm_threads
        self.ready_timeout = ready_timeout
        self.stop_timeout = settings.llm_timeout  # no request outlives the client's timeout
        self.load_seconds: float | None = None
        self._server: Any = None
        self._address: str | None = None
        self._lock = threading.Lock()
        # A fresh random key per server: other local processes (or a web page guessing the
        # port) cannot use the model; only our ChatOpenAI client knows it. Never logged.
        self.api_key = secrets.token_urlsafe(24)

    @property
    def model_name(self) -> str:
        """What the /v1 API calls the model: the file stem."""
        if self.model_file is not None:
            return self.model_file.stem
        from app.llm.providers import describe_provider

        return describe_provider(self.settings).model or DEFAULT_MODEL.model_name

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """http://127.0.0.1:PORT of the running server."""
        if self._address is None:
            raise LLMError("the local language model server is not running: call start() first")
        return self._address

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, for ChatOpenAI(base_url=...)."""
        return self.address + "/v1"

    def start(self) -> LocalLLMServer:
        """Load the model and serve it; no-op when already running."""
        with self._lock:
            if self._server is not None:
                return self
            if self.model_file is None:
                self.model_file = resolve_model_file(self.settings)
            model_file = self.model_file
            if not model_file.is_file():
                raise ModelUnavailableError(f"the model file {model_file} does not exist")
            check_gguf_header(model_file)
            xllamacpp = _import_xllamacpp()
            params = self._params(xllamacpp)
            started = time.perf_counter()
            try:
                server = xllamacpp.Server(params)
            except RuntimeError:
                raise ModelUnavailableError(
                    f"llama.cpp could not load the model file {model_file} "
                    f"({model_file.stat().st_size:,} bytes): it is damaged or not a model "
                    "this llama.cpp supports (its log above says which); replace it, or unset "
                    "ELSEWHERE_LLM_MODEL to use the packaged model"
                ) from None
            address = str(server.listening_address)
            try:
                _wait_until_serving(address, self.api_key, self.ready_timeout)
            except LLMError:
                _ABANDONED.append(server)  # see the class docstring: dropping it could hang
                raise
            self._server, self._address = server, address
            self.load_seconds = round(time.perf_counter() - started, 3)
            log.info(
                "local model %s serving on %s (loaded in %.1f s, context %d, %d threads)",
                self.model_name, address, self.load_seconds, self.context, self.threads,
            )  # fmt: skip
            return self

    def stop(self) -> None:
        """Free the model and close the port; no-op when not running."""
        with self._lock:
            server, address = self._server, self._address
            if server is None or address is None:
                return
            if not _wait_no_blocking_request(address, self.api_key, self.stop_timeout):
                raise LLMError(
                    f"the local language model on {address} is still answering a non-streaming "
                    f"request after {self.stop_timeout:.0f} s; not stopped (llama.cpp would "
                    "hang): retry when it is done"
                )
            self._server = self._address = None
            del server  # the last reference: xllamacpp's destructor stops and frees everything
            log.info("local model %s stopped", self.model_name)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalLLMServer({self.model_name}, {self._address or 'stopped'})"

    @property
    def cache_dir(self) -> Path:
        """Where llama.cpp saves prompt caches (slot states) between runs."""
        return self.settings.data_dir / "llm-cache"

    def restore_prompt(self, name: str) -> bool:
        """Load a saved prompt cache into the slot; False if there is none (or it does not
        fit this model and llama.cpp), and nothing changes."""
        if not (self.cache_dir / name).is_file():
            return False
        reply = _loopback_get(self._slot_url("restore"), self.api_key, body={"filename": name})
        restored = isinstance(reply, dict) and bool(reply.get("n_restored"))
        log.info("prompt cache %s %s", name, "restored" if restored else "not usable")
        return restored

    def save_prompt(self, name: str) -> bool:
        """Save the slot's prompt cache as `name` (a few MB), replacing older saves of the same
        kind (`name`'s prefix up to the first '-'); False if it could not be saved."""
        kind = name.split("-", 1)[0] + "-"
        for old in self.cache_dir.glob(kind + "*.bin"):
            if old.name != name:
                old.unlink(missing_ok=True)
        reply = _loopback_get(self._slot_url("save"), self.api_key, body={"filename": name})
        return isinstance(reply, dict) and bool(reply.get("n_saved"))

    def prompt_name(self, kind: str, text: str) -> str:
        """A cache file name for a prompt: tied to the model file, llama.cpp's version and the
        prompt text, so a cache is never restored into anything it was not made for."""
        import hashlib
        from importlib.metadata import version

        model = self.model_file or Path("-")
        size = model.stat().st_size if model.is_file() else 0
        key = f"{model.name}|{size}|{version('xllamacpp')}|{text}"
        return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.bin"

    def _slot_url(self, action: str) -> str:
        return f"{self.address}/slots/0?action={action}"

    def _params(self, xllamacpp: Any) -> Any:
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_file)
        params.model_alias = {self.model_name}
        params.n_ctx = self.context
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port at bind time: no race with other servers
        params.n_parallel = 1  # one answer at a time: two would share the 2 cores and both crawl
        params.cache_prompt = True  # reuse the KV cache of a shared prompt prefix (default on)
        params.cache_ram_mib = 1024  # host RAM for cached prompts of idle slots (default 8 GiB)
        params.endpoint_slots = True  # readiness and stop() read /slots
        params.fit_params = False  # it probes device memory by loading the model twice; CPU only
        params.offline = True  # never try to download anything
        params.ui = False
        params.api_keys = [self.api_key]
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            params.slot_save_path = str(self.cache_dir) + os.sep  # llama.cpp joins without one
        except OSError:
            log.info("no prompt cache between runs: cannot create %s", self.cache_dir)
        if self.settings.llm_speculative == "ngram":
            ngram = xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE
            params.speculative.types = [ngram]
        params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 1  # 1: errors only
        return params


_ABANDONED: list[Any] = []  # servers that never became ready; kept alive on purpose


def prefer_sleeping_openmp() -> None:
    """Ask OpenMP to let waiting threads sleep instead of spin (OMP_WAIT_POLICY=PASSIVE),
    unless the environment already chose. Call it first thing in an entry point.

    llama.cpp's CPU backend runs on OpenMP, whose default spinning collapses as soon as
    anything else wants one of the 2 cores. Measured, 2 threads, 96-token answers: Qwen 1.5B
    went from 27-30 tokens/s idle to 2.5-3 next to a busy process; PASSIVE gives 19-20 idle
    and 14-16 busy (SmolLM2: 142 idle and 1.5 busy spinning, ~50 and ~57 passive). libgomp reads the
    variable once, when first loaded, and torch loads its own copy under the same name
    (which xllamacpp then shares), so setting it after torch is imported changes nothing.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _import_xllamacpp() -> Any:
    """Import llama.cpp, with OpenMP set to sleep if it is not loaded yet (see above)."""
    if "xllamacpp" not in sys.modules:
        if "OMP_WAIT_POLICY" not in os.environ and _openmp_loaded():
            log.warning(
                "OpenMP was loaded (by torch?) before the local model and spins while waiting: "
                "generation slows several-fold whenever the cores are shared; set "
                "OMP_WAIT_POLICY=PASSIVE in the environment or call "
                "app.llm.prefer_sleeping_openmp() at start-up"
            )
        prefer_sleeping_openmp()
    try:
        import xllamacpp
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the local provider needs the xllamacpp package ({exc}): run `make setup`"
        ) from None
    return xllamacpp


def _openmp_loaded() -> bool:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libgomp" in line for line in maps)
    except OSError:
        return False


def _loopback_get(url: str, key: str, timeout: float = 5.0, body: Any = None) -> Any:
    """GET (or, with `body`, POST) JSON from our own loopback server, ignoring any
    HTTP(S)_PROXY; None if it is not answering (or answers with something that is not JSON)."""
    import httpx

    try:
        with httpx.Client(trust_env=False, timeout=timeout) as client:
            headers = {"Authorization": f"Bearer {key}"}
            if body is None:
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, headers=headers, json=body)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError):
        return None


def _wait_until_serving(address: str, key: str, timeout: float) -> None:
    """Poll /health, then /slots (served by the task loop, so its answer proves the loop runs)."""
    deadline = time.monotonic() + timeout
    for path in ("/health", "/slots"):
        wait = max(0.5, deadline - time.monotonic())
        while _loopback_get(address + path, key, timeout=wait) is None:
            if time.monotonic() > deadline:
                raise LLMError(
                    f"the local language model server on {address} did not answer {path} "
                    f"within {timeout:.0f} s of loading; restart the app"
                )
            time.sleep(_POLL)


def _wait_no_blocking_request(address: str, key: str, timeout: float) -> bool:
    """Wait until no slot runs a non-streaming request; False if one still does at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        slots = _json_list(_loopback_get(address + "/slots", key))
        blocking = [
            slot
            for slot in slots
            if slot.get("is_processing") and not slot.get("params", {}).get("stream", True)
        ]
        if not blocking:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _json_list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
