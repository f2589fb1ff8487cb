"""What an accuracy means: beside it, how many answers were invalid, which options the model
picked, and the score of the best constant answer on the same items.

A model that answers one letter whatever the question scores that letter's share of the key
(SmolLM2-135M, loglik, answers "C" to all 135 MMLU anatomy questions: 33.3%, exactly the 45 "C"
keys), so an accuracy is read against `best constant`, not only against chance.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from evals.items import LETTERS
from evals.scoring import Prediction


@dataclass(frozen=True)
class Summary:
    n: int
    correct: int
    invalid: int
    answers: tuple[int, ...]  # predictions per option position
    keys: tuple[int, ...]  # answer keys per option position
    labels: tuple[str, ...]  # the options' names: letters, or the shared texts (yes/no/maybe)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def invalid_rate(self) -> float:
        return self.invalid / self.n if self.n else 0.0

    @property
    def best_constant(self) -> tuple[str, int]:
        """(option, correct answers) of always giving the one answer that scores best on these items."""
        best = max(range(len(self.keys)), key=lambda i: self.keys[i])
        return self.labels[best], self.keys[best]

    @property
    def best_constant_rate(self) -> float:
        return self.best_constant[1] / self.n if self.n else 0.0

    @property
    def chance(self) -> float:
        return 1 / len(self.labels)

    def distribution(self) -> str:
        """ "A 3% · B 0% · C 97% · D 0%": the share of all answers that picked each option."""
        if not self.n:
            return "–"
        return " · ".join(f"{label} {count / self.n:.0%}" for label, count in zip(self.labels, self.answers))

    def describe(self) -> str:
        """The line printed beside every accuracy."""
        label, _ = self.best_constant
        return (
            f"n={self.n} · invalid {self.invalid_rate:.1%} · best constant {self.best_constant_rate:.1%} ({label})"
            f" · chance {self.chance:.1%} · answers {self.distribution()}"
        )


def summarize(predictions: Sequence[Prediction], labels: Sequence[str]) -> Summary:
    """`labels` name the options (a task's `option_labels`); a prediction beyond them widens them
    with letters, so a run of a task that changed shape still adds up."""
    width = max([len(labels), *(max(p.answer, p.predicted or 0) + 1 for p in predictions)])
    names = tuple(labels) + tuple(LETTERS[len(labels) : width])
    answers, keys = [0] * width, [0] * width
    for p in predictions:
        keys[p.answer] += 1
        if p.predicted is not None:
            answers[p.predicted] += 1
    return Summary(
        len(predictions),
        sum(p.correct for p in predictions),
        sum(p.predicted is None for p in predictions),
        tuple(answers),
        tuple(keys),
        names,
    )
