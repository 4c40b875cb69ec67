"""One switch over the providers: settings in, a LangChain chat model (or None) out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ConfigError, LLMError
from app.llm.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

    from app.llm.server import LocalLLMServer
    from app.settings import Settings


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


@dataclass(frozen=True)
class Provider:
    """Which provider and model answer, safe to log or show: never the key, never a URL
    (a URL can carry credentials)."""

    provider: str  # "local", "openai", "none" (tests: "fake")
    model: str | None = None


def describe_provider(settings: Settings) -> Provider:
    """The configured Provider. Cheap: resolves no files, starts nothing."""
    if settings.llm == "none":
        return Provider("none")
    if settings.llm == "openai":
        return Provider("openai", settings.llm_model)
    value = settings.llm_model
    if value and Path(value).suffix.lower() == ".gguf":
        return Provider("local", Path(value).stem)
    return Provider("local", DEFAULT_MODEL.model_name)
