"""Hugging Face models (local folder or Hub id), optionally with a PEFT LoRA adapter.

Weights load from safetensors only and never with trust_remote_code: a model folder is data,
not code. Generation runs in a background thread feeding a TextIteratorStreamer.
"""

import threading
from collections.abc import Generator

from medtui.core import hub
from medtui.core.engines.base import CancelToken, Finish, GenerationParams
from medtui.core.engines.chat_template import render_chat
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec, is_hub_id


def _load_error(source: str, error: Exception, unreachable: str | None) -> MedtuiError:
    fix = f"download it on a connected machine (`hf download {source}`) or add a local folder with `medtui models add`"
    if unreachable:
        return hub.unreachable_error(unreachable, source, fix)
    if is_hub_id(source):
        return MedtuiError(f"cannot load {source} from the Hugging Face Hub (offline, or no such model): {fix}")
    return MedtuiError(f"{source}: missing or corrupt model files ({type(error).__name__}: {error})")


MIN_SHARED_PREFIX = 4  # tokens: below this, copying the cache costs more than it saves


def shared_prefix_length(encoded: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one of its own to score from."""
    n = min(len(e) for e in encoded) - 1
    first = encoded[0]
    for i in range(max(n, 0)):
        if any(e[i] != first[i] for e in encoded):
            return i
    return max(n, 0)


class TransformersEngine:
    def __init__(self, spec: ModelSpec, n_ctx: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self._torch = torch
        unreachable = hub.check_source(spec.source)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.source, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(
                spec.source, dtype="auto", use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError) as e:
            raise _load_error(spec.source, e, unreachable) from None
        if spec.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, spec.adapter)
            except (OSError, ValueError) as e:
                raise MedtuiError(f"LoRA adapter {spec.adapter} does not fit {spec.source}: {e}") from None
        self.model = model.eval()
        limit = getattr(model.config, "max_position_embeddings", None) or n_ctx
        self.n_ctx = min(n_ctx, limit)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        tok = self.tokenizer
        return render_chat(tok.chat_template, messages, tok.bos_token or "", tok.eos_token or "", model=self.spec.name)

    def _encode(self, prompt: str):
        # The template already wrote any special tokens it wants.
        return self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)

    def count_tokens(self, prompt: str) -> int:
        return int(self._encode(prompt)["input_ids"].shape[1])

    def tokenize(self, prompt: str) -> list[int]:
        return self._encode(prompt)["input_ids"][0].tolist()

    def next_token_logprobs(self, prompts: list[str], token_ids: list[int], batch_size: int = 8) -> list[list[float]]:
        """Batched scoring with as little work as the answer needs.

        The opening all prompts share (chat template, system prompt, "Question:") runs once and
        its KV cache is copied into every batch; batches group similar lengths and are
        left-padded so each row's last position is its next-token position; and only that
        position goes through the vocabulary projection (`logits_to_keep=1`), not all of them.
        """
        import copy

        torch, tok = self._torch, self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        all_encoded = [self.tokenize(p) for p in prompts]
        shared = shared_prefix_length(all_encoded) if len(prompts) > 1 else 0
        order = sorted(range(len(prompts)), key=lambda i: len(all_encoded[i]))  # similar lengths: little padding
        out: list[list[float]] = [[] for _ in prompts]
        with torch.inference_mode():
            prefix = None
            if shared >= MIN_SHARED_PREFIX:
                prefix = self.model(
                    input_ids=torch.tensor([all_encoded[0][:shared]]), use_cache=True, logits_to_keep=1
                ).past_key_values
            else:
                shared = 0
            for start in range(0, len(order), batch_size):
                members = order[start : start + batch_size]
                rest = [all_encoded[i][shared:] for i in members]
                width = max(len(e) for e in rest)
                ids = torch.tensor([[pad] * (width - len(e)) + e for e in rest])
                mask = torch.tensor([[1] * shared + [0] * (width - len(e)) + [1] * len(e) for e in rest])
                positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
                kwargs = {}
                if prefix is not None:
                    cache = copy.deepcopy(prefix)
                    cache.batch_repeat_interleave(len(members))
                    kwargs["past_key_values"] = cache
                logits = self.model(
                    input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, **kwargs
                ).logits[:, -1, :]
                logprobs = torch.log_softmax(logits.float(), dim=-1)[:, token_ids]
                for i, row in zip(members, logprobs.tolist()):
                    out[i] = row
        return out

    def continuation_logprob(self, prompt: str, continuation: str) -> float:
        torch = self._torch
        base, full = self.tokenize(prompt), self.tokenize(prompt + continuation)
        with torch.no_grad():
            logits = self.model(input_ids=torch.tensor([full])).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        return float(sum(logprobs[i - 1, full[i]] for i in range(len(base), len(full))))

    def _eos_ids(self) -> set[int]:
        """The token ids generate() ends an answer on: generation_config's (an int or a list), else the tokenizer's."""
        config = getattr(self.model, "generation_config", None)
        eos = getattr(config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return set()
        return {int(eos)} if isinstance(eos, int) else {int(t) for t in eos}

    def stream(self, prompt: str, params: GenerationParams, cancel: CancelToken) -> Generator[str, None, Finish]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        # Our own stop for the generate() thread: set when the caller cancels or stops reading.
        # The caller's token is only read, so a finished answer never looks cancelled to it.
        stop = threading.Event()
        halted: list[bool] = []  # the criterion below ended generation (a cancel, since `stop` is set only after)

        class _Stopped(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                if stop.is_set() or cancel.is_set():
                    halted.append(True)
                    return True
                return False

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._torch.manual_seed(params.seed)
        sampling = params.temperature > 0
        encoded = self._encode(prompt)
        # Explicit values override the model's generation_config, so every run decodes as `params`
        # say; a knob that is off is None, which transformers skips (no warning, no warper).
        # transformers has no presence or frequency penalty: those two params are llama.cpp only.
        kwargs = dict(
            **encoded,
            max_new_tokens=params.max_tokens,
            do_sample=sampling,
            temperature=params.temperature if sampling else None,
            top_p=params.top_p if sampling and params.top_p < 1.0 else None,
            top_k=params.top_k if sampling and params.top_k > 0 else None,
            min_p=params.min_p if sampling and params.min_p > 0 else None,
            repetition_penalty=params.repeat_penalty if params.repeat_penalty != 1.0 else None,  # greedy too
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Stopped()]),
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        errors: list[Exception] = []
        outputs: list = []
        worker = threading.Thread(target=self._generate, args=(kwargs, errors, outputs), daemon=True)
        worker.start()
        cancelled = False
        try:
            for text in streamer:
                if cancel.is_set():
                    cancelled = True
                    break
                if text:
                    yield text
        finally:
            stop.set()
            worker.join()
        if errors:
            raise MedtuiError(f"generation failed in {self.spec.name}: {errors[0]}")
        if cancelled:
            return Finish.CANCELLED
        new = outputs[0][0, encoded["input_ids"].shape[1] :].tolist() if outputs else []
        if new and new[-1] in self._eos_ids():
            return Finish.STOP
        if halted:
            return Finish.CANCELLED
        return Finish.LENGTH if len(new) >= params.max_tokens else Finish.STOP

    def _generate(self, kwargs: dict, errors: list[Exception], outputs: list) -> None:
        try:
            with self._torch.inference_mode():
                outputs.append(self.model.generate(**kwargs))
        except Exception as e:  # surfaced to the caller of stream(), not lost in the thread
            errors.append(e)
            kwargs["streamer"].end()

    def close(self) -> None:
        self.model = None
