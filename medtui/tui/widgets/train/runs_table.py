"""Every training run with its status and latest numbers; Enter (or highlighting) watches one."""

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.widgets import DataTable

from trainers.api import RunView


class RunsTable(DataTable):
    HELP = "Highlight a run to watch its progress and loss curve."

    @dataclass
    class Chosen(Message):
        run_dir: Path

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("run", "method", "model", "status", "step", "loss")

    def show(self, views: list[RunView], selected: Path | None) -> None:
        """Redraw keeping the cursor on `selected`."""
        self.clear()
        for view in views:
            run, p = view.run, view.progress
            step = f"{p.step}/{p.max_steps}" if p.max_steps else ""
            loss = f"{p.train[-1][1]:.3f}" if p.train else ""
            self.add_row(run.name, run.config.method, run.config.model, str(run.status), step, loss, key=str(run.dir))
        for row, view in enumerate(views):
            if view.run.dir == selected:
                self.move_cursor(row=row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(Path(str(event.row_key.value))))
