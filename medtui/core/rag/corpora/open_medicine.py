"""Clinical guideline summaries and differential diagnoses from the open-medicine package (MIT).

The package is installed with --no-deps and only its data files are read, never imported:

- `guidelines/registry.json` lists the guidelines (id, title, doi, year, organization, sections);
- `guidelines/content/<guideline id>/<section>.md` holds one Markdown summary per section, opening
  with `# <Section title> — <ORG YEAR>`: one document each, chunked at its headings;
- `mcp/differentials/data/*.json` holds differential diagnoses for a presenting complaint: one
  document each, a section per diagnosis.

The files are written for the package's own MCP server: the lines and names that point at its
calculator tools (`calculate_ascvd`, "available via MCP") are left out, any medical text on
those lines kept. A file that cannot be read is skipped and counted in the report as
`malformed`; a guideline the registry does not list is still read (title from its first
heading, no reference).
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.report import SourceReport

SOURCE = "open-medicine"
_H1 = re.compile(r"^#\s+(.*\S)\s*$")
_H1_SUFFIX = re.compile(r"^(.*?)\s+(?:—|–|--)\s+(.+)$")  # "Section title — ADA 2024"
_CALCULATOR_NOTE = re.compile(r"^>\s*\*\*OpenMedicine Calculators?:\*\*\s*")
# "`calculate_x` — available via MCP for GRACE 2.0 scoring." and "`calculate_x` and `calculate_y` -- available via MCP."
_CALCULATOR_CLAUSE = re.compile(
    r"`calculate_\w+`(?:\s*(?:,|and|or|,\s*and)\s*`calculate_\w+`)*"  # one or more tool names
    r"\s*(?:—|–|--|-)?\s*available via MCP\b(?:[^.]|\.(?=\S))*(?:\.|$)"  # up to the sentence's end
)
_CALCULATOR_NAME = re.compile(r"`?\bcalculate_\w+\b`?")
_NOISE = re.compile(r"^\s*(?:```.*|-{3,}|\*{3,}|_{3,}|\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?)\s*$")
LIKELIHOOD = {
    "common": "common",
    "less_common": "less common",
    "must_not_miss": "must not miss (dangerous if overlooked)",
}


def _malformed(report: SourceReport, path: Path) -> None:
    report.read += 1
    report.drop("malformed", str(path))


def _registry(root: Path, report: SourceReport) -> dict[str, dict]:
    """Guidelines by id; an unreadable registry counts as malformed and the sections are read without it."""
    path = root / "registry.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise TypeError("not a list")
        return {str(g["id"]): g for g in entries if isinstance(g, dict) and "id" in g}
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        _malformed(report, path)
        return {}


def guideline_reference(guideline: dict) -> str:
    """A guideline cited as `<full title> (<year>). doi:<doi>`, the year left out when the title says it."""
    title, year, doi = (str(guideline.get(k) or "").strip() for k in ("title", "year", "doi"))
    if year and year not in title:
        title = f"{title} ({year})".strip()
    return ". ".join(p for p in (title.rstrip("."), f"doi:{doi}" if doi else "") if p)


def clean_markdown(text: str) -> str:
    """The section body without MCP calculator plumbing, code fences, rules and table separator rows
    (a table's own rows stay). A calculator note keeps any medical sentence that follows it."""
    lines = []
    for line in text.splitlines():
        if _CALCULATOR_NOTE.match(line):
            rest = _CALCULATOR_NAME.sub("", _CALCULATOR_CLAUSE.sub("", _CALCULATOR_NOTE.sub("", line))).strip()
            if rest.strip(" .,;:-—"):
                lines.append(rest)
            continue
        if _NOISE.match(line):
            continue
        lines.append(_CALCULATOR_NAME.sub("", line) if "calculate_" in line else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _section_document(path: Path, guideline_id: str, guideline: dict | None) -> Document:
    text = path.read_text(encoding="utf-8")
    first, _, body = text.lstrip().partition("\n")
    heading = _H1.match(first)
    if heading:
        section, suffix = heading.group(1), ""
        if split := _H1_SUFFIX.match(section):
            section, suffix = split.group(1), split.group(2)
    else:  # no title line: the file name names the section
        section, suffix, body = path.stem.replace("_", " ").capitalize(), "", text
    if guideline:
        suffix = " ".join(str(guideline.get(k) or "") for k in ("organization", "year")).strip() or suffix
    return Document(
        id=f"{SOURCE}:{guideline_id}/{path.stem}",
        title=f"{suffix} · {section}" if suffix else section,
        source=SOURCE,
        text=clean_markdown(body),
        reference=guideline_reference(guideline) if guideline else "",
    )


def iter_guidelines(root: Path, report: SourceReport | None = None) -> Iterator[Document]:
    """One document per section file under `root/content`, in folder and file name order."""
    report = report if report is not None else SourceReport()
    content = root / "content"
    if not content.is_dir():
        raise MedtuiError(f"{content}: no guideline folder: reinstall open-medicine (scripts/setup does)")
    registry = _registry(root, report)
    for folder in sorted(p for p in content.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.md")):
            try:
                doc = _section_document(path, folder.name, registry.get(folder.name))
            except (OSError, UnicodeDecodeError):
                _malformed(report, path)
                continue
            report.read += 1
            if doc.text:
                yield doc
            else:
                report.drop("empty", str(path))


def _words(value: object) -> str:
    """`risk_increases_over_45_male_55_female` -> `risk increases over 45 male 55 female`."""
    return str(value).replace("_", " ").strip()


def _items(values: object) -> list[str]:
    """A list field as clean strings, calculator tool names left out."""
    if not isinstance(values, list):
        return []
    return [s for v in values if v is not None and (s := _CALCULATOR_NAME.sub("", str(v)).strip())]


def _sentence(label: str, values: list[str]) -> str:
    return f"{label}: {'; '.join(values)}." if values else ""


def render_diagnosis(diagnosis: dict) -> str:
    """One diagnosis as a `##` section: likelihood in words, features, red flags, tests, age and sex."""
    likelihood = diagnosis.get("likelihood")
    lines = [
        f"## {str(diagnosis['name']).strip()}",
        f"Likelihood: {LIKELIHOOD.get(str(likelihood), _words(likelihood))}." if likelihood else "",
        _sentence("Key features", _items(diagnosis.get("key_features"))),
        _sentence("Red flags", _items(diagnosis.get("red_flags"))),
        _sentence("Recommended tests", _items(diagnosis.get("recommended_tests"))),
        f"Age: {_words(diagnosis['age_modifier'])}." if diagnosis.get("age_modifier") else "",
        f"Sex: {_words(diagnosis['sex_modifier'])}." if diagnosis.get("sex_modifier") else "",
    ]
    return "\n\n".join(line for line in lines if line)


def render_differential(data: dict) -> str:
    """A differential as Markdown: what it covers, a section per diagnosis, then what else to consider."""
    parts = [str(data.get("description") or "").strip()]
    if keywords := _items(data.get("keywords")):
        parts.append(f"Presentations covered: {', '.join(keywords)}.")
    parts += [render_diagnosis(d) for d in data["diagnoses"]]
    others = [
        f"{str(o['name']).strip()}: {str(o.get('rationale') or '').strip()}".rstrip(": ")
        for o in data.get("also_consider") or []
        if isinstance(o, dict) and o.get("name")
    ]
    if others:
        parts.append("## Also consider\n\n" + "\n\n".join(others))
    if prompt := str(data.get("clinical_reasoning_prompt") or "").strip():
        parts.append(f"## Clinical reasoning\n\n{prompt}")
    return "\n\n".join(p for p in parts if p)


def _differential_document(path: Path) -> Document:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("diagnoses"), list):
        raise ValueError("no diagnoses list")
    if not all(isinstance(d, dict) and d.get("name") for d in data["diagnoses"]):
        raise ValueError("a diagnosis without a name")
    doi = str(data.get("source_doi") or "").strip()
    description = str(data.get("source_description") or "").strip().rstrip(".")
    reference = ". ".join(p for p in (description, f"doi:{doi}" if doi else "") if p)
    return Document(
        id=f"{SOURCE}:differentials/{data.get('differential_id') or path.stem}",
        title=str(data.get("title") or path.stem.replace("_", " ").capitalize()).strip(),
        source=SOURCE,
        text=render_differential(data),
        reference=reference,
    )


def iter_differentials(folder: Path, report: SourceReport | None = None) -> Iterator[Document]:
    """One document per differential-diagnosis JSON file in `folder`, in file name order."""
    report = report if report is not None else SourceReport()
    if not folder.is_dir():
        raise MedtuiError(f"{folder}: no differential diagnosis folder: reinstall open-medicine (scripts/setup does)")
    for path in sorted(folder.glob("*.json")):
        try:
            doc = _differential_document(path)
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError):
            _malformed(report, path)
            continue
        report.read += 1
        yield doc
