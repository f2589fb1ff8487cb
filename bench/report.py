"""What the benches share to set up and print: a scratch folder for indexes, markdown tables."""

import atexit
import math
import os
import shutil
import tempfile
from pathlib import Path


def index_folder(keep: Path | None, prefix: str) -> Path:
    """MEDTUI_INDEXES_DIR for this run: under `keep` (reused by the next run) or a temporary
    folder removed at exit. Set before medtui reads its paths."""
    work = keep or Path(tempfile.mkdtemp(prefix=prefix))
    if not keep:
        atexit.register(shutil.rmtree, work, True)  # the indexes go with the run
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MEDTUI_INDEXES_DIR"] = str(work / "indexes")
    return work


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats to three places, NaN as a dash."""

    def cell(v) -> str:
        if isinstance(v, float):
            return "–" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
