"""The model judge of quoted moves (app/judge.py), with a fake chat model that answers with
logprobs the way OpenAI-compatible servers do. The real local model is exercised in the slow
tier (tests/test_chain_slow.py)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from app.judge import MoveJudge, yes_share


def logprobs(**tokens: float) -> dict[str, Any]:
    top = [{"token": t, "logprob": math.log(p)} for t, p in tokens.items()]
    return {
        "content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top}]
    }


class Judging(BaseChatModel):
    """P(yes) per sentence from `yes`; records the sentences and the call options it got."""

    yes: dict[str, float] = {}
    seen: list[str] = []
    options: list[dict[str, Any]] = []
    with_logprobs: bool = True

    @property
    def _llm_type(self) -> str:
        return "judging"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kwargs: Any) -> ChatResult:
        text = str(messages[-1].content)
        sentence = text.split("Sentence: ", 1)[1].split("\n", 1)[0]
        self.seen.append(sentence)
        self.options.append(kwargs)
        p = self.yes.get(sentence, 0.5)
        meta = {"logprobs": logprobs(Yes=p * 0.9, No=(1 - p) * 0.9)} if self.with_logprobs else {}
        usage = {"input_tokens": 50, "output_tokens": 1, "total_tokens": 51}
        message = AIMessage(
            content="Yes" if p >= 0.5 else "No", response_metadata=meta, usage_metadata=usage
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


RANKED = ["A talks about the topic.", "B is the move that answers.", "C is related.", "D is last."]


def test_yes_share_reads_the_first_tokens_top_logprobs():
    assert yes_share(logprobs(Yes=0.6, No=0.2, Maybe=0.2)) == pytest.approx(0.75)
    assert yes_share(logprobs(yes=0.3, no=0.1)) == pytest.approx(0.75)  # any case
    assert yes_share(logprobs(**{"是": 0.2, "否": 0.6})) == pytest.approx(0.25)
    assert yes_share(logprobs(Maybe=0.9)) == 0.0  # neither word: no support for this sentence
    assert yes_share(None) is None and yes_share({"content": []}) is None


def test_the_judge_reorders_the_best_few_and_leaves_the_rest_in_the_encoders_order():
    model = Judging(yes={RANKED[0]: 0.3, RANKED[1]: 0.9, RANKED[2]: 0.6}, seen=[], options=[])
    judge = MoveJudge(model, candidates=3, step=0.1)
    # scores: A 0.3, B 0.9 - 0.1 = 0.8, C 0.6 - 0.2 = 0.4
    assert judge.rerank("how?", "Acme", RANKED) == [RANKED[1], RANKED[2], RANKED[0], RANKED[3]]
    assert model.seen == RANKED[:3]  # D was never judged
    assert all(o.get("max_tokens") == 1 and o.get("logprobs") for o in model.options)


def test_the_encoders_order_breaks_a_near_tie():
    """A place down the order costs `step`: the model must prefer a later sentence by more."""
    model = Judging(yes={RANKED[0]: 0.6, RANKED[1]: 0.65}, seen=[], options=[])
    assert MoveJudge(model, 2, step=0.1).rerank("how?", "Acme", RANKED[:2]) == RANKED[:2]
    assert MoveJudge(model, 2, step=0.0).rerank("how?", "Acme", RANKED[:2]) == RANKED[1::-1]


def test_no_logprobs_leaves_the_order_and_stops_asking():
    model = Judging(yes={RANKED[1]: 0.9}, seen=[], options=[], with_logprobs=False)
    judge = MoveJudge(model, 3)
    assert judge.rerank("how?", "Acme", RANKED) == RANKED
    assert judge.unsupported and len(model.seen) == 1
    assert judge.rerank("how?", "Acme", RANKED) == RANKED and len(model.seen) == 1


def test_past_the_deadline_nothing_is_judged_and_one_candidate_needs_no_judge():
    model = Judging(yes={RANKED[1]: 0.9}, seen=[], options=[])
    judge = MoveJudge(model, 3)
    assert judge.rerank("how?", "Acme", RANKED, deadline=time.perf_counter() - 1) == RANKED
    assert judge.rerank("how?", "Acme", RANKED[:1]) == RANKED[:1]
    assert model.seen == []


def test_the_prompt_carries_question_company_and_sentence_as_given():
    model = Judging(seen=[], options=[])
    MoveJudge(model).yes("What about {braces}?", "Acme", "It did X in 2020.")
    assert model.seen == ["It did X in 2020."]


def test_a_quoted_point_shows_the_move_the_judge_chose_word_for_word(settings, starter):
    """End to end through the engine: the judge's choice is the point's move, quoted from the
    case as written; without a judge the encoders' first choice stays."""
    from app.chain import AnswerEngine
    from app.extract import did_candidates
    from app.llm import Provider
    from app.retrieval import Retriever
    from ingest.index import run_ingest
    from ingest.tokens import encoding

    run_ingest(settings)
    retriever = Retriever.open(settings)
    enc = encoding(str(settings.data_dir / "tiktoken"))
    question = "membership fee outside China"

    def ask(model: Judging, judge_moves: int) -> Any:
        engine = AnswerEngine(
            retriever, model, enc, Provider("fake"), points="quoted", judge_moves=judge_moves
        )
        return engine.ask(question)

    plain = ask(Judging(seen=[], options=[]), 0).points[0]
    others = [
        s for s in did_candidates(retriever.records[plain.case_id]) if s != plain.fields["did"]
    ]
    assert others, "the first case needs more than one move for this test"
    wanted = others[0]
    model = Judging(yes={wanted: 0.99, plain.fields["did"]: 0.01}, seen=[], options=[])
    answer = ask(model, 3)
    judged = answer.points[0]
    assert answer.prompt_tokens == 50 * len(model.seen)  # the judgements are counted
    assert judged.case_id == plain.case_id and model.seen
    assert judged.fields["did"] == wanted and judged.quoted
    assert wanted in retriever.records[judged.case_id].sections["What they did"]
