"""Which columns of a table hold the text, title and id: given by the user, or guessed."""

from dataclasses import dataclass

from medtui.core.errors import MedtuiError

TEXT_FIELDS = ("content", "text", "contents", "passage", "abstract", "body", "answer")
TITLE_FIELDS = ("title", "name", "focus", "question")
ID_FIELDS = ("id", "uid", "_id", "doc_id", "pmid")


@dataclass(frozen=True)
class Fields:
    text: str
    title: str | None
    id: str | None


def _pick(columns: list[str], given: str | None, guesses: tuple[str, ...], what: str, origin: str) -> str | None:
    if given:
        if given not in columns:
            raise MedtuiError(f"{origin}: no {what} column {given!r}; columns are {', '.join(columns)}")
        return given
    return next((c for c in guesses if c in columns), None)


def pick_fields(columns: list[str], text: str | None, title: str | None, id_: str | None, origin: str) -> Fields:
    text_col = _pick(columns, text, TEXT_FIELDS, "text", origin)
    if text_col is None:
        raise MedtuiError(f"{origin}: no text column found among {', '.join(columns)}: pass --text-field")
    return Fields(
        text_col, _pick(columns, title, TITLE_FIELDS, "title", origin), _pick(columns, id_, ID_FIELDS, "id", origin)
    )
