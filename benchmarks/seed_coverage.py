"""How often the claims' accuracy intervals from three seeds contain what many seeds give, on real runs.

benchmarks/coverage.py checks the intervals on simulated builds, whose model
of how seeds spread is an assumption. This script checks them on the
pipeline's own networks: it trains N seeds of each variant of the given pairs
(`linked-neurons train`, one process a variant, seeds in turn, two
processes at once), then draws
many triples of seeds from each variant, as a build's three seeds, and
computes the claims' intervals from them (linked_neurons_core/analysis/
intervals.py): each variant's accuracy and the pair's difference. The truth
that a triple's interval should contain is the mean of the other N - 3
seeds' (on the same test split, so this checks the seeds' part: the test
set's part of the interval only widens it here). Printed per pair: the seeds'
spread and skew, the share of triples whose interval contains that truth,
and the same share for the interval's seed part alone (Student's t with two
degrees of freedom on the three seeds), whose nominal level is 95%.

A threshold check (the claims' `learns`) judges each seed, not their mean:
for each variant, the share of triples whose every seed's own interval lies
above chance + learn_margin (holds), whose every seed's lies below it (does
not hold), and the rest (inconclusive), and how often the share of seeds
above that a triple gives (Clopper-Pearson, intervals.share) contains the
share of all N seeds above (not the other seeds': those are all above
whenever a triple draws a network's one failing seed).

Triples share seeds (1,140 distinct ones from 20 seeds), so the shares are
correlated draws: read a difference of a few percent as noise. Runs are
trained once into --out and reused (a finished run of the same configuration
is not trained again).

    python benchmarks/seed_coverage.py --seeds 30           # docs/claims.md's second table, about 12 minutes
    python benchmarks/seed_coverage.py --pairs width/w50_relu:width/w50_lkrelu --seeds 30
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare_builds  # noqa: E402  (benchmarks/compare_builds.py: the claims' margins)

from linked_neurons_core import threads  # noqa: E402
from linked_neurons_core.analysis import claims  # noqa: E402
from linked_neurons_core.analysis import intervals  # noqa: E402
from linked_neurons_core.metrics import unpack_correct  # noqa: E402

PAIRS = ("width/w50_lkrelu:width/w50_relu", "extended/lkrelu:extended/relu",
         "allcnn/lkrelu_fixed:allcnn/relu_fixed")
FIRST_SEED = 1000  # apart from the pipeline's 100-102


def train(variant, seeds, out):
    """Train `variant`'s seeds (those not already finished in `out`) in one process."""
    experiment, name = variant.split("/")
    log = out / f"{experiment}-{name}.log"
    command = [sys.executable, str(ROOT / "workflow/scripts/train.py"), "train", experiment, name,
               "--seed", *map(str, seeds), "--out", str(out / experiment / name / "{seed}"),
               # In turn: many seeds as one block-diagonal program (depth's) would pay for
               # their zeros; the group modes differ in rounding only.
               "--group-mode", "sequential"]
    env = {**os.environ, **threads.environment(1), "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with log.open("w") as file:
        done = subprocess.run(command, env=env, stdout=file, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise SystemExit(f"seed_coverage: training {variant} failed (exit {done.returncode}); see {log}")


def correct(variant, seeds, out):
    """(seeds, samples) booleans of the runs' chosen epochs, the diverged runs left out."""
    experiment, name = variant.split("/")
    rows = []
    for seed in seeds:
        metrics = json.loads((out / experiment / name / str(seed) / "metrics.json").read_text())
        if not metrics["diverged"]:
            rows.append(unpack_correct(metrics["test_correct"]))
    return np.array(rows)


def learn_bound(variant, seeds, out, thresholds):
    """The claims' `learns` bound for `variant`'s runs: chance on their dataset
    (the claims' `chance_of`) plus the claims' learn_margin (`thresholds`,
    compare_builds.margins())."""
    experiment, name = variant.split("/")
    dataset = json.loads((out / experiment / name / str(seeds[0]) / "config.json").read_text())["dataset"]
    return claims.chance_of([dataset]) + thresholds["learn_margin"]


def seed_part(values):
    """(low, high): the t interval of the mean of `values` (three seeds' accuracies), the seeds alone."""
    return intervals.mean_t(values)[1:]


def coverage(a, b, draws, rng, k=3):
    """{quantity: (share covered by the claims' interval, by its seed part, median width)}."""
    hits = {q: [0, 0, []] for q in ("first", "second", "difference")}
    for _ in range(draws):
        ia, ib = rng.choice(len(a), k, replace=False), rng.choice(len(b), k, replace=False)
        rest_a, rest_b = np.delete(a, ia, axis=0).mean(), np.delete(b, ib, axis=0).mean()
        acc_a, acc_b = a[ia].mean(axis=1), b[ib].mean(axis=1)
        cases = {"first": (intervals.accuracy(a[ia]), seed_part(acc_a), rest_a),
                 "second": (intervals.accuracy(b[ib]), seed_part(acc_b), rest_b),
                 "difference": (intervals.difference(a[ia], b[ib]), seed_part(acc_a - acc_b),
                                rest_a - rest_b)}
        for q, ((_, low, high), (s_low, s_high), truth) in cases.items():
            hits[q][0] += low <= truth <= high
            hits[q][1] += s_low <= truth <= s_high
            hits[q][2].append(high - low)
    return {q: (h[0] / draws, h[1] / draws, float(np.median(h[2]))) for q, h in hits.items()}


def threshold(runs, bound, draws, rng, k=3):
    """The claims' `learns` rule on triples of `runs` ((seeds, samples)
    booleans) against `bound`: ({verdict: share of triples}, share of
    triples whose interval of the share of seeds above contains the share
    of all the runs above)."""
    own = intervals.seeds(runs)  # a seed's interval is its own, whichever triple draws it
    above = np.array([s[0] > bound for s in own])
    verdicts = dict.fromkeys((intervals.HOLDS, intervals.FAILS, intervals.INCONCLUSIVE), 0)
    covered = 0
    for _ in range(draws):
        idx = rng.choice(len(runs), k, replace=False)
        drawn = [own[i] for i in idx]
        verdicts[intervals.side(intervals.envelope(drawn), bound)] += 1
        held = sum(intervals.side(s, bound) == intervals.HOLDS for s in drawn)
        _, low, high = intervals.share(held, k)
        covered += low <= above.mean() <= high
    return {v: n / draws for v, n in verdicts.items()}, covered / draws


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), metavar="EXP/A:EXP/B")
    parser.add_argument("--seeds", type=int, default=20, help="seeds trained per variant (default 20)")
    parser.add_argument("--draws", type=int, default=4000, help="triples drawn per pair")
    parser.add_argument("--out", default="/tmp/seed_coverage", help="where the runs are trained")
    parser.add_argument("--jobs", type=int, default=2, help="training processes at once")
    args = parser.parse_args(argv)
    if args.seeds < 6:
        parser.error("--seeds must be at least 6: three to draw and three to measure the truth")
    pairs = [pair.split(":") for pair in args.pairs]
    if any(len(pair) != 2 for pair in pairs):
        parser.error("each pair is EXPERIMENT/VARIANT:EXPERIMENT/VARIANT")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    variants = list(dict.fromkeys(v for pair in pairs for v in pair))
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda v: train(v, seeds, out), variants))
    print(f"trained or found {len(variants)} variants x {args.seeds} seeds in "
          f"{time.perf_counter() - start:.0f} s; {args.draws} triples drawn per pair; "
          "truth: the other seeds' mean")
    print("| pair (first - second) | seeds | seeds' sd | skew | quantity | interval covers | "
          "seed part covers | median width |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    loaded = {v: correct(v, seeds, out) for v in variants}  # each variant's runs, read once
    for first, second in pairs:
        a, b = loaded[first], loaded[second]
        accuracies = {"first": a.mean(axis=1), "second": b.mean(axis=1)}
        sd = {q: f"{acc.std(ddof=1):.4f}" for q, acc in accuracies.items()}
        skew = {q: f"{stats.skew(acc):+.2f}" for q, acc in accuracies.items()}
        described = {  # quantity: label, seeds, seeds' sd, skew, kind
            "first": (first, str(len(a)), sd["first"], skew["first"], "accuracy"),
            "second": (second, str(len(b)), sd["second"], skew["second"], "accuracy"),
            "difference": (f"{first} - {second}", f"{len(a)}, {len(b)}", f"{sd['first']}, {sd['second']}",
                           "", "difference")}
        for q, (covers, seed_covers, width) in coverage(a, b, args.draws, rng).items():
            print("| " + " | ".join(described[q]) + f" | {covers:.3f} | {seed_covers:.3f} | {width:.4f} |",
                  flush=True)
    print("\nThe claims' `learns` on triples: every seed's own interval above the bound "
          "(chance on the runs' dataset + learn_margin)")
    print("| variant | seeds | bound | above | holds | does not hold | inconclusive | "
          "share interval covers |")
    print("|---|---|---|---|---|---|---|---|")
    thresholds = compare_builds.margins()
    for variant, runs in loaded.items():
        bound = learn_bound(variant, seeds, out, thresholds)
        shares, covered = threshold(runs, bound, args.draws, rng)
        print(f"| {variant} | {len(runs)} | {bound:.2f} | {int((runs.mean(axis=1) > bound).sum())} | "
              + " | ".join(f"{shares[v]:.3f}" for v in shares) + f" | {covered:.3f} |", flush=True)


if __name__ == "__main__":
    main()
