"""The comparison table: methods (model · mode · settings) by benchmarks, and an average column.

Each cell is an accuracy with its 95% interval, then what it must be read against: n, the
invalid rate and the data source; the best constant answer's score on the same items and the
chance rate; the answer distribution; and, for every method but the base, its difference from
the base method's run of that task *on the items both answered*, with McNemar's exact p-value
(paired: two methods on the same questions differ far less by luck than two independent samples).

`medtui eval compare` (table, --json, --csv) and the eval screen build it from the same saved
runs, so the terminal, the exports and the screen never disagree about what a cell means.
"""

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from evals.scoring import Prediction
from evals.stats import format_accuracy, mcnemar_exact, mean_interval, wilson
from evals.store import RunRow, RunStore
from evals.summary import Summary, summarize
from evals.tasks import TASKS, Task
from medtui.core.records import RunStatus

SAMPLE_NOTE = (
    "* a sample (--limit). Intervals are Wilson 95% per task; the average is the unweighted mean of the tasks "
    "(each counts the same, whatever its size), its 95% interval from Agresti–Coull task variances. "
    "Δ: points above the base method on the items both answered, p from McNemar's exact test."
)


@dataclass(frozen=True)
class Paired:
    """Two runs of one task on the items both answered."""

    n: int
    only_this: int  # items this method got right and the base got wrong
    only_base: int

    @property
    def difference(self) -> float:
        return (self.only_this - self.only_base) / self.n if self.n else 0.0

    @property
    def p(self) -> float:
        return mcnemar_exact(self.only_this, self.only_base)

    def describe(self) -> str:
        return f"Δ {100 * self.difference:+.1f} pts vs base, p={self.p:.3g} (n={self.n} paired)"


def paired(these: list[Prediction], base: list[Prediction]) -> Paired:
    right = {p.item_id: p.correct for p in base}
    shared = [(p.correct, right[p.item_id]) for p in these if p.item_id in right]
    return Paired(len(shared), sum(a and not b for a, b in shared), sum(b and not a for a, b in shared))


