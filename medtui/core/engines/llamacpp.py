"""GGUF models through llama-cpp-python, prompted with the file's own chat template."""

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from medtui.core.engines.base import CancelToken, Finish, GenerationParams
from medtui.core.engines.chat_template import render_chat
from medtui.core.engines.gguf_file import check_gguf
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec

SCORING_SEQS = 64  # prompts one batched decode holds at most, one sequence reserved for padding
# A group is decoded as one batch only when its plan (fillers included) is at most this share of
# its prompts' own tokens. On 2 quiet cores llama.cpp's cost is about the tokens decoded, and a
# batch pays for its fillers and its wider attention span: a group saving 11% of the tokens ran
# at 1.01x, one saving 2% at 0.89x (docs/results.md, "Faster GGUF scoring"), so break-even is
# near 13%; prompts sharing less are scored one at a time.
BATCH_WORTH = 0.85


def default_threads() -> int:
    # llama.cpp's own default is half the logical cores, which is one thread on a 2-core laptop.
    return max(os.cpu_count() or 1, 1)


def load_error(path: object, error: Exception) -> MedtuiError:
    """llama.cpp refused the file: whether it reads its header (memory_fit) or loads it whole."""
    return MedtuiError(
        f"llama.cpp could not load {path} ({error}): the file is damaged or cut short (a partial copy or "
        "download), or newer than this llama.cpp: copy or download it again, or update llama-cpp-python"
    )


def _log_softmax(row, n_vocab: int):
    """Log-probabilities from one row of llama.cpp logits (a float pointer), in float64."""
    import numpy as np

    logits = np.ctypeslib.as_array(row, shape=(n_vocab,)).astype(np.float64)
    return logits - (np.log(np.exp(logits - logits.max()).sum()) + logits.max())


@dataclass(frozen=True)
class Segment:
    """Tokens decoded once, at positions from `start`, into every sequence in `seqs`; `scored` is
    the prompt whose next-token logits the last token gives (None: a block several prompts share)."""

    start: int
    tokens: list[int]
    seqs: list[int]
    scored: int | None


def shared_blocks(a: list[int], b: list[int], block: int) -> int:
    """Leading whole blocks two prompts have in common, none holding either prompt's last token."""
    n, limit = 0, (min(len(a), len(b)) - 1) // block
    while n < limit and a[n * block : (n + 1) * block] == b[n * block : (n + 1) * block]:
        n += 1
    return n


def layout(encoded: list[list[int]], block: int) -> list[Segment]:
    """The prompts as one batch: a block of `block` tokens that several prompts have at the same
    block-aligned position comes once, seen by all of them (a trie of blocks), then each prompt's
    own rest. A prompt's last token is never shared, so every prompt gets its own logits."""
    out: list[Segment] = []

    def visit(members: list[int], depth: int) -> None:
        start = depth * block
        children: dict[tuple[int, ...], list[int]] = {}
        for m in members:
            if start + block < len(encoded[m]):  # a whole block before the last token
                children.setdefault(tuple(encoded[m][start : start + block]), []).append(m)
            else:
                out.append(Segment(start, encoded[m][start:], [m], m))
        for tokens, group in children.items():
            if len(group) == 1:
                out.append(Segment(start, encoded[group[0]][start:], group, group[0]))
            else:
                out.append(Segment(start, list(tokens), group, None))
                visit(group, depth + 1)

    visit(list(range(len(encoded))), 0)
    return out


def batch_plan(encoded: list[list[int]], block: int, filler: int) -> list[tuple[int, int, list[int], bool]]:
    """The decode batch for `layout(encoded, block)`: (token, position, sequence ids, wants
    logits) per entry, which is also the cache cell it lands in. Each segment starts on a block
    boundary: the one before is padded with tokens of the `filler` sequence, which nothing else
    attends to. So every token of prompt i sits in a cell equal to its position modulo `block`."""
    plan: list[tuple[int, int, list[int], bool]] = []
    segments = layout(encoded, block)
    fillers = 0  # the filler sequence's own positions run on from one padding to the next
    for k, segment in enumerate(segments):
        last = len(segment.tokens) - 1
        scored = segment.scored is not None
        plan += [(t, segment.start + j, segment.seqs, scored and j == last) for j, t in enumerate(segment.tokens)]
        padding = -len(plan) % block if k < len(segments) - 1 else 0
        plan += [(segment.tokens[-1], fillers + j, [filler], False) for j in range(padding)]
        fillers += padding
    return plan


