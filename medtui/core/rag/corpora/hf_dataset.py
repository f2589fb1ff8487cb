"""Hugging Face datasets: Hub ids (streamed, e.g. MedRAG/textbooks) or folders saved with
`Dataset.save_to_disk`. MedRAG rows are already snippets (id, title, content, contents)
and stay whole; other datasets are chunked unless told otherwise."""

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.fields import pick_fields

SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in SAVED_MARKERS)


def open_dataset(location: str, split: str, subset: str | None = None):
    """(rows, count or None) of a saved dataset folder or a Hub id (streamed); also what
    training reads SFT rows and corpora with."""
    import datasets

    datasets.disable_progress_bars()
    path = Path(location)
    if path.exists():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise MedtuiError(f"{path}: no split {split!r}; it has {', '.join(loaded)}: pass --split")
            loaded = loaded[split]
        return loaded, len(loaded)
    return _open_hub(location, split, subset)


@lru_cache(maxsize=4)
def _open_hub(location: str, split: str, subset: str | None):
    """Resolved once per process: the progress total and the rows come from the same stream
    (iterating it again restarts it), so the Hub is not asked twice."""
    import datasets

    try:
        stream = datasets.load_dataset(location, subset, split=split, streaming=True)
    except Exception as e:  # the Hub client raises many types: offline, not found, gated, no such config
        raise MedtuiError(
            f"cannot load dataset {location!r}{f' ({subset})' if subset else ''} from the Hugging Face Hub "
            f"({type(e).__name__}: {str(e)[:120]}): check the id, the subset and your connection, or save it with "
            "`datasets` and pass the folder"
        ) from None
    total = None
    if stream.info and stream.info.splits and split in stream.info.splits:
        total = stream.info.splits[split].num_examples or None
    return stream, total


def count_hf(location: str, split: str) -> int | None:
    return open_dataset(location, split)[1]


def iter_hf(
    location: str,
    split: str = "train",
    text_field: str | None = None,
    title_field: str | None = None,
    id_field: str | None = None,
    whole: bool | None = None,
) -> Iterator[Document]:
    rows, _ = open_dataset(location, split)
    source = Path(location).name if Path(location).exists() else location
    fields = None
    for n, row in enumerate(rows):
        if fields is None:
            fields = pick_fields(list(row), text_field, title_field, id_field, origin=location)
            if whole is None:  # MedRAG-style rows carry `contents` = title + content: already snippets
                whole = "contents" in row and "content" in row
        text = row.get(fields.text)
        if not isinstance(text, str) or not text.strip():
            continue
        doc_id = str(row[fields.id]) if fields.id else str(n)
        title = str(row[fields.title]) if fields.title and row.get(fields.title) else ""
        yield Document(id=f"{source}:{doc_id}", title=title, source=source, text=text, whole=bool(whole))