@dataclass(frozen=True)
class Comparison:
    tasks: list[str]  # in the order of the known tasks (the registry's, then the task files')
    methods: list[str]  # sorted by name
    cells: dict[tuple[str, str], RunRow]  # (method, task) -> the latest complete run
    summaries: dict[tuple[str, str], Summary]
    versus: dict[tuple[str, str], Paired]  # (method, task) -> against the base's run of that task
    base: str | None  # the method the others are tested against

    def interval(self, method: str, task: str) -> tuple[float, float, float] | None:
        """(accuracy, low, high) of one cell, or None where that method has not run that task."""
        row = self.cells.get((method, task))
        if row is None or not row.done:
            return None
        return (row.accuracy, *wilson(row.correct, row.done))

    def average(self, method: str) -> tuple[float, float, float] | None:
        """(mean, low, high) over every task, or None where the method lacks one: an average over
        different task sets would not compare."""
        rows = [self.cells.get((method, t)) for t in self.tasks]
        if not all(r and r.done for r in rows):
            return None
        return mean_interval([(r.correct, r.done) for r in rows])

    def cell_text(self, method: str, task: str) -> str:
        row = self.cells.get((method, task))
        if row is None:
            return "–"
        s = self.summaries[(method, task)]
        label, _ = s.best_constant
        lines = [
            format_accuracy(row.correct, row.done) + ("*" if row.key.limit else ""),
            f"n={s.n} · invalid {s.invalid_rate:.1%} · {row.key.source}",
            f"best constant {s.best_constant_rate:.1%} ({label}) · chance {s.chance:.1%}",
            f"answers {s.distribution()}",
        ]
        if method == self.base:
            lines.append("base")
        elif (method, task) in self.versus:
            lines.append(self.versus[(method, task)].describe())
        return "\n".join(lines)

    def average_text(self, method: str) -> str:
        avg = self.average(method)
        if avg is None:
            return "–"
        mean, low, high = avg
        return f"{mean:.1%} [{low:.1%}–{high:.1%}]\n{self.averaging}"

    @property
    def averaging(self) -> str:
        n = len(self.tasks)
        return f"unweighted mean of {n} task{'' if n == 1 else 's'}"

    def table(self) -> list[list[str]]:
        """One row of text per method: its name, one cell per task, then the average of all tasks."""
        return [[m, *(self.cell_text(m, t) for t in self.tasks), self.average_text(m)] for m in self.methods]

    def records(self) -> list[dict]:
        """One flat record per cell and per average: what `eval compare --json/--csv` writes."""
        out = []
        for (method, task), row in sorted(self.cells.items()):
            s = self.summaries[(method, task)]
            low, high = wilson(row.correct, row.done)
            versus = self.versus.get((method, task))
            label, _ = s.best_constant
            out.append(
                {
                    "method": method, "task": task, "run": row.key.id, "source": row.key.source,
                    "sample": row.key.limit is not None, "n": s.n, "correct": s.correct, "accuracy": s.accuracy,
                    "ci_low": low, "ci_high": high, "invalid": s.invalid, "invalid_rate": s.invalid_rate,
                    "answers": dict(zip(s.labels, s.answers)), "best_constant": s.best_constant_rate,
                    "best_constant_answer": label, "chance": s.chance, "base": self.base,
                    "paired_n": versus.n if versus else None,
                    "difference": versus.difference if versus else None,
                    "p_mcnemar": versus.p if versus else None,
                }
            )  # fmt: skip
        for method in self.methods:
            if (avg := self.average(method)) is not None:
                out.append(
                    {"method": method, "task": "average", "accuracy": avg[0], "ci_low": avg[1], "ci_high": avg[2],
                     "averaging": self.averaging}
                )  # fmt: skip
        return out

    def to_json(self) -> str:
        return json.dumps({"tasks": self.tasks, "methods": self.methods, "base": self.base, "cells": self.records()})

    def to_csv(self) -> str:
        records = self.records()
        columns = list(dict.fromkeys(k for r in records for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        for r in records:
            answers = r.get("answers")
            writer.writerow({**r, "answers": " ".join(f"{k}:{v}" for k, v in answers.items()) if answers else ""})
        return out.getvalue()


def comparison(
    runs: Iterable[RunRow],
    tasks: set[str] | None = None,
    store: RunStore | None = None,
    base: str | None = None,
    known: Mapping[str, Task] = TASKS,
) -> Comparison:
    """The latest complete run of each (method, task), from the model files (and index) each method
    ran last: a model retrained under its old name is not shown with its earlier weights' scores.
    Runs come oldest first, as `RunStore.runs()` gives them, and their predictions from `store`
    (the default store when None). The base is `base` if it is one of the methods, else the first.
    `known` are the tasks a run may be of (with the task files': `task_files.known_tasks`): they name
    each task's options and order the columns; runs of other tasks are left out."""
    store = store or RunStore()
    wanted = known.keys() if tasks is None else tasks & known.keys()
    complete = [r for r in runs if r.state is RunStatus.COMPLETE and r.key.task in wanted]
    current = {r.key.method: r.key.files for r in complete}
    latest: dict[tuple[str, str], RunRow] = {}
    for r in complete:
        if r.key.files == current[r.key.method]:
            latest[(r.key.method, r.key.task)] = r
    methods = sorted({m for m, _ in latest})
    chosen = base if base in methods else (methods[0] if methods else None)
    predictions = {cell: store.predictions(row.key.id) for cell, row in latest.items()}
    summaries = {(m, t): summarize(predictions[(m, t)], known[t].option_labels) for m, t in latest}
    versus = {
        (m, t): paired(predictions[(m, t)], predictions[(chosen, t)])
        for m, t in latest
        if m != chosen and (chosen, t) in latest
    }
    return Comparison([t for t in known if any(k[1] == t for k in latest)], methods, latest, summaries, versus, chosen)
