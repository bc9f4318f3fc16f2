"""How often the claims' 95% accuracy intervals contain the truth.

Simulates networks whose runs differ by seed and test sets drawn from a
population of samples, computes each interval on many simulated builds and
prints the share that contains the network's true accuracy (or two
networks' true difference): a 95% interval should contain it about 95% of
the time. Side by side in one run, for the same simulated builds:

- `t`: the claims' interval (linked_neurons_core/analysis/intervals.py,
  Student's t with a seed part and a test-set part);
- `bootstrap`: the percentile bootstrap over seeds and test samples that
  the claims used before (scipy.stats.bootstrap, paired over the samples).

The model: a sample's difficulty is a logit d ~ N(mu, tau); a seed shifts
its network's logits by s ~ N(0, sigma), so that seed i gets sample j right
with probability expit(d_j + s_i + delta) (delta: the network's own shift).
A network's true accuracy is the expectation over seeds and samples. sigma
0.3 at an accuracy of 0.97 spreads seeds' accuracies by about 0.008, as the
quick article's runs spread (0.002-0.015 for most cells).

    python benchmarks/coverage.py                 # docs/claims.md's first table, about 2 minutes
    python benchmarks/coverage.py --builds 200 --seeds 3 --sigmas 0.3
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import special
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from linked_neurons_core.analysis import intervals  # noqa: E402

MU, TAU = 5.0, 2.5  # about 0.97 accurate: most samples easy, some hard


def truth(sigma, delta, rng, draws=4_000_000):
    d = rng.normal(MU, TAU, draws)
    s = rng.normal(0.0, sigma, draws)
    return float(special.expit(d + s + delta).mean())


def runs(samples, seeds, sigma, delta, rng):
    """(seeds, samples) booleans of one network on the given test samples."""
    s = rng.normal(0.0, sigma, (seeds, 1))
    return rng.random((seeds, len(samples))) < special.expit(samples[None, :] + s + delta)


def bootstrap(units, combine, resamples):
    """The claims' interval before: a percentile bootstrap that resamples each
    unit's seeds and the test samples once for all units."""
    units = [u.astype(np.float64) for u in units]
    n = units[0].shape[1]
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
    result = stats.bootstrap(data, statistic, n_resamples=resamples, vectorized=True, paired=False,
                             confidence_level=intervals.LEVEL, method="percentile", batch=250,
                             random_state=np.random.default_rng(0))
    return result.confidence_interval


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", type=int, default=400, help="simulated builds per row")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.3, 0.6, 1.0, 1.5])
    parser.add_argument("--samples", type=int, default=360, help="test samples (the quick scale's)")
    parser.add_argument("--resamples", type=int, default=999, help="the bootstrap's")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"{args.builds} simulated builds a row, {args.samples} test samples, 95% intervals; "
          "coverage (share containing the truth) and median width")
    print("| quantity | seeds | sigma | seed sd | t: coverage | t: width | bootstrap: coverage | "
          "bootstrap: width |")
    print("|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    for quantity, delta_b in (("accuracy", None), ("difference", -0.5)):
        for seeds in args.seeds:
            for sigma in args.sigmas:
                true_a = truth(sigma, 0.0, rng)
                target = true_a if delta_b is None else true_a - truth(sigma, delta_b, rng)
                hits, widths, spread = {"t": 0, "bootstrap": 0}, {"t": [], "bootstrap": []}, []
                for _ in range(args.builds):
                    samples = rng.normal(MU, TAU, args.samples)
                    units = [runs(samples, seeds, sigma, 0.0, rng)]
                    if delta_b is not None:
                        units.append(runs(samples, seeds, sigma, delta_b, rng))
                    spread.append(units[0].mean(axis=1).std(ddof=1))
                    if delta_b is None:
                        _, low, high = intervals.accuracy(units[0])
                        b = bootstrap(units, lambda x: x, args.resamples)
                    else:
                        _, low, high = intervals.difference(*units)
                        b = bootstrap(units, lambda x, y: x - y, args.resamples)
                    for name, (lo, hi) in (("t", (low, high)), ("bootstrap", b)):
                        hits[name] += lo <= target <= hi
                        widths[name].append(hi - lo)
                print(f"| {quantity} | {seeds} | {sigma} | {np.median(spread):.4f} | "
                      f"{hits['t'] / args.builds:.3f} | {np.median(widths['t']):.4f} | "
                      f"{hits['bootstrap'] / args.builds:.3f} | {np.median(widths['bootstrap']):.4f} |",
                      flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
