"""How far a rounding-level change moves a run: the yardstick for "the same runs".

A faster kernel computes the same layer with other rounding, so a run trained
with it can only be compared with a run trained without it against what
rounding alone does to that run. For each run named (EXPERIMENT, or
EXPERIMENT/VARIANT; every seed of the quick scale unless `--seeds`), this
trains it again from the same seed for each kind:

  built   as the pipeline trains it;
  again   the same once more: a difference here is nondeterminism;
  ulp     one initial weight, the first of the first layer's kernel, moved
          up by one unit in the last place (`np.nextafter`), every other
          value bit for bit as built;
  matmul  `conv_impl: matmul` (MatmulConv2D: the same layer, other rounding);
  avx2    as built, in a process whose oneDNN kernels keep to AVX2
          (ONEDNN_MAX_CPU_ISA=AVX2): on an AVX-512 machine, the run as an
          AVX2-only machine trains it (on an AVX2 machine, the same as built).

and prints each kind's first-epoch mean training loss relative to `built`'s.
With `--whole` the runs train their configured epochs and the test accuracy
at the chosen epoch, the status and the epochs run are printed too.

If a run's `ulp` difference is as large as its `matmul` difference, no kernel
that rounds differently can train that run to the same losses: the run, not
the kernel, decides; `avx2` says how far another machine moves it. A
measurement, not a test: it prints, it asserts nothing.

    KERAS_BACKEND=jax python benchmarks/sensitivity.py depth              # 14 variants x 3 seeds, ~10 min
    KERAS_BACKEND=jax python benchmarks/sensitivity.py depth/selu allcnn/relu_fixed --seeds 100
    KERAS_BACKEND=jax python benchmarks/sensitivity.py depth/lkrelu --whole --kinds built ulp matmul avx2
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

from linked_neurons_core import threads

threads.keep_to(1)  # the training rule's environment, one thread; jax unless chosen
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

KINDS = ("built", "again", "ulp", "matmul", "avx2")
OVERRIDES = {"matmul": {"conv_impl": "matmul"}}
#: The environment of a kind trained in a process of its own.
ENVIRONMENTS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}


def nudged(fresh_values, moved):
    """`fresh_values` (the runner's initial state of a run) with one initial
    value one ulp up: the first element of the first array of two or more
    dimensions (the first layer's kernel). `moved` gets the array's shape."""

    def values(run, *args, **kwargs):
        values = list(fresh_values(run, *args, **kwargs))
        first = next(i for i, v in enumerate(values) if np.ndim(v) >= 2)
        kernel = np.array(values[first], copy=True)
        kernel.flat[0] = np.nextafter(kernel.flat[0], np.inf, dtype=kernel.dtype)
        values[first] = kernel
        moved.append(kernel.shape)
        return values

    return values


def targets(table, names):
    for name in names:
        experiment, _, variant = name.partition("/")
        variants = [variant] if variant else table.variants(experiment)
        for v in variants:
            yield experiment, v


def summary(metrics):
    """What is compared of a run: first-epoch loss, test accuracy, status, epochs."""
    return {"loss": metrics["history"][0]["loss"], "test": metrics["test_accuracy"],
            "status": metrics["convergence"]["status"], "epochs": metrics["epochs_run"]}


def in_own_process(kind, name, seeds, whole):
    """`built` runs of `name` in a new process with the kind's environment."""
    command = [sys.executable, __file__, name, "--kinds", "built", "--seeds", *map(str, seeds)]
    done = subprocess.run(command + (["--whole"] if whole else []), capture_output=True, text=True,
                          env={**os.environ, **ENVIRONMENTS[kind]})
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or len(rows) != len(seeds):
        sys.exit(f"sensitivity.py: the {kind} process failed:\n{done.stderr[-2000:]}")
    return [{"loss": r["built"], "test": r.get("built_test"), "status": r.get("built_status"),
             "epochs": r.get("built_epochs")} for r in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="EXPERIMENT[/VARIANT]")
    parser.add_argument("--seeds", nargs="*", type=int, default=None,
                        help="default: the quick scale's seeds")
    parser.add_argument("--kinds", nargs="*", choices=KINDS, default=list(KINDS))
    parser.add_argument("--whole", action="store_true",
                        help="train the configured epochs, not one")
    args = parser.parse_args(argv)
    if "built" not in args.kinds:
        parser.error("--kinds needs built: the others are compared with it")

    from linked_neurons.experiments import epochs
    from linked_neurons.experiments.train import train_group
    from linked_neurons_core.provenance import device
    from linked_neurons_core.table import Table

    table = Table()
    rows = []
    print(f"device: {device()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for experiment, variant in targets(table, args.runs):
            seeds = args.seeds or table.resolve(experiment, variant, "quick")["seeds"]
            results, moved = {}, []
            for kind in args.kinds:
                if kind in ENVIRONMENTS:
                    results[kind] = in_own_process(kind, f"{experiment}/{variant}", seeds, args.whole)
                    continue
                overrides = {**OVERRIDES.get(kind, {}), **({} if args.whole else {"epochs": 1})}
                out = Path(scratch) / experiment / variant / kind / "{seed}"
                with (mock.patch.object(epochs, "fresh_values", nudged(epochs.fresh_values, moved))
                      if kind == "ulp" else contextlib.nullcontext()):
                    trained = train_group(experiment, variant, seeds, "quick", out, overrides)
                results[kind] = [summary(m) for m in trained]
            for i, seed in enumerate(seeds):
                row = {"run": f"{experiment}/{variant}/{seed}",
                       "kernel": list(moved[0]) if moved else None}
                base = results["built"][i]["loss"]
                for kind in args.kinds:
                    run = results[kind][i]
                    row[kind] = run["loss"] if kind == "built" else abs(run["loss"] - base) / abs(base)
                    if args.whole:
                        for key in ("test", "status", "epochs"):
                            row[f"{kind}_{key}"] = run[key]
                print(json.dumps(row), flush=True)
                rows.append(row)
    report(rows, args.kinds)


def report(rows, kinds):
    others = [k for k in kinds if k != "built"]
    print("\nfirst-epoch mean training loss: built's, and the others' relative difference")
    print(f"{'run':<28}{'built':>10}" + "".join(f"{k:>10}" for k in others))
    for row in rows:
        print(f"{row['run']:<28}{row['built']:>10.5f}" + "".join(f"{row[k]:>10.1e}" for k in others))
    for kind in others:
        over = sum(row[kind] > 1e-4 for row in rows)
        print(f"{kind}: {over} of {len(rows)} runs more than 1e-4 apart, "
              f"largest {max(row[kind] for row in rows):.1e}")
    if "ulp" in kinds and "matmul" in kinds:
        within = sum(row["matmul"] <= row["ulp"] for row in rows)
        print(f"matmul within the ulp's difference in {within} of {len(rows)} runs")
    if "built_test" in rows[0]:
        whole(rows, others)


def whole(rows, others):
    """The issue's criteria on whole runs: each kind's median test accuracy
    against built's seed range, and the runs whose status changed."""
    variants = {}
    for row in rows:
        variants.setdefault(row["run"].rsplit("/", 1)[0], []).append(row)
    print("\ntest accuracy: median over seeds [built's seed range]; runs whose status changed")
    for name, group in variants.items():
        built = [r["built_test"] for r in group]
        line = f"{name:<24} built {np.median(built):.3f} [{min(built):.3f}, {max(built):.3f}]"
        for kind in others:
            median = float(np.median([r[f"{kind}_test"] for r in group]))
            outside = "" if min(built) <= median <= max(built) else " outside"
            moved = sum(r[f"{kind}_status"] != r["built_status"] for r in group)
            line += f"  {kind} {median:.3f}{outside}, {moved} status"
        print(line)


if __name__ == "__main__":
    from linked_neurons_core.table import ConfigError

    try:
        main()
    except ConfigError as error:
        sys.exit(f"sensitivity.py: {error}")
