"""Keep benchmark test questions out of training data.

A model trained on a test question would score on it without knowing medicine, so every
training row is checked against the test items of the benchmarks `evals` knows (loaded by the
same declarations `medtui eval` uses, from whichever source is available here) and against
PubMedQA's official test PMIDs. A row is dropped if any of its text fields is, after
normalisation, a benchmark question, or if it names a test PMID.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from evals.tasks import PUBMEDQA_TEST_PMIDS, TASKS
from medtui.core.errors import MedtuiError

CHECKED_TASKS = (
    "medqa",
    "medmcqa",
    "pubmedqa",
    "mmlu_anatomy",
    "mmlu_clinical_knowledge",
    "mmlu_college_biology",
    "mmlu_college_medicine",
    "mmlu_medical_genetics",
    "mmlu_professional_medicine",
    "headqa",
    "bioasq_yesno",
)
PMID_FIELDS = ("pmid", "pubid", "PMID", "pubmed_id")
MIN_CHARS = 24  # shorter "questions" (e.g. "Which of the following?") would match by chance
_NON_WORD = re.compile(r"\W+")


def normalise(text: str) -> str:
    """Case, punctuation and spacing do not make a question new."""
    return _NON_WORD.sub(" ", text.lower()).strip()


@dataclass(frozen=True)
class BenchmarkQuestions:
    questions: frozenset[str]  # normalised test questions
    pmids: frozenset[str]  # PubMedQA test PMIDs
    checked: tuple[str, ...]  # tasks whose questions are in `questions`
    unavailable: tuple[str, ...]  # tasks no source could load here (reported, not fatal)

    def match(self, row: dict) -> str | None:
        """The benchmark a row repeats, or None."""
        for key in PMID_FIELDS:
            if str(row.get(key, "")).strip() in self.pmids:
                return "pubmedqa"
        for value in row.values():
            if isinstance(value, str) and len(value) >= MIN_CHARS and normalise(value) in self.questions:
                return "benchmark"
        return None


@lru_cache(maxsize=1)
def benchmark_questions() -> BenchmarkQuestions:
    """Loaded once per process: a few seconds from the offline copies."""
    questions: set[str] = set()
    checked, unavailable = [], []
    for name in CHECKED_TASKS:
        try:
            _, items = TASKS[name].load()
        except MedtuiError:
            unavailable.append(name)
            continue
        questions.update(q for q in (normalise(item.question) for item in items) if len(q) >= MIN_CHARS)
        checked.append(name)
    pmids = frozenset(PUBMEDQA_TEST_PMIDS.read_text().split())
    return BenchmarkQuestions(frozenset(questions), pmids, tuple(checked), tuple(unavailable))
