"""The chat model as a judge of which quoted move answers the question.

The sentence encoders rank a case's What they did sentences by topic: for "few teams pay, who
got small companies to pay for software?" they put Slack's integrations sentence above its
free-tier cap. Asked one candidate at a time "does this sentence say what the company did that
answers the manager's problem?", the default 1.5B model's probability of "yes" picks the move a
reader wanted more often (evals/moves.jsonl, README Moves), blended with the encoder's order:
alone the model was no better for English (it also judges off-topic sentences "yes"), and asked
to choose among numbered sentences it mostly chose the last one (probabilities near uniform).

One token per candidate, so a judgement costs its prompt: the system part, question and company
are a prefix llama.cpp reuses across the candidates of a case (about 1 s each on 2 cores).
A provider that returns no logprobs leaves the encoder's order as it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.prompts import render

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

# Each place down the encoder's order costs this much of the model's P(yes): on the tune split
# of evals/moves.jsonl, 0.05 and 0.1 beat both the model alone (0) and the encoder alone (large)
# for every number of candidates judged (2, 3 or 4); see README, Moves.
RANK_STEP = 0.1
YES = frozenset({"yes", "是"})
NO = frozenset({"no", "否", "不"})
TOP_LOGPROBS = 10
MIN_CANDIDATES = 2  # fewer judged moves than this leave nothing to reorder: no judge


class MoveJudge:
    """Reorders a case's best-ranked candidate moves by the model's judgement."""

    def __init__(self, chat_model: BaseChatModel, candidates: int = 3, step: float = RANK_STEP):
        self.model = chat_model.bind(
            max_tokens=1,
            temperature=0,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
            stream_usage=True,  # prompt tokens counted in an answer's --json
        )
        self.candidates = candidates
        self.step = step
        self.unsupported = False  # the provider returned no logprobs: stop asking
        self.prompt_tokens = 0  # read by all judgements so far (as the provider counts them)

    def rerank(
        self, question: str, company: str, ranked: Sequence[str], deadline: float | None = None
    ) -> list[str]:
        """`ranked` (best first, by the encoder) with its first `candidates` reordered by
        P(yes) less `step` per place; unchanged when there is one, the provider gives no
        logprobs, or `deadline` (time.perf_counter) has passed before the judging ends."""
        head = list(ranked[: self.candidates])
        if len(head) < MIN_CANDIDATES or self.unsupported:
            return list(ranked)
        scores = []
        for place, sentence in enumerate(head):
            if deadline is not None and time.perf_counter() > deadline:
                return list(ranked)
            yes = self.yes(question, company, sentence)
            if yes is None:
                self.unsupported = True
                return list(ranked)
            scores.append(yes - self.step * place)
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        return [head[i] for i in order] + list(ranked[self.candidates :])

    def yes(self, question: str, company: str, sentence: str) -> float | None:
        """P(yes) / (P(yes) + P(no)) over the first token's top logprobs; None when the
        provider returns no logprobs, 0.0 when neither word is among them."""
        messages = render("judge", question=question, company=company, sentence=sentence)
        reply = self.model.invoke(messages)
        usage = getattr(reply, "usage_metadata", None) or {}
        self.prompt_tokens += int(usage.get("input_tokens", 0))
        return yes_share(reply.response_metadata.get("logprobs"))


def yes_share(logprobs: Any) -> float | None:
    """The share of "yes" in a chat completion's first-token logprobs (OpenAI's shape:
    {"content": [{"top_logprobs": [{"token", "logprob"}, ...]}, ...]})."""
    try:
        top = logprobs["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    yes = no = 0.0
    for entry in top:
        token = str(entry.get("token", "")).strip().lower()
        if token in YES:
            yes += math.exp(entry["logprob"])
        elif token in NO:
            no += math.exp(entry["logprob"])
    return yes / (yes + no) if yes + no else 0.0
