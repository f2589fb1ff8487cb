"""Batched GGUF scoring (issue 16) gives the one-prompt path's scores to the bit, in order."""

import pytest

from evals.items import LETTERS
from evals.runner import Mode, render_prompt, select
from evals.scoring import rotate, score_loglik_cyclic
from evals.tasks import TASKS
from medtui.core.engines.llamacpp import LlamaCppEngine, batch_plan, layout
from medtui.core.registry import ModelSpec

STEM = (
    "A 58-year-old woman has had crushing chest pain for two hours, spreading to her left arm and jaw, "
    "with sweating and nausea. Which drug should she be given first?"
)


@pytest.fixture(scope="module")
def small_batch(smollm2_gguf):
    """The embedded model with 96-token decodes: several groups, and a prompt too long for one."""
    engine = LlamaCppEngine(ModelSpec("smollm2", "gguf", str(smollm2_gguf)), n_ctx=1024, n_batch=96)
    yield engine
    engine.close()


def test_layout_shares_whole_blocks_and_scores_every_prompt_once():
    encoded = [
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 5, 6, 7, 8, 10, 11],
        [1, 2, 3, 4, 9],
        [1, 2, 3],  # shorter than a block
        [1, 2, 3, 4, 5, 6, 7, 8],  # ends on a block boundary, inside the others' second block
        [1, 2, 3, 4, 5, 6, 7, 8, 9],  # the first prompt again
    ]
    segments = layout(encoded, 4)
    for i, tokens in enumerate(encoded):
        seen = sorted((s for s in segments if i in s.seqs), key=lambda s: s.start)
        assert [t for s in seen for t in s.tokens] == tokens  # each token once, in order, at its position
        assert all(s.start == sum(len(x.tokens) for x in seen[:k]) for k, s in enumerate(seen))
        assert [s.scored for s in seen] == [None] * (len(seen) - 1) + [i]  # its own last segment gives its logits
    shared = [s for s in segments if s.scored is None]
    assert all(len(s.tokens) == 4 and s.start % 4 == 0 and len(s.seqs) > 1 for s in shared)
    assert [(s.start, s.seqs) for s in shared] == [(0, [0, 1, 2, 4, 5]), (4, [0, 1, 5])]
    # in the batch (= the cache cells), each prompt's tokens sit where a fresh context puts them, modulo 4
    plan = batch_plan(encoded, 4, filler=9)
    assert all(cell % 4 == pos % 4 for cell, (_, pos, seqs, _) in enumerate(plan) if seqs != [9])
    assert sorted(seqs[0] for _, _, seqs, scored in plan if scored) == list(range(6))
    fillers = [pos for _, pos, seqs, _ in plan if seqs == [9]]
    # the first shared block saves 4 decodes of its 4 tokens, the second 2
    assert fillers == list(range(len(fillers))) and len(plan) == sum(map(len, encoded)) - 4 * (4 + 2) + len(fillers)


def test_batched_scores_equal_one_at_a_time_to_the_bit(small_batch):
    options = ["Aspirin", "Warfarin", "Insulin"]
    rotations = [
        STEM + "".join(f"\n{LETTERS[j]}. {options[(j + s) % 3]}" for j in range(3)) + "\nAnswer:" for s in range(3)
    ]
    prompts = [
        rotations[0],
        "Answer:",  # a couple of tokens
        STEM + "\nAnswer:",
        STEM + "\nAnswer: A",  # the one before with more after it
        rotations[1],
        "The heart has four chambers. True or false? Answer:",
        " ".join([STEM] * 3) + "\nAnswer:",  # longer than the 96-token batch: scored alone
        rotations[2],
        rotations[0],  # twice
    ]
    encoded = [small_batch.tokenize(p) for p in prompts]
    assert len(encoded[6]) > 96 and len({len(e) for e in encoded}) >= 6
    fit = [e for e in encoded if len(e) <= 96]
    groups = list(small_batch._batch_scorer().groups(fit))
    assert len(groups) > 1 and max(map(len, groups)) > 2  # several decodes, several prompts in one
    assert any(s.scored is None for g in groups for s in layout([fit[i] for i in g], 8))  # blocks shared
    assert any(small_batch._batch_scorer().worth_batching([fit[i] for i in g]) for g in groups)  # and decoded so

    ids = list(range(small_batch.llm.n_vocab()))  # the whole distribution, not only letters
    single = small_batch.next_token_logprobs(prompts, ids, batched=False)
    batched = small_batch.next_token_logprobs(prompts, ids)
    assert batched == single  # tolerance 0: see BatchScorer for why this holds on CPU
    assert batched[0] == batched[8] and batched[0] != batched[4]
    assert small_batch.next_token_logprobs(prompts[::-1], ids) == batched[::-1]  # order kept, whatever the sort


def test_only_prompts_that_share_enough_are_batched(small_batch):
    """Prompts sharing nothing cost fillers and a wider attention span in a batch, so they are
    scored alone; the option orders of one question share its stem and are batched."""
    scorer = small_batch._batch_scorer()
    unrelated = ["Answer:", "The heart has four chambers. True or false? Answer:", STEM + "\nAnswer:"]
    options = ["Aspirin", "Warfarin", "Insulin"]
    orders = [STEM + "".join(f"\n{LETTERS[j]}. {options[(j + s) % 3]}" for j in range(3)) for s in range(3)]
    assert not scorer.worth_batching([small_batch.tokenize(p) for p in unrelated])
    assert scorer.worth_batching([small_batch.tokenize(p) for p in orders])


class OneAtATime:
    """The engine as it scored before batching: one fresh context per prompt."""

    def __init__(self, engine: LlamaCppEngine) -> None:
        self.engine, self.spec = engine, engine.spec

    def tokenize(self, prompt: str) -> list[int]:
        return self.engine.tokenize(prompt)

    def next_token_logprobs(self, prompts: list[str], token_ids: list[int]) -> list[list[float]]:
        return self.engine.next_token_logprobs(prompts, token_ids, batched=False)


def test_real_questions_in_cyclic_orders_get_the_same_predictions(smollm2_gguf):
    engine = LlamaCppEngine(ModelSpec("smollm2", "gguf", str(smollm2_gguf)), n_ctx=1024)
    task = TASKS["mmlu_clinical_knowledge"]
    items = select(task.load()[1], 3, 0)
    orders = [[render_prompt(engine, task, rotate(item, s), Mode.LOGLIK) for s in range(4)] for item in items]
    batched = score_loglik_cyclic(engine, items, orders)
    alone = score_loglik_cyclic(OneAtATime(engine), items, orders)
    engine.close()
    assert batched == alone  # predicted letters and every mean probability
    assert len({p.item_id for p in batched}) == 3
