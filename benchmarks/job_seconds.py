"""Where a build's training job-seconds went: steady epochs, compilation, the rest of each job.

    python benchmarks/job_seconds.py results/quick [--cores 2]

Reads each training job's wall seconds from the file Snakemake's `benchmark:`
directive wrote (BUILD/benchmarks/train/EXPERIMENT/GROUP.tsv; a timed run's
job, BUILD/benchmarks/train/EXPERIMENT/GROUP/SEED.tsv) and its runs' epoch
records (BUILD/runs/.../metrics.json, `history`), and splits the job's
seconds three ways:

  epochs    the epochs' wall time (training, evaluation, events and
            checkpoints), less the first epoch's excess;
  compile   the first epoch's excess over the run's median epoch: mostly
            compilation (the persistent cache serves a group's later seeds);
  outside   the job's seconds outside any epoch: interpreter start, imports,
            data, model build, the dead-unit probe, the run's files.

A vmapped group's runs each record the group's epochs, so the group counts
its longest run's, not their sum. By experiment for the untimed jobs, which
share the cores, and one row for Table 6's timed runs, which run alone one
after another. The last lines bound what start-up paid once per build could
save: the build's training with no compilation and nothing outside the
epochs, on `--cores` cores.
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_seconds import job_seconds  # noqa: E402  (benchmarks/train_seconds.py, this folder)

TIMED = "Table 6, timed (alone)"  # the row of the timed runs' jobs


def jobs(build):
    """(experiment, timed, job seconds, [metrics of its runs]) for each training job."""
    build = Path(build)
    root = build / "benchmarks" / "train"
    found = []
    for tsv in sorted(root.rglob("*.tsv")):
        parts = tsv.relative_to(root).with_suffix("").parts
        timed = len(parts) == 3  # EXPERIMENT/GROUP/SEED: a timed run's own job
        runs = build / "runs" / Path(*parts)
        files = [runs / "metrics.json"] if timed else sorted(runs.glob("*/metrics.json"))
        if not files or not all(f.exists() for f in files):
            raise SystemExit(f"job_seconds: {tsv} has no finished runs under {runs}: the build is "
                             "not whole; build it first")
        found.append((parts[0], timed, job_seconds(tsv), [json.loads(f.read_text()) for f in files]))
    if not found:
        raise SystemExit(f"job_seconds: {root} holds no training job's benchmark file; build first")
    return found


def split(seconds, runs):
    """(epochs, compile, outside) seconds of a job of `runs`."""
    per_run = []
    for metrics in runs:
        walls = [epoch.get("wall", epoch["seconds"]) for epoch in metrics["history"]]
        excess = max(walls[0] - statistics.median(walls[1:]), 0.0) if len(walls) > 1 else 0.0
        per_run.append((sum(walls) - excess, excess))
    if runs[0].get("group_mode") == "vmap":  # one program: every run records the group's time
        epochs, excess = max(per_run, key=sum)
    else:
        epochs, excess = (sum(column) for column in zip(*per_run))
    return epochs, excess, seconds - epochs - excess


def table(found):
    """{row: [jobs, runs, job seconds, epochs, compile, outside]}, untimed by experiment."""
    rows = defaultdict(lambda: [0, 0, 0.0, 0.0, 0.0, 0.0])
    for experiment, timed, seconds, runs in found:
        row = rows[TIMED if timed else experiment]
        for k, value in enumerate((1, len(runs), seconds, *split(seconds, runs))):
            row[k] += value
    return dict(sorted(rows.items(), key=lambda item: (item[0] == TIMED, -item[1][2])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", help="a build's results directory, e.g. results/quick")
    parser.add_argument("--cores", type=int, default=2, help="the build's cores (default 2)")
    args = parser.parse_args(argv)
    rows = table(jobs(args.build))
    print("| jobs of | jobs | runs | job-s | epochs | compile | outside |")
    print("|---|---|---|---|---|---|---|")
    totals = {"untimed": [0.0] * 6, "timed": [0.0] * 6}
    for name, row in rows.items():
        print(f"| {name} | {row[0]} | {row[1]} | " + " | ".join(f"{v:,.0f}" for v in row[2:]) + " |")
        kind = totals["timed" if name == TIMED else "untimed"]
        kind[:] = [a + b for a, b in zip(kind, row)]
    untimed, timed = totals["untimed"], totals["timed"]
    print(f"\nuntimed: {untimed[2]:,.0f} job-s ({100 * untimed[4] / untimed[2]:.1f}% compile, "
          f"{100 * untimed[5] / untimed[2]:.1f}% outside the epochs); timed: {timed[2]:,.0f}")
    cores = max(args.cores, 1)
    now = timed[2] + untimed[2] / cores
    floor = timed[3] + untimed[3] / cores
    print(f"training on {cores} cores, the timed runs alone first: about {now / 60:.1f} min; "
          f"with no compilation and nothing outside the epochs: {floor / 60:.1f} min "
          f"({now / floor:.2f}x)")


if __name__ == "__main__":
    main()
