"""Uncertainty for accuracies: Wilson score intervals (sound at small n and near 0 or 1), the
interval of a mean of task accuracies, and McNemar's exact test for two methods on the same items.

Written out here rather than taken from scipy, which medtui does not depend on; the tests check
them against scipy.
"""

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


def mean_interval(counts: list[tuple[int, int]], z: float = Z95) -> tuple[float, float, float]:
    """(mean, low, high) of the unweighted mean of task accuracies, from (correct, n) per task.

    Each task's variance is Agresti–Coull's (two successes and two failures added, for z = 1.96),
    so tasks at 0% or 100% still carry their uncertainty and the interval never collapses to a point."""
    accs = [c / n for c, n in counts]
    mean = sum(accs) / len(accs)
    variance = 0.0
    for c, n in counts:
        n_adj = n + z * z
        p_adj = (c + z * z / 2) / n_adj
        variance += p_adj * (1 - p_adj) / n_adj
    half = z * math.sqrt(variance) / len(counts)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided p-value of McNemar's exact test: of the items exactly one method got right, `only_a`
    went to the first and `only_b` to the second; under no difference each is a fair coin flip."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**n)
