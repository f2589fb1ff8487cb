"""`medtui index add|list|info|verify|remove|rebuild`: named retrieval indexes."""

import sys
from typing import Annotated, TextIO

import typer

from medtui.cli.options import settings_from
from medtui.cli.progress import progress_bar
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_timestamp
from medtui.core.rag.chunker import ChunkSpec
from medtui.core.rag.embedder import DEFAULT_EMBEDDER
from medtui.core.rag.gate import index_gate
from medtui.core.rag.index import SnippetIndex, list_indexes, source_entry
from medtui.core.rag.manifest import FORMAT, KEYWORD, Manifest
from medtui.core.rag.sources import describe_source, resolve_source
from medtui.core.text import printable

app = typer.Typer(no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The index name (the chat's --index).")]


def say(*parts: object, file: TextIO | None = None) -> None:
    """print, with what comes from data (titles, paths, source ids) made safe for a terminal."""
    print(*(printable(str(part)) for part in parts), file=file)


def _resumable(run, name: str):
    """Run a build; Ctrl-C leaves a resumable index and says how to continue."""
    try:
        return run()
    except KeyboardInterrupt:
        index = SnippetIndex(name)
        served = index.exists() and index.manifest().state == KEYWORD
        kept = "served with keyword search until it is finished" if served else "kept partial and not served"
        say(f"medtui: stopped; the index is {kept}. Resume: medtui index rebuild {name}", file=sys.stderr)
        raise typer.Exit(130) from None


def _summary(manifest: Manifest, entries: list[dict]) -> str:
    """The index, then what each source gave: input rows → documents → snippets, and anything left out."""
    lines = [f"{manifest.name}: {manifest.bm25_count} snippets, {manifest.state}, embedder {manifest.embedder}"]
    lines += [f"  {_label(entry)}: {describe_source(entry)}" for entry in entries]
    return "\n".join(lines)


def _label(entry: dict) -> str:
    return f"{entry.get('kind')}:{entry.get('location')}"


@app.command("add")
def add(
    name: Name,
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Hub dataset ids (MedRAG/textbooks), JSONL/JSON/CSV/parquet files (.gz too), "
            "folders of .txt/.md/.pdf, saved datasets, or 'default'."
        ),
    ],
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    subset: Annotated[
        str | None, typer.Option(help="A Hub dataset's configuration (qiaojin/PubMedQA: pqa_artificial).")
    ] = None,
    text_field: Annotated[str | None, typer.Option(help="Column with the text (guessed: content, text, ...).")] = None,
    title_field: Annotated[str | None, typer.Option(help="Column with the title.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Column with a stable id.")] = None,
    whole: Annotated[
        bool | None,
        typer.Option(
            "--whole/--chunk",
            help="Keep rows as they are, or chunk them (default: MedRAG rows whole, the rest chunked).",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N documents of each source.")] = None,
    chunk_tokens: Annotated[
        int | None, typer.Option(min=16, help="Chunk size in embedder tokens (new index; default 200).")
    ] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(min=0, help="Tokens shared by consecutive chunks (default 32).")
    ] = None,
    embedder: Annotated[
        str, typer.Option(help="Sentence-transformers model for passages (new index).")
    ] = DEFAULT_EMBEDDER,
    query_embedder: Annotated[
        str, typer.Option(help="A separate query encoder (MedCPT-style pairs); default: the embedder.")
    ] = "",
    offline: Annotated[bool | None, typer.Option("--offline/--online", help="Forbid (or allow) Hub downloads.")] = None,
) -> None:
    """Add sources to an index (created if new). Rerun the same command to resume after Ctrl-C or a crash."""
    settings_from(offline=offline)
    specs = [
        resolve_source(
            s,
            split=split,
            subset=subset,
            text_field=text_field,
            title_field=title_field,
            id_field=id_field,
            whole=whole,
            limit=limit,
        )
        for s in sources
    ]
    chunking = None
    if chunk_tokens is not None or chunk_overlap is not None:
        try:
            chunking = ChunkSpec(
                chunk_tokens or ChunkSpec.tokens, ChunkSpec.overlap if chunk_overlap is None else chunk_overlap
            )
        except ValueError as e:
            raise MedtuiError(str(e)) from None
    index = SnippetIndex(name)
    with progress_bar(f"indexing {name}") as update:
        manifest = _resumable(
            lambda: index.add(specs, chunking, update, embedder=embedder, query_embedder=query_embedder), name
        )
    say(_summary(manifest, [entry for spec in specs if (entry := source_entry(manifest, spec)) is not None]))


@app.command("rebuild")
def rebuild(name: Name) -> None:
    """Resume a partial index, or rebuild a complete, corrupt or old-format one from its recorded sources."""
    settings_from()
    index = SnippetIndex(name)
    with progress_bar(f"rebuilding {name}") as update:
        manifest = _resumable(lambda: index.rebuild(update), name)
    say(_summary(manifest, manifest.sources))


@app.command("verify")
def verify(name: Name) -> None:
    """Read every vector back and compare the store, BM25 and manifest (slower than the check on open)."""
    settings_from()
    index = SnippetIndex(name)
    problems = index.verify()
    if problems:
        raise MedtuiError(
            f"index {name!r} failed verification: {'; '.join(problems)}: run `medtui index rebuild {name}`"
        )
    say(f"{name}: ok: {index.manifest().count} snippets, each with a readable vector and a BM25 entry")


@app.command("list")
def list_() -> None:
    """Every index, with its state and size; * marks the one the chat uses."""
    active = settings_from().index
    for name in list_indexes():
        try:
            manifest = SnippetIndex(name).manifest()
            line = f"{manifest.bm25_count} snippets\t{manifest.state}\t{len(manifest.sources)} source(s)"
        except MedtuiError as e:
            line = f"unreadable: {e}"
        say(f"{'*' if name == active else ' '} {name}\t{line}")


@app.command("info")
def info(name: Name) -> None:
    """An index's manifest: embedder, chunking, sources and whether it can be served."""
    index = SnippetIndex(name)
    index.manifest()  # a clear error if there is no such index
    try:
        index.open()  # migrates an older format first
        health = "ok"
    except MedtuiError as e:
        health = str(e)
    if index.migrated:
        say(f"medtui: {index.migrated}", file=sys.stderr)
    manifest = index.manifest()
    say(f"name      {manifest.name}\npath      {index.root}")
    say(f"state     {manifest.state} (format {manifest.format}, updated {format_timestamp(manifest.updated)})")
    if manifest.format == FORMAT:  # an older or newer format says what to do under health
        say(f"phase     {manifest.phase()}")
    say(
        f"snippets  {manifest.bm25_count} (vectors {manifest.count}, BM25 {manifest.bm25_count})\n"
        f"embedder  {manifest.embedder}" + (f" (queries: {manifest.query_embedder})" if manifest.query_embedder else "")
    )
    say(f"chunks    {manifest.chunk_tokens} tokens, {manifest.chunk_overlap} overlap\nhealth    {health}")
    try:
        gate = index_gate(manifest.gate, manifest.embedder, str(index.manifest_path))
        say("gate      " + "\n          ".join(gate.describe()))
    except MedtuiError as e:
        say(f"gate      {e}")
    for entry in manifest.sources:
        say(f"source    {_label(entry)}  {entry.get('state')}  {entry.get('snippets', '?')} snippets")
        say(f"          {describe_source(entry)}")


@app.command("remove")
def remove(name: Name) -> None:
    """Delete an index and its files (its sources are untouched)."""
    index = SnippetIndex(name)
    index.manifest()  # a clear error if there is no such index
    index.remove()
    say(f"removed index {name}")
