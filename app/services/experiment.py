"""The statistics of an A/B comparison of conversion rates: intervals, a p-value and a verdict.

Pure functions over counts (successes out of trials); rates are floats in [0, 1], unrounded.

- ``wilson``: the Wilson score interval for one proportion (Wilson 1927; method 3 of Newcombe
  1998a). Unlike the Wald interval (p +/- z * sqrt(p(1 - p) / n)) it never leaves [0, 1], is not
  zero-width at 0/n or n/n, and its coverage stays near the nominal level at small n.
- ``difference``: Newcombe's hybrid score interval for p_a - p_b of two independent samples,
  built from the two Wilson intervals ("method 10" of Newcombe 1998b), which that paper
  recommends: coverage close to nominal at small n, never outside [-1, 1].
- ``p_value``: the two-sided pooled two-proportion z-test of p_a == p_b (a score test; Agresti
  2013). Score-based like the two intervals, it agrees with them far better than Wald does at
  small n, so "p < alpha" and "the interval excludes 0" rarely part ways; ``compare`` asks both.

Sources:
  E. B. Wilson (1927), "Probable inference, the law of succession, and statistical inference",
  J. Am. Stat. Assoc. 22:209-212.
  R. G. Newcombe (1998a), "Two-sided confidence intervals for the single proportion: comparison
  of seven methods", Statistics in Medicine 17:857-872.
  R. G. Newcombe (1998b), "Interval estimation for the difference between independent
  proportions: comparison of eleven methods", Statistics in Medicine 17:873-890.
  A. Agresti (2013), Categorical Data Analysis, 3rd ed., Wiley.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """A closed interval [low, high]."""

    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Comparison:
    """One variant against the control: the rates, their difference and what it means."""

    group: str | None  # the variant compared
    control: str | None
    rate: float | None  # p_a
    control_rate: float | None  # p_b
    difference: float | None  # p_a - p_b
    interval: Interval | None  # of the difference
    p_value: float | None
    verdict: str  # "better", "worse", "no_difference", "too_early"
    summary: str


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval | None:
    """The Wilson score interval for successes/trials; None when there are no trials."""
    _check_counts(successes, trials)
    z = _z(confidence)
    if trials == 0:
        return None
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # At 0/n and n/n one end is exactly the observed rate; floating point would miss it by an ulp.
    low = 0.0 if successes == 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes == trials else max(p, min(1.0, centre + half))
    return Interval(low, high)


def difference(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    confidence: float = 0.95,
) -> Interval | None:
    """Newcombe's hybrid score interval (method 10) for p_a - p_b; None without trials in one."""
    a = wilson(successes_a, trials_a, confidence)
    b = wilson(successes_b, trials_b, confidence)
    if a is None or b is None:
        return None
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    d = p_a - p_b
    low = d - math.hypot(p_a - a.low, b.high - p_b)
    high = d + math.hypot(a.high - p_a, p_b - b.low)
    # The bounds lie in [-1, 1] exactly; clamping only absorbs rounding.
    return Interval(max(-1.0, low), min(1.0, high))


def p_value(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float | None:
    """Two-sided pooled z-test of p_a == p_b; None when either has no trials.

    1.0 when the pooled rate is 0 or 1: both samples all failures (or all successes) show no
    difference, and the statistic's variance is zero.
    """
    _check_counts(successes_a, trials_a)
    _check_counts(successes_b, trials_b)
    if trials_a == 0 or trials_b == 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    # 2 * cdf(-|z|) rather than 2 * (1 - cdf(|z|)): keeps small p-values from cancelling to 0.
    return min(1.0, 2 * _NORMAL.cdf(-abs(z)))


def compare(
    group: str | None,
    successes: int,
    trials: int,
    control: str | None,
    control_successes: int,
    control_trials: int,
    *,
    min_sample: int,
    alpha: float = 0.05,
) -> Comparison:
    """``group`` against ``control``: "too_early" while either has fewer than ``min_sample``
    trials, whatever the p-value; then "better" or "worse" only when p < ``alpha`` and the
    (1 - alpha) interval of the difference excludes 0, else "no_difference".
    """
    if min_sample < 1:
        raise ValueError("min_sample must be at least 1")
    confidence = 1 - alpha
    _z(confidence)  # alpha outside (0, 1) is refused even when it is too early to use it
    rate = successes / trials if trials else None
    control_rate = control_successes / control_trials if control_trials else None
    interval = difference(successes, trials, control_successes, control_trials, confidence)
    p = p_value(successes, trials, control_successes, control_trials)
    diff = None if rate is None or control_rate is None else rate - control_rate
    name, control_name = _name(group), _name(control)

    if trials < min_sample or control_trials < min_sample or interval is None or p is None:
        verdict = "too_early"
        summary = (
            f"Too early to call: {name} has {_sign_ups(trials)} and {control_name} "
            f"{control_trials}; each needs at least {min_sample}."
        )
    elif diff is not None and p < alpha and interval.excludes_zero():
        verdict = "better" if diff > 0 else "worse"
        summary = (
            f"{name} converts {verdict} than {control_name}: {_points(diff)} points "
            f"({_percent(confidence)} CI {_points(interval.low)} to {_points(interval.high)}), "
            f"{_p(p)}."
        )
    else:
        verdict = "no_difference"
        summary = (
            f"No clear difference between {name} and {control_name} ({_p(p)}); the difference "
            f"could be anything from {_points(interval.low)} to {_points(interval.high)} points."
        )
    return Comparison(
        group=group,
        control=control,
        rate=rate,
        control_rate=control_rate,
        difference=diff,
        interval=interval,
        p_value=p,
        verdict=verdict,
        summary=summary,
    )


def _check_counts(successes: int, trials: int) -> None:
    if successes < 0 or successes > trials:
        raise ValueError(f"successes must be between 0 and trials, got {successes}/{trials}")


def _z(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.959963... for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def _name(group: str | None) -> str:
    return "(none)" if group is None else group


def _sign_ups(count: int) -> str:
    return f"{count} sign-up" if count == 1 else f"{count} sign-ups"


def _points(rate: float) -> str:
    """A rate difference in percentage points, one decimal, signed as the unrounded value is:
    a bound just below zero reads "-0.0", so an interval that excludes 0 never seems to touch it.
    """
    return f"{'-' if rate < 0 else '+'}{abs(rate) * 100:.1f}"


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _p(p: float) -> str:
    """Two significant digits, as journals print them: p = 0.31, p = 0.010, p < 0.001."""
    if p < 0.001:
        return "p < 0.001"
    decimals = max(2, 1 - math.floor(math.log10(p)))
    return f"p = {p:.{decimals}f}"
