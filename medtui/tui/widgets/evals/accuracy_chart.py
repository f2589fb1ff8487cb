"""Accuracy per benchmark as a bar chart (textual-plotext): one bar group per benchmark, one
colour per method, and each bar's 95% interval drawn across its end as ├──┤ in the
foreground colour, so it reads as a range and not as part of the bar.

Bars are horizontal so long benchmark names stay readable as axis labels, and the axis is
fixed at 0-100% so bars from different runs can be compared by eye.
"""

from textual_plotext import PlotextPlot

from evals.compare import Comparison
from medtui.tui.styles import stylesheet

COLORS = ("green", "cyan", "magenta", "orange", "blue", "red", "yellow", "white")


def group_offsets(n: int) -> list[float]:
    """Where plotext's multiple_bar puts the bars of n methods around each category (its own spacing)."""
    if n == 1:
        return [0.0]
    first, last = -1 / 2 + 1 / (2 * n), 1 / 2 - 1 / (2 * n)
    return [first + i * (last - first) / (n - 1) for i in range(n)]


class AccuracyChart(PlotextPlot):
    DEFAULT_CSS = stylesheet(__file__)

    def show(self, comparison: Comparison) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("accuracy % with 95% intervals")
        if not comparison.methods:
            self.refresh()
            return
        colors = [COLORS[i % len(COLORS)] for i in range(len(comparison.methods))]
        values = [
            [100 * (comparison.interval(m, t) or (0.0, 0.0, 0.0))[0] for t in comparison.tasks]
            for m in comparison.methods
        ]
        plt.multiple_bar(
            comparison.tasks, values, labels=comparison.methods, color=colors, orientation="horizontal", width=0.8
        )
        for offset, method in zip(group_offsets(len(comparison.methods)), comparison.methods):
            for position, task in enumerate(comparison.tasks, 1):
                cell = comparison.interval(method, task)
                if cell is not None:
                    y, low, high = position + offset, 100 * cell[1], 100 * cell[2]
                    plt.plot([low, high], [y, y], marker="─", color="default")
                    plt.scatter([low], [y], marker="├", color="default")
                    plt.scatter([high], [y], marker="┤", color="default")
        plt.xlim(0, 100)
        plt.xlabel("accuracy %")
        self.refresh()
