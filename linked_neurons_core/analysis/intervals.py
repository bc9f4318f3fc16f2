"""95% intervals for accuracies and their differences, counting both the
seeds and the finite test set.

A unit (a table cell) is its runs' per-sample correctness on the one test
split: an array (seeds, samples) of booleans. Its accuracy is the mean over
both. `combined` gives a Student's t interval for an accuracy or a
difference of units, from two parts: the seeds' spread (each unit's k
seeds, k - 1 degrees of freedom) and the test set's (the samples, shared by
all units, so that a difference is paired over them), with
Welch-Satterthwaite's degrees of freedom. It replaced a percentile
bootstrap over seeds and test samples, which cannot reach beyond three
seeds' own range. In `benchmarks/coverage.py`'s simulated builds of three
seeds whose accuracies spread by 0.03-0.04 (a standard deviation), the
bootstrap contained the true difference in 86-87% of them and this interval
in 97%; a single accuracy, 73-83% and 85-91% (three draws of a skewed
spread: no interval of three seeds reaches 95% there). With spreads up to
about 0.012, as most of the quick article's cells, both hold their 95%. On
real runs (`benchmarks/seed_coverage.py`: triples of 20-30 seeds of width,
extended, All-CNN and ResNet50 cells, spreads 0.006-0.022), this interval
contained the other seeds' mean in 96-100% of triples; for depth's LK-ReLU,
whose seeds stay at chance one time in five, in 51%: three learned seeds
(half the triples) cannot show the failures, and no interval from them can.
So a check that a network learns or stays at chance judges each seed's own
interval (`seeds`, `envelope`), not the mean's, and gives the share of
seeds on its side with Clopper-Pearson's interval (`share`).

The paper's published values are one figure each on CIFAR-10's 10,000 test
images, with no per-sample record and no spread (width's, depth's and
extended's are medians over the authors' seeds, whose number the paper does
not give): judged as one run, `binomial` gives the normal-approximation
interval of a difference of two independent binomial proportions of that
size (Wilson's interval for a single accuracy), so that, e.g., 0.9139
against 0.9134 is a difference of 0.0005 +- 0.0078.

A time ratio (`ratio`) pairs two networks' runs by seed and takes
Student's t on the pairs' log ratios.

Judging an interval (`side`, `within`): it lies wholly on one side (holds or
does not hold) or it does not (inconclusive). A bound touched counts for
neither side: a tie never holds.
"""

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95


def combined(units, weights):
    """(estimate, low, high) of the sum of `weights[u]` times unit u's
    accuracy; `units`: (seeds, samples) arrays on the same test samples.

    Two parts of the estimate vary, and the interval counts both:
    - the seeds: a unit's accuracy is the mean of its seeds' accuracies,
      whose variance is the seeds' sample variance over their number, with
      k - 1 degrees of freedom for k seeds (none for one seed: nothing
      measures its spread);
    - the test set: the units are measured on the same samples, so the
      per-sample value sum(weight * mean over the unit's seeds) carries the
      test set's share, with n - 1 degrees of freedom for n samples (paired
      over the samples: what every unit gets right or wrong together cancels
      from a difference).
    The interval is Student's t with the variances' sum and the
    Welch-Satterthwaite degrees of freedom. With three seeds and a seed part
    that dominates, that is t with 2 degrees of freedom, a factor of 4.3 on
    the standard error, where a bootstrap's percentiles cannot reach beyond
    the seeds' own range. The part of a seed's result that is neither its
    network's nor the sample's (the interaction) is counted in both parts:
    the interval errs wide by that much. It is cut to what the sum can be:
    [0, 1] for an accuracy, [-1, 1] for a difference."""
    units = [np.asarray(u, dtype=np.float64).reshape(len(u), -1) for u in units]
    n = units[0].shape[1]
    if any(u.shape[1] != n for u in units):
        raise ValueError("units measured on different test sets cannot be paired: "
                         f"{[u.shape[1] for u in units]} samples")
    per_sample = sum(w * u.mean(axis=0) for w, u in zip(weights, units))
    estimate = float(per_sample.mean())
    parts = [(w**2 * u.mean(axis=1).var(ddof=1) / len(u), len(u) - 1)
             for w, u in zip(weights, units) if len(u) >= 2]
    parts.append((per_sample.var(ddof=1) / n if n >= 2 else 0.0, n - 1))
    variance = sum(v for v, _ in parts)
    if variance <= 0:
        return estimate, estimate, estimate
    dof = variance**2 / sum(v**2 / d for v, d in parts if v > 0)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, dof) * np.sqrt(variance))
    # No more than an accuracy can be (a cell whose seeds split between
    # chance and learning reaches past 0 and 1 otherwise).
    least, most = sum(min(w, 0.0) for w in weights), sum(max(w, 0.0) for w in weights)
    return estimate, max(estimate - half, least), min(estimate + half, most)


