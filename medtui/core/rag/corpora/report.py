"""What reading one source gave: input rows → documents, what was left out and why, and where
document ids came from. A build shows it and keeps it in the manifest, so no passage is lost
without a word (a repeated id would otherwise merge two documents into one)."""

from dataclasses import dataclass, field

from medtui.core.datasource import DataReport


@dataclass
class SourceReport(DataReport):
    """`read` counts input rows (files for a folder), `dropped` the rows left out by reason
    (no_text, empty, duplicate), `documents` what went on to be chunked."""

    documents: int = 0
    id_column: str | None = None  # None: ids are row numbers, file paths or content hashes
    repeating: list[str] = field(default_factory=list)  # guessed id columns passed over: their values repeat
    reidentified: int = 0  # documents whose id an earlier one had, given a content-derived id instead

    def to_dict(self) -> dict:
        """The counts kept beside the source in the manifest."""
        return {
            "rows": self.read,
            "documents": self.documents,
            "skipped": dict(self.dropped),
            "first_skipped": dict(self.examples),
            "id_column": self.id_column,
            "repeating_columns": list(self.repeating),
            "reidentified": self.reidentified,
        }
