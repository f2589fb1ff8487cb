"""A cheap count of the vectors chromadb's vector segment holds, to compare with the manifest.

chromadb answers `count()` from SQLite, so a store whose HNSW files were deleted or truncated
still counts in full while most vectors are gone (dense search then finds only what its write
log replays). This reads what chromadb itself trusts, without loading a vector: its log says
which records the HNSW files hold (`max_seq_id`) and which are still only in the log; the
HNSW header says how many elements the files hold and how big each one is, so the file sizes
that count implies can be compared with the real ones. It runs before chromadb opens the
store, since on a truncated file chromadb crashes the process instead of raising. The layout
is chroma-core/hnswlib's persistent index (PERSISTENCE_VERSION 1): header.bin,
data_level0.bin, length.bin, link_lists.bin, with chromadb's id map in index_metadata.pickle;
tests/test_index_integrity.py fails if a chromadb upgrade changes it.
"""

import sqlite3
import struct
from pathlib import Path

# version, offsetLevel0, max_elements, cur_element_count, size_data_per_element, label_offset, offsetData,
# maxlevel, enterpoint_node, maxM, maxM0, M, mult, ef_construction
HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
HEADER_VERSION = 1
INT, LABEL = 4, 8  # hnswlib's neighbour ids, list sizes and vector lengths are 4 bytes; labels 8


def _log_state(chroma: Path) -> tuple[str, int, int, int] | None:
    """(vector segment id, dimension, seq id its files hold up to, records only in the log), or
    None when the store has no collection yet."""
    db = sqlite3.connect(f"{(chroma / 'chroma.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT s.id, c.id, c.dimension FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE s.scope = 'VECTOR' AND c.name = 'snippets'"
        ).fetchone()
        if row is None:
            return None
        segment, collection, dimension = row
        persisted = db.execute("SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (segment,)).fetchone()
        persisted = persisted[0] if persisted else 0
        pending = db.execute(
            "SELECT COUNT(*) FROM embeddings_queue WHERE seq_id > ? AND topic LIKE ?", (persisted, f"%/{collection}")
        ).fetchone()[0]
        return segment, dimension or 0, persisted, pending
    finally:
        db.close()


class DamagedVectors(Exception):
    """The vector files cannot hold what chromadb's log says they hold. Raised before chromadb
    touches them: on such files it may crash the process rather than raise."""


def held_vectors(chroma: Path) -> int:
    """How many vectors the vector segment of the store in `chroma` holds (in its files and still
    in its log), read without loading one. Raises DamagedVectors when its files are missing or too
    small for that, sqlite3.Error or OSError when the store cannot be read at all."""
    state = _log_state(chroma) if (chroma / "chroma.sqlite3").exists() else None
    if state is None:  # no store, or no collection in it yet
        return 0
    segment, dimension, persisted, pending = state
    folder = chroma / segment
    header = folder / "header.bin"
    if not header.exists():
        if persisted:  # the log says these records were written to files that are gone
            raise DamagedVectors(f"its HNSW folder {segment} is missing")
        return pending
    raw = header.read_bytes()
    if len(raw) < HEADER.size:
        raise DamagedVectors(f"its HNSW header is {len(raw)} bytes, not {HEADER.size}")
    version, _, _, held, element_bytes, *_, max_m0, _, _, _ = HEADER.unpack_from(raw)
    if version != HEADER_VERSION:
        raise DamagedVectors(f"its HNSW header has version {version}, not {HEADER_VERSION}")
    if dimension and element_bytes != (max_m0 + 1) * INT + dimension * 4 + LABEL:
        raise DamagedVectors(f"its HNSW header gives {element_bytes}-byte elements, not {dimension}-dimension ones")
    needed = {"data_level0.bin": held * element_bytes, "length.bin": held * INT, "link_lists.bin": held * INT}
    for name, size in needed.items():
        actual = (folder / name).stat().st_size if (folder / name).exists() else -1
        if actual < size:
            raise DamagedVectors(
                f"{name} is {'missing' if actual < 0 else f'{actual} bytes'}, {held} vectors need at least {size}"
            )
    if held and not (folder / "index_metadata.pickle").exists():
        raise DamagedVectors("its id map index_metadata.pickle is missing")
    return held + pending
