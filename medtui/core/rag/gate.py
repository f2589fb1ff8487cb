"""The relevance gate: which retrieved passages may go into the prompt (docs/grounding.md §3).

A rule is a weighted sum of a passage's retrieval scores against a threshold. Rules are made
from labelled data by `bench/grounding.py --write` into `gate_calibration.json`, per embedder
(dense similarity depends on it) plus one embedder-independent BM25 rule; an index copies its
embedder's rules into its manifest when it is built. An embedder with no calibration gets the
fallback: the BM25 rule in every mode.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.records import Word

CALIBRATION = Path(__file__).with_name("gate_calibration.json")
FEATURES = ("dense", "bm25n", "rerank")


class SearchMode(Word):
    """Which retrievers ranked the candidates: each has its own gate rule."""

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"  # also while the dense phase of an index is still building

    @classmethod
    def noun(cls) -> str:
        return "search mode"


@dataclass(frozen=True)
class Rule:
    weights: dict[str, float]
    threshold: float

    def score(self, scores: dict[str, float]) -> float:
        """The rule's evidence for a passage; a feature the passage lacks counts as 0 (fail closed)."""
        return sum(w * scores.get(feature, 0.0) for feature, w in self.weights.items())

    def passes(self, scores: dict[str, float]) -> bool:
        return self.score(scores) >= self.threshold

    def describe(self) -> str:
        terms = " + ".join(f"{w:g}·{f}" if w != 1 else f for f, w in self.weights.items())
        return f"{terms} ≥ {self.threshold:.3f}"

    def to_dict(self) -> dict:
        return {"weights": dict(self.weights), "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: dict, where: str, features: tuple[str, ...] = FEATURES) -> "Rule":
        try:
            weights = {str(f): float(w) for f, w in data["weights"].items()}
            rule = cls(weights, float(data["threshold"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MedtuiError(f"{where}: a gate rule needs weights and a threshold: rebuild the index") from None
        if not weights or set(weights) - set(features):
            raise MedtuiError(f"{where}: rule features must be among {', '.join(features)}: rebuild the index")
        return rule


@dataclass(frozen=True)
class Gate:
    rules: dict[SearchMode, Rule]
    calibrated_for: str  # the embedder whose similarities set the dense rules; "" for the fallback
    note: str  # where the numbers come from, shown by `index info`

    def rule(self, mode: SearchMode) -> Rule:
        return self.rules[mode]

    def describe(self) -> list[str]:
        lines = [f"{mode.value}: {self.rules[mode].describe()}" for mode in SearchMode]
        return [*lines, self.note]

    def to_dict(self) -> dict:
        return {
            "rules": {mode.value: rule.to_dict() for mode, rule in self.rules.items()},
            "calibrated_for": self.calibrated_for,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "Gate":
        try:
            rules = {SearchMode.parse(m): Rule.from_dict(r, where) for m, r in data["rules"].items()}
            gate = cls(rules, str(data.get("calibrated_for", "")), str(data.get("note", "")))
        except (KeyError, TypeError, AttributeError):
            raise MedtuiError(f"{where}: unreadable gate rules: rebuild the index") from None
        if set(rules) != set(SearchMode):
            raise MedtuiError(f"{where}: the gate needs a rule for each of hybrid, dense and bm25: rebuild the index")
        return gate


def _calibration() -> dict:
    try:
        return json.loads(CALIBRATION.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MedtuiError(f"{CALIBRATION}: unreadable gate calibration ({e}): reinstall medtui") from None


def calibrated_gate(embedder: str) -> Gate:
    """The gate for a new index of `embedder`: its calibrated rules, else the BM25 fallback."""
    data = _calibration()
    where = str(CALIBRATION)
    bm25 = Rule.from_dict(data["bm25"], where)
    own = data.get("embedders", {}).get(embedder)
    if own is None:
        note = (
            f"uncalibrated for {embedder}: every mode uses the BM25 rule (lexical scores do not depend on the "
            "embedder); see docs/grounding.md"
        )
        return Gate({mode: bm25 for mode in SearchMode}, "", note)
    rules = {
        SearchMode.HYBRID: Rule.from_dict(own["hybrid"], where),
        SearchMode.DENSE: Rule.from_dict(own["dense"], where),
    }
    return Gate({**rules, SearchMode.BM25: bm25}, embedder, str(data.get("source", "")))


def index_gate(recorded: dict, embedder: str, where: str) -> Gate:
    """An index's gate: the rules its manifest records, or (built before the gate) its embedder's."""
    return Gate.from_dict(recorded, where) if recorded else calibrated_gate(embedder)
