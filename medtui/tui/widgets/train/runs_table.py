"""Every training run with its status and latest numbers; Enter (or highlighting) watches one."""

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.widgets import DataTable

from trainers.runs import Run


class RunsTable(DataTable):
    HELP = "Highlight a run to watch its progress and loss curve."

    @dataclass
    class Chosen(Message):
        run_dir: Path

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("run", "method", "model", "status", "step", "loss")

    def show(self, runs: list[Run], steps: dict[Path, tuple[str, str]], selected: Path | None) -> None:
        """Redraw keeping the cursor on `selected`; `steps` maps a run to its (step, loss) text."""
        self.clear()
        for run in runs:
            step, loss = steps.get(run.dir, ("", ""))
            self.add_row(run.name, run.config.method, run.config.model, run.status, step, loss, key=str(run.dir))
        for row, run in enumerate(runs):
            if run.dir == selected:
                self.move_cursor(row=row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(Path(str(event.row_key.value))))
