"""The comparison table on screen: the same cells `medtui eval compare` prints, each several
lines tall (accuracy and interval; n, invalid rate, source; best constant and chance; answers;
the paired difference from the base row)."""

from textual.widgets import DataTable

from evals.compare import Comparison
from medtui.tui.styles import stylesheet


class ComparisonTable(DataTable):
    DEFAULT_CSS = stylesheet(__file__)

    def show(self, comparison: Comparison) -> None:
        self.clear(columns=True)
        self.add_columns("method", *comparison.tasks, "average")
        for row in comparison.table():
            self.add_row(*row, key=row[0], height=None)
