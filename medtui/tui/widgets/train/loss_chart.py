"""Train and eval loss of one run against the step, drawn in the terminal with plotext."""

from textual_plotext import PlotextPlot

from medtui.tui.styles import stylesheet
from trainers.api import Progress


class LossChart(PlotextPlot):
    DEFAULT_CSS = stylesheet(__file__)

    def show(self, progress: Progress | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(f"loss · {progress.stage}" if progress and progress.stage else "loss")
        plt.xlabel("step")
        if progress and progress.train:
            plt.plot(*zip(*progress.train), label="train", marker="braille")
        if progress and progress.eval:
            plt.plot(*zip(*progress.eval), label="eval", marker="dot")
        self.refresh()
