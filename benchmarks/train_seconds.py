"""Each training job's wall seconds in a build: the order the DAG starts them in.

    python benchmarks/train_seconds.py results/quick benchmarks/train_seconds.csv

Reads the file Snakemake's `benchmark:` directive writes for each training
job (BUILD/benchmarks/train/EXPERIMENT/GROUP.tsv, its `s` column: the job's
wall seconds) and writes SCALE,group,seconds (atomically) to the CSV, one row
a group, the build's scale taken from its directory name.

The workflow starts its training jobs longest first after Table 6's timed
groups (workflow/rules/common.smk, `train_priority`): a long group started
last keeps one core busy while the others idle. The seconds order jobs and
nothing else: no run computes anything else by them, and a group the file
lacks starts in Snakemake's own order.
"""

import argparse
import csv
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from linked_neurons_core.io import atomic_write_text  # noqa: E402


def job_seconds(path):
    """A job's wall seconds from its benchmark file (the `s` column)."""
    with Path(path).open(newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    if not rows or "s" not in rows[-1]:
        raise SystemExit(f"{path} is not a Snakemake benchmark file (no `s` column)")
    return float(rows[-1]["s"])


def measured(build):
    """{group: wall seconds} of the build's training jobs."""
    root = Path(build) / "benchmarks" / "train"
    seconds = {f"{path.parent.name}/{path.stem}": job_seconds(path) for path in sorted(root.glob("*/*.tsv"))}
    if not seconds:
        raise SystemExit(f"train_seconds: {root} holds no training job's benchmark file; build first")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", help="a build directory, e.g. results/quick")
    parser.add_argument("csv", help="where to write SCALE,group,seconds")
    args = parser.parse_args(argv)
    scale = Path(args.build).resolve().name
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scale", "group", "seconds"])
    for group, seconds in sorted(measured(args.build).items(), key=lambda item: -item[1]):
        writer.writerow([scale, group, f"{seconds:.0f}"])
    atomic_write_text(args.csv, out.getvalue())


if __name__ == "__main__":
    main()
