"""Two builds of the article, compared: runs, table cells and verdicts.

    python benchmarks/compare_builds.py BEFORE AFTER

BEFORE and AFTER are build directories (`results/quick` of two checkouts, or
a copy kept with `--keep`), each with the per-run table `runs.csv` that
extract.py writes and, when the claims were judged, `claims.csv`. It prints,
as Markdown:

  runs      matched by (experiment, variant, seed): how many reached another
            test accuracy, and another status (still improving, stuck, ...);
  cells     each (experiment, variant)'s median test accuracy over its
            seeds (diverged runs not counted, as in the tables) and its seed
            range, in both builds; a cell is "outside" when one build's
            median lies outside the other's seed range. Every such cell is
            listed, then the count. For two independent sets of three seeds
            of one network, one set's median lies outside the other's range
            in 60% of cells (`chance_outside(3)`): a count well below that
            says the builds agree more than fresh seeds would; and each
            cell whose median changed side, at chance or learned (the
            claims' margins, config/claims.yaml): a cell whose seeds split
            can change its reading inside both ranges;
  times     each time ratio the claims judge (config/claims.yaml's `ratio`
            checks: Table 6), paired by seed as the claims pair it
            (intervals.ratio), in both builds, and whether the two 95%
            intervals overlap: intervals that do not overlap from one build
            to the next say a time varies by more than they count;
  verdicts  each claim's verdict in both builds, and which changed.

A report, not a test: it exits 0 whatever differs (2 on unusable input).
`BUILD OUT --keep` copies what a comparison reads of a build's runs.csv and
claims.csv to OUT (a few tens of KB), so that a later build can be compared
with it after results/ is gone.
"""

import argparse
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linked_neurons_core.analysis import intervals  # noqa: E402
from linked_neurons_core.analysis import runs as run_rows  # noqa: E402
from linked_neurons_core.analysis.claims import chance_of  # noqa: E402
from linked_neurons_core.analysis.units import stats  # noqa: E402
from linked_neurons_core.analysis.units import times  # noqa: E402

KEY = ["experiment", "variant", "seed"]
ROOT = Path(__file__).resolve().parents[1]


class BuildError(ValueError):
    pass


def load(build):
    """(runs, claims or None) of a build directory."""
    build = Path(build)
    path = build / "runs.csv"
    if not path.is_file():
        raise BuildError(f"{build}: no runs.csv; give a build's results directory "
                         "(results/quick) or a copy made with --keep")
    runs = pd.read_csv(path)
    missing = [c for c in KEY + ["test_accuracy", "status", "diverged"] if c not in runs]
    if missing:
        raise BuildError(f"{path}: no column {', '.join(missing)}; is it extract.py's runs.csv?")
    runs = runs.assign(seed=runs["seed"].astype(int), status=[run_rows.status(r) for _, r in runs.iterrows()])
    claims = build / "claims.csv"
    return runs, (pd.read_csv(claims) if claims.is_file() else None)


def chance_outside(n):
    """The chance that one of two sets of n runs has its median outside the
    other's range, all 2n runs independent and from one continuous
    distribution: over every equally likely interleaving of the sets' ranks
    (ties, which discrete accuracies have, make it smaller)."""
    def outside(mine, others):
        median = mine[(n - 1) // 2]
        return median < others[0] or median > others[-1]
    hits = total = 0
    for a in combinations(range(2 * n), n):  # the first set's ranks, sorted
        b = [r for r in range(2 * n) if r not in a]
        hits += outside(a, b) or outside(b, a)
        total += 1
    return hits / total


def compare_runs(a, b):
    """Counts of the runs of both builds: matched, only in one, moved."""
    both = a.merge(b, on=KEY, suffixes=("_a", "_b"))
    moved = both[(both["test_accuracy_a"] - both["test_accuracy_b"]).abs() > 0]
    status = both[both["status_a"] != both["status_b"]]
    return {"matched": len(both), "only_a": len(a) - len(both), "only_b": len(b) - len(both),
            "accuracy_differs": len(moved), "status_differs": len(status),
            "status_changes": status[KEY + ["status_a", "status_b"]]}


def cells(a, b):
    """One row per (experiment, variant) in both builds: medians, ranges, outside."""
    rows = []
    for (experiment, variant), group_a in a.groupby(["experiment", "variant"], sort=False):
        group_b = b[(b["experiment"] == experiment) & (b["variant"] == variant)]
        if not len(group_b):
            continue
        sa, sb = stats(group_a), stats(group_b)
        if sa["median"] is None or sb["median"] is None:
            continue
        rows.append({"experiment": experiment, "variant": variant,
                     "median_a": sa["median"], "low_a": sa["low"], "high_a": sa["high"],
                     "median_b": sb["median"], "low_b": sb["low"], "high_b": sb["high"],
                     "a_outside_b": not sb["low"] <= sa["median"] <= sb["high"],
                     "b_outside_a": not sa["low"] <= sb["median"] <= sa["high"]})
    return pd.DataFrame(rows, columns=["experiment", "variant", "median_a", "low_a", "high_a",
                                       "median_b", "low_b", "high_b", "a_outside_b", "b_outside_a"])


def margins():
    """The claims' thresholds (config/claims.yaml): chance_margin, learn_margin."""
    return yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())["thresholds"]


