"""Check an exported GGUF against the merged Hugging Face model before it is registered.

It must load the way the chat loads it (`LlamaCppEngine`), carry a chat template that renders
the same prompt as the tokenizer's, tokenize the same, and predict the same next tokens: the
top-1 agreement over every position of a fixed set of medical chat prompts, and the perplexity
of a fixed medical text under both models. Both models see identical token ids, so the numbers
measure the weights and arithmetic alone. Thresholds per quant type are in docs/design.md.
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from export.merge import Merged
from medtui.core.engines.chat_template import render_chat
from medtui.core.engines.llamacpp import LlamaCppEngine, default_threads
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec

PROMPTS = (
    "What are the first-line treatments for community-acquired pneumonia in adults?",
    "Which laboratory tests confirm iron deficiency anemia?",
    "What are the warning signs of diabetic ketoacidosis?",
    "How does metformin lower blood glucose?",
    "When should a child with a fever be seen by a doctor urgently?",
    "What is the difference between type 1 and type 2 myocardial infarction?",
    "Which vaccines are recommended for adults over 65?",
    "What are common side effects of ACE inhibitors?",
)
TEXT = (
    "Hypertension is a chronic condition in which the blood pressure in the arteries is persistently "
    "elevated. It usually causes no symptoms, but over time it is a major risk factor for stroke, heart "
    "failure, chronic kidney disease and coronary artery disease. Treatment begins with lifestyle changes "
    "such as reducing salt intake, regular physical activity and weight loss, and many patients also need "
    "medicines such as thiazide diuretics, calcium channel blockers or ACE inhibitors."
)


@dataclass(frozen=True)
class Thresholds:
    top1: float  # least fraction of positions whose most likely next token agrees
    ppl_rel: float  # largest |ppl_gguf - ppl_hf| / ppl_hf


# Set from SmolLM2-135M measurements (docs/results.md) with headroom; see docs/design.md.
# "same_base": a GGUF LoRA on the very GGUF the HF reference was dequantized from (identical
# weights; llama.cpp still quantizes activations for its quantized dot products).
THRESHOLDS = {
    "f16": Thresholds(0.97, 0.01),
    "q8_0": Thresholds(0.90, 0.03),
    "q4_k_m": Thresholds(0.85, 0.12),
    "same_base": Thresholds(0.85, 0.05),
}


@dataclass(frozen=True)
class Verification:
    kind: str  # which thresholds applied
    top1: float
    positions: int
    ppl_hf: float
    ppl_gguf: float
    template_ok: bool
    tokens_ok: bool

    @property
    def ppl_rel(self) -> float:
        return abs(self.ppl_gguf - self.ppl_hf) / self.ppl_hf

    @property
    def passed(self) -> bool:
        t = THRESHOLDS[self.kind]
        return self.template_ok and self.tokens_ok and self.top1 >= t.top1 and self.ppl_rel <= t.ppl_rel

    def describe(self) -> str:
        t = THRESHOLDS[self.kind]
        return (
            f"top-1 agreement {self.top1:.1%} over {self.positions} positions (need ≥ {t.top1:.0%}), "
            f"perplexity HF {self.ppl_hf:.3f} vs GGUF {self.ppl_gguf:.3f} "
            f"(Δ {self.ppl_rel:.2%}, allowed {t.ppl_rel:.0%}), "
            f"chat template {'same' if self.template_ok else 'DIFFERENT'}, "
            f"tokenizer {'same' if self.tokens_ok else 'DIFFERENT'}"
        )

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "ppl_rel": self.ppl_rel,
            "passed": self.passed,
            "thresholds": asdict(THRESHOLDS[self.kind]),
        }


def _check_loads_and_template(gguf: Path, adapter: Path | None, merged: Merged) -> tuple[bool, list[str]]:
    """Open the file exactly as the chat will and render its template next to the tokenizer's."""
    engine = LlamaCppEngine(ModelSpec("export-check", "gguf", str(gguf), str(adapter) if adapter else None), n_ctx=512)
    try:
        if not engine.template:
            raise MedtuiError(f"{gguf}: no tokenizer.chat_template in the GGUF metadata; the export is refused")
        tok = merged.tokenizer
        prompts = [[{"role": "user", "content": p}] for p in PROMPTS]
        ours = [engine.render_chat(m) for m in prompts]
        theirs = [render_chat(tok.chat_template, m, tok.bos_token or "", tok.eos_token or "") for m in prompts]
        return ours == theirs, theirs
    finally:
        engine.close()


def _hf_logprobs(merged: Merged, ids: list[int]):
    import torch

    with torch.no_grad():
        logits = merged.model(input_ids=torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, dim=-1).numpy()


def _gguf_logprobs(llm, ids: list[int]):
    import numpy as np

    llm.reset()
    llm.eval(ids)
    logits = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - (np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)) + top)


def _perplexity(logprobs, ids: list[int]) -> float:
    nll = -sum(float(logprobs[i - 1, ids[i]]) for i in range(1, len(ids)))
    return math.exp(nll / (len(ids) - 1))


def verify(gguf: Path, merged: Merged, kind: str, adapter: Path | None = None) -> Verification:
    """Compare the GGUF (plus a GGUF LoRA) with the merged HF model; never raises on a mismatch, only measures."""
    from llama_cpp import Llama

    template_ok, rendered = _check_loads_and_template(gguf, adapter, merged)
    tok = merged.tokenizer
    sequences = [tok(p, add_special_tokens=False)["input_ids"] for p in rendered]
    text_ids = tok(TEXT)["input_ids"]
    llm = Llama(
        model_path=str(gguf),
        lora_path=str(adapter) if adapter else None,
        n_ctx=512,
        n_batch=512,
        n_threads=default_threads(),
        logits_all=True,
        verbose=False,
    )
    try:
        tokens_ok = all(
            llm.tokenize(p.encode("utf-8"), add_bos=False, special=True) == ids for p, ids in zip(rendered, sequences)
        )
        agree = positions = 0
        for ids in sequences:
            hf, gg = _hf_logprobs(merged, ids), _gguf_logprobs(llm, ids)
            agree += int((hf.argmax(-1) == gg.argmax(-1)).sum())
            positions += len(ids)
        ppl_hf = _perplexity(_hf_logprobs(merged, text_ids), text_ids)
        ppl_gguf = _perplexity(_gguf_logprobs(llm, text_ids), text_ids)
    finally:
        llm.close()
    return Verification(kind, agree / positions, positions, ppl_hf, ppl_gguf, template_ok, tokens_ok)
