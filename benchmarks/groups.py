"""What training the seeds of a variant together costs, measured side by side.

Two measurements, each printed with its ratio:

1. **Job-seconds per run.** For each benchmarked variant (by default the
   quick depth, allcnn and resnet50 variants of the table), the 3 seeds
   trained *alone* (3 processes, one after another, as the pipeline's jobs
   did before groups) against *grouped* (1 process, `--seed 100 101 102`, as
   its jobs do now), each through the pipeline's lean entry with its thread
   settings and a fresh jax compilation cache (a fresh clone has none). The
   two are interleaved `--repeats` times; medians are printed, and
   grouped / one run alone (the issue's target: at most 1.5x).
2. **Steady-state step time** of one seed against 3 seeds vmapped into one
   program (`SeedsRunner`, the `vmap` group mode) and against the 3 seeds one
   after another on one compiled model (the `sequential` mode), compilation
   excluded; medians of interleaved repetitions. On a CPU, XLA runs a
   convolution vmapped over its weights as a grouped convolution, which is
   slower than the seeds in turn; on a GPU one small network leaves the
   device idle, and vmap is the way to fill it. Measured beside them, what
   the CPU's vmapped groups use where the table's `cpu_block_diagonal` says
   (linked_neurons/experiments/blockdiag.py): the same vmapped program with
   each such convolution as one dense convolution whose kernel holds the
   seeds' kernels on its block diagonal (3 times the arithmetic, one op a
   layer), and how far its weights end from the grouped program's after the
   same steps.
   Run it on the device whose cost you want (`group_mode: auto` picks vmap on
   GPUs and, on a CPU, where the table's `cpu_block_diagonal` asks;
   sequential elsewhere).

A benchmark, not a test: it prints numbers and asserts nothing.

    KERAS_BACKEND=jax python benchmarks/groups.py --repeats 2
    KERAS_BACKEND=jax python benchmarks/groups.py --only depth/lkrelu --set epochs=5 --skip-jobs
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from linked_neurons.experiments.blockdiag import block_diagonal_convolutions  # noqa: E402
from linked_neurons_core import threads  # noqa: E402

threads.keep_to(1)  # the step times in this process: a training job's one thread

VARIANTS = ["depth/lkrelu", "allcnn/relu_fixed", "resnet50/relu"]
SEEDS = ["100", "101", "102"]


def job_env(cache):
    # The rule train's environment (linked_neurons_core/threads.py), one thread.
    return {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
            **threads.environment(1),
            "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "PYTHONPATH": str(ROOT)}


def job(tmp, name, experiment, variant, seeds, sets):
    """Wall seconds of one training job (a fresh cache, as in a fresh clone)."""
    out = Path(tmp) / name
    command = [sys.executable, str(ROOT / "workflow/scripts/train.py"), "train", experiment,
               variant, "--seed", *seeds, "--out", f"{out}/{{seed}}", "--group-mode", "sequential",
               *[a for s in sets for a in ("--set", s)]]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=job_env(Path(tmp) / f"{name}-cache"), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def job_seconds(experiment, variant, sets, repeats):
    alone, grouped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            alone.append(sum(job(tmp, f"alone{repeat}-{s}", experiment, variant, [s], sets)
                             for s in SEEDS))
            grouped.append(job(tmp, f"grouped{repeat}", experiment, variant, SEEDS, sets))
    return statistics.median(alone), statistics.median(grouped)


def step_times(experiment, variant, sets, steps, repeats=5):
    """Seconds per step: one seed; 3 seeds vmapped, with jax's grouped
    convolutions and as block-diagonal ones; 3 seeds in turn on one model."""
    import jax
    import numpy as np

    from linked_neurons.experiments.build import build
    from linked_neurons.experiments.build import fresh_values
    from linked_neurons.experiments.data import prepare
    from linked_neurons.experiments.loop import EpochRunner
    from linked_neurons.experiments.loop import SeedsRunner
    from linked_neurons.experiments.rundir import Run
    from linked_neurons_core import datasets
    from linked_neurons_core.table import Table
    from linked_neurons_core.table import parse_overrides

    jax.config.update("jax_threefry_partitionable", False)
    config = Table().resolve(experiment, variant, "quick", parse_overrides(sets), seed=100)
    (x, y), (xv, yv), _ = prepare(config)
    batch = config["batch_size"]
    classes = datasets.num_classes(config["dataset"])
    model, initial = build(config, x.shape[1:], classes, len(x) // batch)
    n_steps = min(steps, len(x) // batch)
    orders = [np.random.default_rng([s, 0]).permutation(len(x)) for s in range(3)]

    def timed(candidates):
        """Median seconds per step of each candidate (fn, tracing), compiled
        first, then timed `repeats` times, interleaved (start rotated)."""
        for fn, tracing in candidates.values():
            with tracing():
                fn()  # compilation
        times, names = {name: [] for name in candidates}, list(candidates)
        for r in range(repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                start = time.perf_counter()
                candidates[name][0]()
                times[name].append((time.perf_counter() - start) / n_steps)
        return {name: statistics.median(t) for name, t in times.items()}

    runners = {kind: SeedsRunner(model, x, y, xv, yv, batch, min(len(xv), 1024))
               for kind in ("grouped", "block")}
    starts = []
    for seed in (100, 101, 102):
        values = fresh_values(Run({**config, "seed": seed}, "/tmp/unused"), x.shape[1:], classes,
                               initial)
        n_train, n_non = len(model.trainable_variables), len(model.non_trainable_variables)
        starts.append((values[:n_train], values[n_train:n_train + n_non], values[n_train + n_non:]))
    state = {"one": SeedsRunner.stack(starts[:1]), "three": SeedsRunner.stack(starts),
             "block": SeedsRunner.stack(starts)}

    def vmapped(key, k, kind="grouped"):
        def go():
            state[key], logs = runners[kind].run(state[key], np.stack(orders[:k]), 0, n_steps)
            jax.block_until_ready(logs)
        return go

    fit = EpochRunner(model, x, y, batch)
    plain = contextlib.nullcontext
    t = timed({"one": (vmapped("one", 1), plain), "three": (vmapped("three", 3), plain),
               "block": (vmapped("block", 3, "block"), block_diagonal_convolutions),
               "in_turn": (lambda: [fit.run(o, 0, n_steps) for o in orders], plain)})
    # Both vmapped programs took the same steps from the same values: how far
    # apart are their weights (rounding; a network that rounding moves drifts)?
    # The largest ||grouped - block|| / ||grouped|| of a trainable variable.
    drift = max(float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / (np.linalg.norm(np.asarray(a)) or 1))
                for a, b in zip(jax.tree.leaves(state["three"][0]), jax.tree.leaves(state["block"][0])))
    device = jax.devices()[0]
    return (t["one"], t["three"], t["block"], t["in_turn"] / 3, (drift, (1 + repeats) * n_steps),
            f"{device.platform}: {device.device_kind}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=VARIANTS, metavar="EXPERIMENT/VARIANT")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides for every run, e.g. --set epochs=5")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40, help="steps timed per step-time measurement")
    parser.add_argument("--skip-jobs", action="store_true", help="step times only")
    parser.add_argument("--skip-steps", action="store_true", help="job-seconds only")
    args = parser.parse_args()
    for name in args.only:
        experiment, variant = name.split("/")
        if not args.skip_jobs:
            alone, grouped = job_seconds(experiment, variant, args.set, args.repeats)
            print(f"{name}: 3 seeds alone {alone:.1f} job-s ({alone / 3:.1f} per run), grouped "
                  f"{grouped:.1f} job-s ({grouped / 3:.1f} per run): grouped / alone "
                  f"{grouped / alone:.2f}x; 3 seeds grouped / one run alone {grouped / (alone / 3):.2f}x",
                  flush=True)
        if not args.skip_steps:
            one, three, block, in_turn, drift, device = step_times(
                experiment, variant, args.set, args.steps, max(args.repeats, 5))
            print(f"{name} on {device}: one seed {one * 1e3:.2f} ms/step; 3 seeds vmapped "
                  f"{three * 1e3:.2f} ms/step ({three / one:.2f}x one seed), with block-diagonal "
                  f"convolutions {block * 1e3:.2f} ({block / one:.2f}x); 3 seeds in turn "
                  f"{3 * in_turn * 1e3:.2f} ms per 3 steps ({3 * in_turn / one:.2f}x one seed); "
                  f"in turn / block-diagonal {3 * in_turn / block:.2f}x (weights after the same "
                  f"{drift[1]} steps, block-diagonal against grouped: largest relative "
                  f"difference {drift[0]:.1e})", flush=True)


if __name__ == "__main__":
    main()
