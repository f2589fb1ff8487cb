"""The comparison table: methods (model · mode · RAG) by benchmarks, each cell an accuracy with
its 95% interval, and an average column.

`medtui eval compare` and the eval screen build it from the same saved runs, so the terminal
table and the screen never disagree about what a cell means.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

from evals.stats import Z95, format_accuracy, wilson
from evals.store import RunRow
from evals.tasks import TASKS

SAMPLE_NOTE = "* a sample (--limit); intervals are Wilson 95% per task, the average's is a normal approximation"


def average(rows: list[RunRow]) -> tuple[float, float]:
    """Mean of the task accuracies and the half-width of its 95% interval (independent task variances)."""
    accs = [r.accuracy for r in rows]
    mean = sum(accs) / len(accs)
    se = math.sqrt(sum(a * (1 - a) / r.done for a, r in zip(accs, rows))) / len(rows)
    return mean, Z95 * se


@dataclass(frozen=True)
class Comparison:
    tasks: list[str]  # in registry order
    methods: list[str]  # sorted by name
    cells: dict[tuple[str, str], RunRow]  # (method, task) -> the latest complete run

    def interval(self, method: str, task: str) -> tuple[float, float, float] | None:
        """(accuracy, low, high) of one cell, or None where that method has not run that task."""
        row = self.cells.get((method, task))
        if row is None or not row.done:
            return None
        return (row.accuracy, *wilson(row.correct, row.done))

    def table(self) -> list[list[str]]:
        """One row of text per method: its name, one cell per task, then the average of all tasks."""
        out = []
        for method in self.methods:
            rows = [self.cells.get((method, t)) for t in self.tasks]
            cells = [format_accuracy(r.correct, r.done) + ("*" if r.key.limit else "") if r else "–" for r in rows]
            done = [r for r in rows if r and r.done]
            if len(done) == len(self.tasks):
                mean, half = average(done)
                cells.append(f"{mean:.1%} ± {half:.1%}")
            else:
                cells.append("–")  # an average over different task sets would not compare
            out.append([method, *cells])
        return out


def comparison(runs: Iterable[RunRow], tasks: set[str] | None = None) -> Comparison:
    """The latest complete run of each (method, task), from the model files each method ran last:
    a model retrained under its old name is not shown with its earlier weights' scores. Runs come
    oldest first, as `RunStore.runs()` gives them."""
    complete = [r for r in runs if r.state == "complete" and (tasks is None or r.key.task in tasks)]
    current = {r.key.method: r.key.model_fingerprint for r in complete}
    latest: dict[tuple[str, str], RunRow] = {}
    for r in complete:
        if r.key.model_fingerprint == current[r.key.method]:
            latest[(r.key.method, r.key.task)] = r
    return Comparison([t for t in TASKS if any(k[1] == t for k in latest)], sorted({m for m, _ in latest}), latest)
