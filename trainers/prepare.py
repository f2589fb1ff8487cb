"""From a config to tokenized train and eval rows, with a report of everything left out.

SFT rows become `input_ids` + `completion_mask` (TRL builds labels from it, -100 on the
prompt); rows longer than `max_seq_len` are dropped and counted rather than truncated, since
cutting would remove the answer. CPT documents become `input_ids` ending in EOS, to be packed
into `max_seq_len` blocks. A fixed-seed shuffle holds out `eval_fraction` for the eval loss.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from medtui.core.errors import MedtuiError
from trainers.config import TrainConfig
from trainers.data import DataReport, Screen, corpus_texts, sft_rows
from trainers.decontaminate import benchmark_questions
from trainers.formatting import format_row, tokenize_formatted


@dataclass
class Prepared:
    train: list[dict[str, list[int]]]
    eval: list[dict[str, list[int]]]
    report: DataReport
    source: str  # the dataset these came from, for messages

    @property
    def train_tokens(self) -> int:
        return sum(len(r["input_ids"]) for r in self.train)


def _screen(config: TrainConfig):
    return benchmark_questions().match if config.decontaminate else None


def _config_rows(config: TrainConfig, report: DataReport, limit: int | None, screen: Screen | None = None):
    """The SFT rows `config` names, with its field mapping."""
    return sft_rows(
        config.data, report, config.question_field, config.reasoning_field, config.answer_field,
        config.subset, config.split, limit, screen,
    )  # fmt: skip


def sft_examples(config: TrainConfig, tokenizer, report: DataReport, limit: int | None = None):
    """(row, formatted, tokens) for each usable row, counting the ones left out."""
    for row in _config_rows(config, report, limit or config.limit, _screen(config)):
        formatted = format_row(tokenizer, row, config.system_prompt)
        tokens = tokenize_formatted(tokenizer, formatted)
        if len(tokens["input_ids"]) > config.max_seq_len:
            report.drop("too_long", row.where)
            continue
        yield row, formatted, tokens


def _split(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    rows = rows[:]
    random.Random(seed).shuffle(rows)
    n_eval = round(len(rows) * fraction) if len(rows) >= 10 else 0
    if fraction > 0 and len(rows) >= 10:
        n_eval = max(1, n_eval)
    return rows[n_eval:], rows[:n_eval]


def _require(rows: list, report: DataReport, source: str) -> None:
    if not rows:
        raise MedtuiError(
            f"{source}: no rows left after filtering ({report.describe()}): check the field mapping and --max-seq-len"
        )


def _counted(rows, on_row: Callable[[int], None] | None):
    """`rows`, telling `on_row` how many have gone by (tokenizing a big dataset takes minutes)."""
    for n, row in enumerate(rows, 1):
        if on_row:
            on_row(n)
        yield row


def prepare_sft(config: TrainConfig, tokenizer, on_row: Callable[[int], None] | None = None) -> Prepared:
    report = DataReport()
    rows = [tokens for _, _, tokens in _counted(sft_examples(config, tokenizer, report), on_row)]
    _require(rows, report, config.data)
    train, eval_ = _split(rows, config.eval_fraction, config.seed)
    return Prepared(train, eval_, report, config.data)


def prepare_cpt(config: TrainConfig, tokenizer, on_row: Callable[[int], None] | None = None) -> Prepared:
    report = DataReport()
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    texts = corpus_texts(
        config.corpus, report, config.text_field, config.subset, config.split, config.limit, _screen(config)
    )
    docs = [
        {"input_ids": tokenizer(text, add_special_tokens=False)["input_ids"] + eos}
        for _, text in _counted(texts, on_row)
    ]
    _require(docs, report, config.corpus)
    train, eval_ = _split(docs, config.eval_fraction, config.seed)
    return Prepared(train, eval_, report, config.corpus)


def check_sources(config: TrainConfig) -> None:
    """Fail fast, before a run folder exists: the machine must suit the quantization and
    backend asked for, and the data must open and have the mapped fields."""
    from trainers.backends import resolve_backend, resolve_quant

    resolve_quant(config)
    resolve_backend(config)
    report = DataReport()
    if config.method in ("sft", "msft"):
        next(_config_rows(config, report, 1), None)
    if config.method in ("cpt", "msft"):
        next(corpus_texts(config.corpus, report, config.text_field, config.subset, config.split, 1), None)