def accuracy(unit):
    """(accuracy, low, high) of one unit."""
    return combined([unit], [1.0])


def difference(a, b):
    """(accuracy of a - accuracy of b, low, high), paired over the samples."""
    return combined([a, b], [1.0, -1.0])


def binomial(p, n, q=None):
    """One accuracy p of n samples (Wilson), or the difference p - q of two
    independent ones (normal approximation): (estimate, low, high)."""
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    if q is None:
        ci = stats.binomtest(round(p * n), n).proportion_ci(LEVEL, method="wilson")
        return p, float(ci.low), float(ci.high)
    half = z * np.sqrt(p * (1 - p) / n + q * (1 - q) / n)
    return p - q, float(p - q - half), float(p - q + half)


def seeds(unit):
    """Each seed's own (accuracy, low, high): Wilson's interval from its test
    samples alone; `unit`: (seeds, samples) booleans."""
    return [binomial(float(np.mean(run)), np.size(run)) for run in unit]


def envelope(per_seed):
    """(median accuracy, lowest low, highest high) of seeds' own intervals.

    A threshold check judges each seed, not the seeds' mean: a network whose
    seeds split between chance and learning has two accuracies, not one
    spread around a mean, and a mean's interval from three of its seeds
    covers the mean of the others in about half of the builds
    (`benchmarks/seed_coverage.py`). The envelope lies wholly above a bound
    exactly when every seed's interval does, and wholly below it exactly
    when every seed's does: an intersection-union test, so that each seed
    at 95% keeps the verdict on all of them at 95%, with no correction for
    their number (Berger 1982, Technometrics 24:295). Its verdict is on the
    seeds that ran; `share` says what they say of other seeds."""
    estimates = [s[0] for s in per_seed]
    return (float(np.median(estimates)), min(s[1] for s in per_seed), max(s[2] for s in per_seed))


def share(k, n):
    """(k / n, low, high): Clopper-Pearson's interval of the share of a
    network's seeds that take a side, from k of n. Three of three give
    0.29-1: three seeds that all learned show that a network can learn, not
    that it learns in most seeds."""
    ci = stats.binomtest(k, n).proportion_ci(LEVEL, method="exact")
    return k / n, float(ci.low), float(ci.high)


def ratio(a, b):
    """(estimate, low, high) of a's training time over b's, paired by seed:
    `a` and `b` map a seed to its run's seconds (a dict or a Series indexed
    by seed); the seeds both have are the pairs.

    Each pair is one repeat of the comparison: the pipeline times a seed of
    every timed network in one round, each run in its own process, the
    rounds one after another (workflow/rules/common.smk, `TIMED_ORDER`), so
    that a pair shares its moment of the machine and the pairs differ in
    theirs. The estimate is the geometric mean of the pairs' ratios; the
    interval, Student's t on their logarithms (a time varies by a factor, and
    three seeds are too few for a bootstrap's percentiles, which cannot reach
    beyond the pairs' own range). Fewer than two pairs give no interval:
    (estimate, nan, nan), which no bound judges; none gives None."""
    a, b = (pd.Series(x, dtype=np.float64).dropna() for x in (a, b))
    seeds = a.index.intersection(b.index)
    if not len(seeds):
        return None
    logs = np.log(a[seeds].to_numpy() / b[seeds].to_numpy())
    if len(logs) < 2:
        return float(np.exp(logs.mean())), float("nan"), float("nan")
    return tuple(float(np.exp(x)) for x in mean_t(logs))


def mean_t(values):
    """(mean, low, high): Student's t interval of the mean of `values` (two or
    more), from their own spread alone."""
    values = np.asarray(values, dtype=np.float64)
    half = stats.t.ppf(0.5 + LEVEL / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(values.mean() - half), float(values.mean() + half)


HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def side(interval, bound, above=True):
    """Whether (estimate, low, high) lies wholly above `bound` (above=True) or
    below it: HOLDS, wholly on the other side: FAILS, else INCONCLUSIVE."""
    _, low, high = interval
    if above:
        return HOLDS if low > bound else FAILS if high < bound else INCONCLUSIVE
    return HOLDS if high < bound else FAILS if low > bound else INCONCLUSIVE


def within(interval, low_bound, high_bound):
    """Equivalence: HOLDS when the interval lies inside (low_bound,
    high_bound), FAILS when it lies wholly outside, else INCONCLUSIVE."""
    _, low, high = interval
    if low_bound < low and high < high_bound:
        return HOLDS
    if high < low_bound or low > high_bound:
        return FAILS
    return INCONCLUSIVE
