"""The statistics medtui writes out itself, checked against scipy (a test-only dependency)."""

import math

import pytest
from scipy import stats

from evals.stats import Z95, mcnemar_exact, mean_interval, wilson


@pytest.mark.parametrize(
    "only_a,only_b",
    [(0, 0), (0, 1), (1, 0), (3, 3), (9, 6), (2, 12), (25, 10), (0, 30), (150, 120), (700, 760)],
)
def test_exact_mcnemar_is_scipy_binomial_test_on_the_discordant_pairs(only_a, only_b):
    n = only_a + only_b
    expected = 1.0 if n == 0 else stats.binomtest(only_a, n, 0.5).pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert mcnemar_exact(only_a, only_b) == mcnemar_exact(only_b, only_a)


def test_mcnemar_on_a_hand_made_table():
    # two methods on 40 questions: both right 20, only the first 3, only the second 11, both wrong 6
    table = [[20, 3], [11, 6]]
    p = mcnemar_exact(table[0][1], table[1][0])
    assert p == pytest.approx(stats.binomtest(3, 14, 0.5).pvalue, rel=1e-12)
    assert round(p, 4) == 0.0574  # 2 * P(X <= 3), X ~ Bin(14, 1/2) = 2 * 470 / 16384


def test_wilson_matches_scipy():
    for correct, n in [(5, 10), (0, 10), (10, 10), (45, 135), (1, 3)]:
        ci = stats.binomtest(correct, n).proportion_ci(0.95, method="wilson")
        assert wilson(correct, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_mean_interval_is_the_mean_with_agresti_coull_variances():
    counts = [(45, 135), (60, 100)]
    mean, low, high = mean_interval(counts)
    assert mean == pytest.approx((45 / 135 + 60 / 100) / 2)
    z2 = Z95 * Z95
    var = sum((c + z2 / 2) / (n + z2) * (1 - (c + z2 / 2) / (n + z2)) / (n + z2) for c, n in counts)
    assert high - mean == pytest.approx(stats.norm.ppf(0.975) * math.sqrt(var) / 2, rel=1e-9)
    assert mean - low == pytest.approx(high - mean)
