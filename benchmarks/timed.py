"""Table 6's time ratios side by side: every network of a timed experiment
(`timed: true` in the table) in one process, epochs interleaved round-robin
in a rotating order, through the runner as the timed jobs use it (alone:
`model.fit`). Each of `--processes` processes runs after the other and
prints each network's median epoch and its ratio to the layout's reference
(LK-ReLU without BN), for the first and second half of its rounds.

The pipeline's timed jobs train one network's seeds after another, so a
network's seeds share one moment of the machine; comparing these processes
shows how far a ratio moves between moments when the networks are timed
together (docs/claims.md, "Table 6's times between builds"). A benchmark, not a
test: run it alone, with the threads the timed jobs get.

    OMP_NUM_THREADS=2 PJRT_NPROC=2 XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \\
        KERAS_BACKEND=jax python benchmarks/timed.py --processes 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(experiment, scale, rounds):
    """Epoch seconds of every variant of `experiment`, interleaved."""
    import numpy as np

    from linked_neurons.experiments.build import build
    from linked_neurons.experiments.data import prepare
    from linked_neurons.experiments.loop import EpochRunner
    from linked_neurons_core import datasets
    from linked_neurons_core.table import Table

    table = Table()
    runners = {}
    for variant in table.variants(experiment):
        config = table.resolve(experiment, variant, scale, None, seed=100)
        (x, y) = prepare(config)[0]
        # The group's own build: seeded and compiled as the timed job does it.
        model, _ = build(config, x.shape[1:], datasets.num_classes(config["dataset"]),
                         len(x) // config["batch_size"])
        runner = EpochRunner(model, x, y, config["batch_size"], packed=False)
        order = np.random.default_rng(0).permutation(len(x))
        runner.run(order)  # compilation
        runners[variant] = (runner, order)
    names, times = list(runners), {name: [] for name in runners}
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            runner, order = runners[name]
            start = time.perf_counter()
            runner.run(order)
            times[name].append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", help="a timed experiment (default: each of the table's)")
    parser.add_argument("--scale", default="quick")
    parser.add_argument("--rounds", type=int, default=16, help="timed epochs of each network")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from linked_neurons_core.table import Table

    table = Table()
    timed = [e for e, spec in table.experiments.items() if spec.get("timed")]
    if args.experiment and args.experiment not in timed:
        parser.error(f"--experiment {args.experiment} is not timed: use one of {', '.join(timed)}")
    if args.worker:
        print(json.dumps(worker(args.experiment, args.scale, args.rounds)))
        return 0
    for experiment in [args.experiment] if args.experiment else timed:
        reference = table.experiments[experiment]["layout"]["reference"]
        for p in range(args.processes):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "--experiment", experiment, "--scale", args.scale,
                 "--rounds", str(args.rounds)], env=os.environ, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{experiment}: process {p + 1} failed:\n{out.stderr[-2000:]}")
            times = json.loads(out.stdout.strip().splitlines()[-1])
            half = args.rounds // 2
            for label, part in (("first half", slice(0, half)), ("second half", slice(half, None))):
                median = {k: statistics.median(v[part]) for k, v in times.items()}
                ratios = (f"{k} {median[k]:.3f} s ({median[k] / median[reference]:.2f})" for k in times)
                print(f"{experiment} process {p + 1}, {label}: " + ", ".join(ratios), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
