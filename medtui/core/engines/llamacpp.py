"""GGUF models through llama-cpp-python, prompted with the file's own chat template."""

import os
from collections.abc import Generator

from medtui.core.engines.base import CancelToken, Finish, GenerationParams
from medtui.core.engines.chat_template import render_chat
from medtui.core.engines.gguf_file import check_gguf
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec


def default_threads() -> int:
    # llama.cpp's own default is half the logical cores, which is one thread on a 2-core laptop.
    return max(os.cpu_count() or 1, 1)


class LlamaCppEngine:
    def __init__(self, spec: ModelSpec, n_ctx: int, n_threads: int = 0, n_gpu_layers: int = -1) -> None:
        from llama_cpp import Llama

        path = check_gguf(spec.source)
        lora = str(check_gguf(spec.adapter, "LoRA adapter")) if spec.adapter else None
        self.spec = spec
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                n_gpu_layers=n_gpu_layers,
                lora_path=lora,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise MedtuiError(
                f"llama.cpp could not load {path} ({e}): the file may be corrupt or too new; re-download it"
            ) from None
        self.n_ctx = self.llm.n_ctx()
        model = self.llm._model
        self._bos = model.token_get_text(self.llm.token_bos()) if self.llm.token_bos() != -1 else ""
        self._eos = model.token_get_text(self.llm.token_eos()) if self.llm.token_eos() != -1 else ""
        self.template = self.llm.metadata.get("tokenizer.chat_template")

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
        import numpy as np

        self.llm.reset()
        self.llm.eval(tokens)
        last = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),))  # the last token's row
        logits = last.astype(np.float64)
        return logits - (np.log(np.exp(logits - logits.max()).sum()) + logits.max())

    def next_token_logprobs(self, prompts: list[str], token_ids: list[int]) -> list[list[float]]:
        out = []
        for prompt in prompts:
            logprobs = self._logprobs_after(self._tokens(prompt))
            out.append([float(logprobs[t]) for t in token_ids])
        return out

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
        self.llm.close()
