"""The comparison table on screen: the same cells `medtui eval compare` prints, each several
lines tall (accuracy and interval; n, invalid rate, source; best constant and chance; answers;
the paired difference from the base row)."""

from textual.actions import SkipAction
from textual.widgets import DataTable

from evals.compare import Comparison
from medtui.tui.styles import stylesheet


class ResultTable(DataTable):
    """A row-cursor table of results whose left and right scroll it while there is more to see
    that way, then pass to the screen, which switches to the next view of the results."""

    def action_cursor_left(self) -> None:
        if self.cursor_type != "row" or self.scroll_x > 0:
            super().action_cursor_left()
            return
        raise SkipAction()

    def action_cursor_right(self) -> None:
        if self.cursor_type != "row" or self.scroll_x < self.max_scroll_x:
            super().action_cursor_right()
            return
        raise SkipAction()


class ComparisonTable(ResultTable):
    DEFAULT_CSS = stylesheet(__file__)

    def show(self, comparison: Comparison) -> None:
        self.clear(columns=True)
        self.add_columns("method", *comparison.tasks, "average")
        for row in comparison.table():
            self.add_row(*row, key=row[0], height=None)
