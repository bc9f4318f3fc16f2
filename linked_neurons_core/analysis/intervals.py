"""95% intervals for accuracies and their differences, counting both the
seeds and the finite test set.

A unit (a table cell) is its runs' per-sample correctness on the one test
split: an array (seeds, samples) of booleans. Its accuracy is the mean over
both. `bootstrap` resamples, with `scipy.stats.bootstrap` (percentile
method), the seeds of each unit independently and the test samples once for
all units, so that a difference of two units is paired over the samples
(every unit is measured on the same images) and counts the spread between
seeds. A unit of one seed keeps it (nothing to resample). The resampling
seed is fixed: the same runs give the same interval.

The paper's published values are one run each on CIFAR-10's 10,000 test
images, with no per-sample record: `binomial` gives the normal-approximation
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
RESAMPLES = 4999
SEED = 0


def bootstrap(units, combine=lambda *accuracies: accuracies[0], resamples=RESAMPLES):
    """(estimate, low, high) of `combine(accuracy of each unit)`; `units`:
    (seeds, samples) arrays on the same test samples."""
    units = [np.asarray(u, dtype=np.float64).reshape(len(u), -1) for u in units]
    n = units[0].shape[1]
    if any(u.shape[1] != n for u in units):
        raise ValueError("units measured on different test sets cannot be paired: "
                         f"{[u.shape[1] for u in units]} samples")
    estimate = float(combine(*[np.array(u.mean()) for u in units]))
    varied = [k for k, u in enumerate(units) if len(u) >= 2]

    def statistic(*indices, axis=-1):
        *seeds, samples = indices
        batch = samples.shape[:-1]
        picked = iter(seeds)
        accuracies = []
        for k, u in enumerate(units):
            rows = u[next(picked)] if k in varied else np.broadcast_to(u, (*batch, *u.shape))
            taken = np.take_along_axis(rows, samples[..., None, :], axis=-1)
            accuracies.append(taken.mean(axis=(-2, -1)))
        return combine(*accuracies)

    data = [np.arange(len(units[k])) for k in varied] + [np.arange(n)]
    result = stats.bootstrap(data, statistic, n_resamples=resamples, vectorized=True,
                             paired=False, confidence_level=LEVEL, method="percentile",
                             batch=250, random_state=np.random.default_rng(SEED))
    low, high = result.confidence_interval
    return estimate, float(low), float(high)


def accuracy(unit):
    """(accuracy, low, high) of one unit."""
    return bootstrap([unit])


def difference(a, b):
    """(accuracy of a - accuracy of b, low, high), paired over the samples."""
    return bootstrap([a, b], lambda x, y: x - y)


def binomial(p, n, q=None):
    """One accuracy p of n samples (Wilson), or the difference p - q of two
    independent ones (normal approximation): (estimate, low, high)."""
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    if q is None:
        ci = stats.binomtest(round(p * n), n).proportion_ci(LEVEL, method="wilson")
        return p, float(ci.low), float(ci.high)
    half = z * np.sqrt(p * (1 - p) / n + q * (1 - q) / n)
    return p - q, float(p - q - half), float(p - q + half)


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
    estimate = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return estimate, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + LEVEL / 2, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
    return estimate, float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))


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
