"""Uncertainty for accuracies: Wilson score intervals (sound at small n and near 0 or 1)."""

import math

Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def format_accuracy(correct: int, n: int) -> str:
    """ "42.0% [33.1%–51.4%]": how every front end shows an accuracy, never without its interval."""
    if not n:
        return "–"
    low, high = wilson(correct, n)
    return f"{correct / n:.1%} [{low:.1%}–{high:.1%}]"
