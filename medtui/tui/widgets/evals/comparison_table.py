"""The comparison table on screen: the same rows `medtui eval compare` prints."""

from textual.widgets import DataTable

from evals.compare import Comparison


class ComparisonTable(DataTable):
    DEFAULT_CSS = "ComparisonTable { height: auto; max-height: 14; }"

    def show(self, comparison: Comparison) -> None:
        self.clear(columns=True)
        self.add_columns("method", *comparison.tasks, "average")
        for row in comparison.table():
            self.add_row(*row, key=row[0])