def side(median, dataset=None, thresholds=None):
    """"at chance", "learned" or "between": a median against the claims'
    margins over chance (the claims' `chance_of` the dataset)."""
    thresholds = thresholds or margins()
    chance = chance_of([dataset])
    if median < chance + thresholds["chance_margin"]:
        return "at chance"
    return "learned" if median > chance + thresholds["learn_margin"] else "between"


def sides(a, table):
    """The cells of `table` (cells()) whose median is on another side in b."""
    datasets = a.groupby(["experiment", "variant"])["dataset"].first() if "dataset" in a else {}
    thresholds = margins()
    rows = []
    for _, c in table.iterrows():
        dataset = datasets.get((c["experiment"], c["variant"])) if len(datasets) else None
        pair = side(c["median_a"], dataset, thresholds), side(c["median_b"], dataset, thresholds)
        if pair[0] != pair[1]:
            rows.append({**c.to_dict(), "side_a": pair[0], "side_b": pair[1]})
    return pd.DataFrame(rows, columns=[*table.columns, "side_a", "side_b"])


def time_ratios(a, b, claims_file=None):
    """Each time ratio of the claims' `ratio` checks, once, in both builds:
    a frame of experiment, network, reference (the ratio is network's
    time over reference's), paper (its figure), (estimate, low, high)
    in build a and in build b (None where a build lacks a run; NaN bounds
    from one pair), and overlap (None unless both have an interval)."""
    spec = yaml.safe_load(Path(claims_file or ROOT / "config" / "claims.yaml").read_text())
    rows, seen = [], set()
    for claim in spec["claims"]:
        for check in claim["checks"]:
            if "ratio" not in check:
                continue
            e = check["ratio"]["experiment"]
            for x, y, paper in check["ratio"]["pairs"]:
                if (e, x, y) in seen:
                    continue
                seen.add((e, x, y))
                got = []
                for runs in (a, b):
                    mine = runs[runs["experiment"] == e]  # times(): empty without wall_seconds
                    got.append(intervals.ratio(times(mine[mine["variant"] == x]),
                                               times(mine[mine["variant"] == y])))
                both = all(g is not None and not pd.isna(g[1]) for g in got)
                overlap = bool(got[0][1] <= got[1][2] and got[1][1] <= got[0][2]) if both else None
                rows.append({"experiment": e, "network": x, "reference": y, "paper": paper,
                             "in_a": got[0], "in_b": got[1], "overlap": overlap})
    columns = ["experiment", "network", "reference", "paper", "in_a", "in_b", "overlap"]
    return pd.DataFrame(rows, columns=columns)


def _interval(value):
    if value is None:
        return "--"
    estimate, low, high = value
    return f"{estimate:.2f}" if pd.isna(low) else f"{estimate:.2f} [{low:.2f}, {high:.2f}]"


def verdicts(a, b):
    """Each claim judged in both builds: id, verdict before, after, changed."""
    if a is None or b is None:
        return None
    both = a[["id", "verdict"]].merge(b[["id", "verdict"]], on="id", suffixes=("_a", "_b"))
    return both.assign(changed=both["verdict_a"] != both["verdict_b"])


