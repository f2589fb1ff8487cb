"""The manifest that says whether an index is complete, and so whether it may be served.

It is written before the first snippet goes in (state "building") and flipped to
"complete" only after the last one; an index whose manifest says anything else is refused.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medtui.errors import MedtuiError

FORMAT = 1
BUILDING, COMPLETE = "building", "complete"


@dataclass
class Manifest:
    name: str
    embedder: str
    state: str = BUILDING
    count: int = 0
    sources: list[str] = field(default_factory=list)
    format: int = FORMAT
    updated: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise MedtuiError(f"{path}: corrupt index manifest ({e}): rebuild the index") from None
        return manifest

    def write(self, path: Path) -> None:
        self.updated = time.time()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash leaves the old manifest or the new one