class BatchScorer:
    """Next-token log-probabilities of many prompts per llama.cpp decode, equal to the bit to
    scoring each alone from an empty context (`LlamaCppEngine._logprobs_after`).

    A second context on the same weights holds up to SCORING_SEQS sequences in one unified KV
    cache. Prompts are sorted so those with a common opening are neighbours and packed into
    groups that fit one decode (`n_batch` tokens); within a group a block of tokens shared by
    several prompts is decoded once, tagged with all their sequence ids.

    Why "to the bit" holds, and what it costs: llama.cpp's CPU attention adds up the softmax
    and K·Q·V terms in SIMD blocks of `block` floats (8 on AVX2, 16 on AVX-512). A prompt whose
    cache cells sit at other offsets than in a fresh context gets differently rounded sums, and
    the 8-bit quantization of activations before each matrix product turns those last-bit
    differences into letter log-probabilities 0.1-0.2 nats apart (the "unaligned" column of
    bench/eval_speed.py); shifted by a multiple of `block`, its scores are the same to the bit.
    So every sequence keeps a fresh context's cell layout modulo `block`: shared runs are whole
    blocks starting at a multiple of `block`, and each prompt's own rest starts on a block
    boundary, the segment before it padded with filler tokens of a sequence nobody attends to
    (about block/2 tokens per prompt). Matrix products are computed row by row: they do not
    depend on what else is in the batch.
    """

    def __init__(self, llm) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.block = 16 if b"AVX512" in llama_cpp.llama_print_system_info() else 8
        self.n_batch = llm.n_batch  # a longer prompt is scored alone, as it always was
        self.size = -(-llm.n_batch // self.block) * self.block  # cells and tokens of one decode
        self.seqs = min(SCORING_SEQS, llama_cpp.llama_max_parallel_sequences())
        self.n_vocab = llm.n_vocab()
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)  # same numerics
        params.n_ctx = params.n_batch = params.n_ubatch = self.size
        params.n_seq_max = self.seqs
        params.kv_unified = True  # one cache: a shared block is stored once for all its sequences
        self.ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        if llm._lora_adapter is not None:
            import ctypes

            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(llm._lora_adapter)
            if llama_cpp.llama_set_adapters_lora(self.ctx.ctx, adapters, 1, (ctypes.c_float * 1)(llm.lora_scale)):
                raise MedtuiError("llama.cpp could not apply the LoRA adapter to the scoring context")
        self.batch = _internals.LlamaBatch(n_tokens=self.size, embd=0, n_seq_max=self.seqs, verbose=False)

    def groups(self, encoded: list[list[int]]) -> Iterator[list[int]]:
        """Indices of `encoded` (each at most `n_batch` tokens), sorted and cut into groups that
        fit one decode: a prompt costs its length rounded up to whole blocks, less the blocks it
        shares with the one before it (an upper bound on what `layout` makes of the group)."""
        group: list[int] = []
        cells = 0
        for i in sorted(range(len(encoded)), key=encoded.__getitem__):
            whole = -(-len(encoded[i]) // self.block) * self.block
            cost = whole - self.block * shared_blocks(encoded[group[-1]], encoded[i], self.block) if group else whole
            if group and (cells + cost > self.size or len(group) == self.seqs - 1):
                yield group
                group, cells, cost = [], 0, whole
            group.append(i)
            cells += cost
        if group:
            yield group

    def worth_batching(self, encoded: list[list[int]]) -> bool:
        """Whether one decode of these prompts saves enough tokens over scoring each alone."""
        return len(batch_plan(encoded, self.block, self.seqs - 1)) <= BATCH_WORTH * sum(map(len, encoded))

    def logprobs(self, encoded: list[list[int]]):
        """Each prompt's next-token log-probabilities (float64 arrays), from one decode."""
        import llama_cpp

        plan = batch_plan(encoded, self.block, self.seqs - 1)
        assert len(plan) <= self.size, "groups() let a group outgrow the batch"
        batch = self.batch.batch
        for n, (token, pos, seqs, scored) in enumerate(plan):
            batch.token[n], batch.pos[n], batch.n_seq_id[n], batch.logits[n] = token, pos, len(seqs), scored
            for s, seq in enumerate(seqs):
                batch.seq_id[n][s] = seq
        batch.n_tokens = len(plan)
        llama_cpp.llama_memory_clear(self.ctx.memory, False)  # cells from 0 again, filled in batch order
        if (code := llama_cpp.llama_decode(self.ctx.ctx, batch)) != 0:
            raise MedtuiError(f"llama.cpp could not decode a scoring batch of {len(plan)} tokens (llama_decode {code})")
        last = {seqs[0]: n for n, (_, _, seqs, scored) in enumerate(plan) if scored}
        ctx = self.ctx.ctx
        return [_log_softmax(llama_cpp.llama_get_logits_ith(ctx, last[i]), self.n_vocab) for i in range(len(encoded))]

    def close(self) -> None:
        self.batch.close()
        self.ctx.close()


class LlamaCppEngine:
    def __init__(
        self, spec: ModelSpec, n_ctx: int, n_threads: int = 0, n_gpu_layers: int = -1, n_batch: int = 512
    ) -> None:
        """`n_batch`: tokens per llama.cpp decode, so also the longest prompt batched scoring takes."""
        import llama_cpp

        path = check_gguf(spec.source)
        lora = str(check_gguf(spec.adapter, "LoRA adapter")) if spec.adapter else None
        self.spec = spec
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=n_threads or default_threads(),
                n_gpu_layers=n_gpu_layers,
                lora_path=lora,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise load_error(path, e) from None
        self.n_ctx = self.llm.n_ctx()
        model = self.llm._model
        self._bos = model.token_get_text(self.llm.token_bos()) if self.llm.token_bos() != -1 else ""
        self._eos = model.token_get_text(self.llm.token_eos()) if self.llm.token_eos() != -1 else ""
        self.template = self.llm.metadata.get("tokenizer.chat_template")
        # Batched scoring is exact for llama.cpp's CPU kernels (see BatchScorer) and attention
        # models; GPU-offloaded layers and recurrent models score one prompt at a time.
        offloaded = llama_cpp.llama_supports_gpu_offload() and n_gpu_layers != 0
        recurrent = llama_cpp.llama_model_is_recurrent(model.model) or llama_cpp.llama_model_is_hybrid(model.model)
        self._batchable = not offloaded and not recurrent
        self._scorer: BatchScorer | None = None

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return render_chat(self.template, messages, self._bos, self._eos, model=self.spec.name)

    def _tokens(self, prompt: str) -> list[int]:
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        bos = self.llm.token_bos()
        if len(tokens) > 1 and tokens[0] == bos and tokens[1] == bos:  # template wrote its own BOS
            tokens = tokens[1:]
        return tokens

    def count_tokens(self, prompt: str) -> int:
        return len(self._tokens(prompt))

    def tokenize(self, prompt: str) -> list[int]:
        return self._tokens(prompt)

    def _logprobs_after(self, tokens: list[int]):
        """Log-softmax of the logits after `tokens`, always from a fresh context: reusing a cached
        prefix changes llama.cpp's batch shapes and with them the last digits of the scores."""
        self.llm.reset()
        self.llm.eval(tokens)
        return _log_softmax(self.llm._ctx.get_logits(), self.llm.n_vocab())  # the last token's row

    def next_token_logprobs(self, prompts: list[str], token_ids: list[int], batched: bool = True) -> list[list[float]]:
        """Many prompts per decode (`BatchScorer`), the same scores as one at a time; a prompt
        longer than the batch, a group sharing too little (`BATCH_WORTH`), a GPU build or
        `batched=False` takes one fresh context per prompt."""
        encoded = [self._tokens(prompt) for prompt in prompts]
        scorer = self._batch_scorer() if batched else None
        alone = [i for i, tokens in enumerate(encoded) if scorer is None or len(tokens) > scorer.n_batch]
        rows: list[list[float]] = [[] for _ in prompts]
        if scorer is not None:
            fit = [i for i, tokens in enumerate(encoded) if len(tokens) <= scorer.n_batch]
            for group in scorer.groups([encoded[i] for i in fit]):
                members = [fit[g] for g in group]
                if not scorer.worth_batching([encoded[i] for i in members]):
                    alone += members
                    continue
                for i, logprobs in zip(members, scorer.logprobs([encoded[i] for i in members])):
                    rows[i] = [float(logprobs[t]) for t in token_ids]
        for i in alone:
            logprobs = self._logprobs_after(encoded[i])
            rows[i] = [float(logprobs[t]) for t in token_ids]
        return rows

    def _batch_scorer(self) -> BatchScorer | None:
        if self._scorer is None and self._batchable:
            self._scorer = BatchScorer(self.llm)  # on first use: chat never pays for its cache
        return self._scorer

    def continuation_logprob(self, prompt: str, continuation: str) -> float:
        base, full = self._tokens(prompt), self._tokens(prompt + continuation)
        total = 0.0
        for i in range(len(base), len(full)):
            total += float(self._logprobs_after(full[:i])[full[i]])
        return total

    def stream(self, prompt: str, params: GenerationParams, cancel: CancelToken) -> Generator[str, None, Finish]:
        chunks = self.llm.create_completion(
            self._tokens(prompt),
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            seed=params.seed,
            # Every knob explicit: llama-cpp-python's own defaults (top_k 40, top_p 0.95, min_p
            # 0.05) would otherwise apply behind the caller's back. top_k <= 0 is no cut there
            # (llama_sampler_init_top_k: "Setting k <= 0 makes this a noop"). The penalties run
            # before the greedy pick too, so they apply at temperature 0 as well.
            repeat_penalty=params.repeat_penalty,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            min_p=params.min_p,
            top_p=params.top_p,
            top_k=params.top_k,
            stream=True,
        )
        finish = Finish.LENGTH  # llama-cpp-python's own starting value, should no chunk name a reason
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice.get("finish_reason"):  # the last chunk, text "": generation is over
                    finish = Finish.STOP if choice["finish_reason"] == "stop" else Finish.LENGTH
                elif cancel.is_set():
                    return Finish.CANCELLED
                if choice["text"]:
                    yield choice["text"]
        finally:
            chunks.close()
        return finish

    def close(self) -> None:
        if self._scorer is not None:
            self._scorer.close()
        self.llm.close()