def report(before, after, out=None):
    out = out or sys.stdout
    runs_a, claims_a = load(before)
    runs_b, claims_b = load(after)
    r = compare_runs(runs_a, runs_b)
    p = lambda *x: print(*x, file=out)  # noqa: E731
    p(f"# {before} (a) against {after} (b)\n")
    p(f"**Runs.** {r['matched']} in both builds ({r['only_a']} only in a, {r['only_b']} only in b): "
      f"{r['accuracy_differs']} reached another test accuracy, {r['status_differs']} another status.")
    for _, s in r["status_changes"].iterrows():
        p(f"- {s['experiment']}/{s['variant']} seed {s['seed']}: {s['status_a']} -> {s['status_b']}")
    table = cells(runs_a, runs_b)
    outside = table[table["a_outside_b"] | table["b_outside_a"]]
    seeds = int(runs_a.groupby(["experiment", "variant"]).size().median()) if len(runs_a) else 0
    p(f"\n**Cells.** {len(outside)} of {len(table)} cells have one build's median outside the other's "
      f"seed range ({int(table['a_outside_b'].sum())} a's median outside b's range, "
      f"{int(table['b_outside_a'].sum())} b's outside a's)"
      + (f"; for two independent sets of {seeds} seeds, {chance_outside(seeds):.0%} of cells would be."
         if seeds > 1 else "."))
    if len(outside):
        p("\n| experiment | variant | a: median [range] | b: median [range] |\n|---|---|---|---|")
        for _, c in outside.iterrows():
            p(f"| {c['experiment']} | {c['variant']} | {c['median_a']:.3f} [{c['low_a']:.3f}, "
              f"{c['high_a']:.3f}] | {c['median_b']:.3f} [{c['low_b']:.3f}, {c['high_b']:.3f}] |")
    moved = sides(runs_a, table)
    p(f"\n**Sides.** {len(moved)} of {len(table)} cells have their median on another side, at chance "
      "or learned (the claims' margins), in b" + (":" if len(moved) else "."))
    for _, c in moved.iterrows():
        p(f"- {c['experiment']}/{c['variant']}: {c['side_a']} {c['median_a']:.3f} -> "
          f"{c['side_b']} {c['median_b']:.3f}")
    ratios = time_ratios(runs_a, runs_b)
    judged = ratios[ratios["overlap"].notna()]
    if len(judged):
        p(f"\n**Times.** {int((~judged['overlap'].astype(bool)).sum())} of {len(judged)} time ratios "
          "have 95% intervals that do not overlap between the builds (paired by seed, as the claims judge "
          "them):\n\n| time ratio (the paper's) | a | b | overlap |\n|---|---|---|---|")
        for _, t in ratios.iterrows():
            overlap = "--" if t["overlap"] is None else "yes" if t["overlap"] else "no"
            p(f"| {t['experiment']}: {t['network']} / {t['reference']} ({t['paper']}) | "
              f"{_interval(t['in_a'])} | {_interval(t['in_b'])} | {overlap} |")
    v = verdicts(claims_a, claims_b)
    if v is None:
        p("\n**Verdicts.** Not compared: a build has no claims.csv.")
        return r, table, v
    changed = v[v["changed"]]
    p(f"\n**Verdicts.** {len(v)} claims judged in both builds; {len(changed)} changed.")
    for _, c in changed.iterrows():
        p(f"- {c['id']}: {c['verdict_a']} -> {c['verdict_b']}")
    return r, table, v


#: What --keep copies: the columns a comparison reads, and what places a run.
KEPT = {"runs.csv": KEY + ["test_accuracy", "best_test_accuracy", "status", "diverged", "epochs_run",
                           "wall_seconds", "device_exclusive", "device", "dataset"],
        "claims.csv": ["id", "verdict", "evidence"]}


def keep(build, out):
    """Copy a build's runs.csv and claims.csv (the columns of KEPT) to `out`,
    for a comparison after the build is gone."""
    tables = dict(zip(KEPT, load(build)))  # read and checked as a comparison reads them
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, columns in KEPT.items():
        if tables[name] is not None:
            tables[name][[c for c in columns if c in tables[name]]].to_csv(out / name, index=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--keep", action="store_true",
                        help="copy what a comparison reads of BEFORE's runs.csv and claims.csv "
                             "to the directory AFTER, instead of comparing")
    args = parser.parse_args(argv)
    try:
        if args.keep:
            keep(args.before, args.after)
        else:
            report(args.before, args.after)
    except BuildError as error:
        print(f"compare_builds: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
