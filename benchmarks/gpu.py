"""The cost of the paper scale, measured: every architecture at the paper's
batch size, one run alone and several runs at once on one device.

For each benchmarked run (RUNS: one per cost class of the paper scale, that is
architecture x single/linked x normalization x width, plus all six networks
of Table 6), K worker processes (K in `--concurrency`) train that run's
paper-scale network at once on the same device, each with 1/K of its memory,
on random data of the paper dataset's shape, through the experiment runner's
own loop and compilation (`train_loop` as the table says, or `--set`):

  a warm-up epoch (compilation, into a persistent cache that every worker
  shares, so that each program is compiled once a command); a barrier, so
  that the K workers time the same moment; then `--epochs` timed epochs of `--samples` images, each
  followed by the evaluation of `--samples / 5` images (CIFAR-10's test to
  train ratio).

Each measurement appends one row to `--out` (default benchmarks/gpu.csv),
rewritten atomically, so a command cut off by a time limit keeps what it
measured: device, backend, experiment, variant, architecture, loop,
batch_size, concurrency, images_per_second (one worker, training only),
seconds_per_epoch (one worker, training and evaluation, scaled to the paper
dataset's size), epoch_seconds_measured, samples, epochs, overrides (`--set`,
as JSON; the pipeline prices the paper only with rows measured without any:
to price another loop, make it the table's paper-scale `train_loop` first).

The pipeline turns it into GPU-hours per experiment and for the whole article
(workflow/scripts/cost.py, the paper's appendix). A benchmark, not a test: run
it on the machine whose cost you want.

    KERAS_BACKEND=jax python benchmarks/gpu.py --concurrency 1 4
    KERAS_BACKEND=jax python benchmarks/gpu.py --only resnet50_nobn --concurrency 1 8
"""

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (experiment, variant): one run per cost class of the paper scale, and the
#: six networks of Table 6, whose time ratios the paper reports.
RUNS = [
    ("width", "w50_relu"), ("width", "w50_lkrelu"), ("width", "w400_relu"), ("width", "w400_lkrelu"),
    ("depth", "relu"), ("depth", "lkrelu"), ("depth", "relu_sqrt2"), ("depth", "bn"), ("depth", "brn"),
    ("extended", "relu"), ("extended", "lkrelu"), ("extended", "relu_sqrt2"),
    ("allcnn", "relu_fixed"), ("allcnn", "lkrelu_fixed"),
    ("resnet50", "relu"),
    ("resnet50_nobn", "lkrelu_batchnorm"), ("resnet50_nobn", "lkrelu_none"),
    ("resnet50_nobn", "selu_batchnorm"), ("resnet50_nobn", "selu_none"),
    ("resnet50_nobn", "lkselu_batchnorm"), ("resnet50_nobn", "lkselu_none"),
    ("input_shift", "relu_shift0"), ("input_shift", "lkrelu_shift0"),
]
COLUMNS = ["device", "backend", "experiment", "variant", "architecture", "loop", "batch_size",
           "concurrency", "images_per_second", "seconds_per_epoch", "epoch_seconds_measured",
           "samples", "epochs", "overrides"]


def measure(experiment, variant, samples, epochs, overrides, ready, go):
    """One worker: warm up, signal `ready`, wait for `go`, time epochs."""
    import numpy as np

    from linked_neurons.experiments.build import compile_for_training
    from linked_neurons.experiments.data import fit_size
    from linked_neurons.experiments.loop import EpochRunner
    from linked_neurons.experiments.models import build_model
    from linked_neurons_core import datasets
    from linked_neurons_core.table import Table

    config = Table().resolve(experiment, variant, "paper", overrides)
    config["seed"] = 0
    info = datasets.info(config["dataset"])
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(samples, *info["image_shape"])).astype("float32")
    if config.get("image_size"):  # as the run pads or crops its images
        x = fit_size(x, config["image_size"])
    shape = x.shape[1:]
    y = rng.integers(0, info["num_classes"], size=samples)
    xv, yv = x[: max(samples // 5, 1)], y[: max(samples // 5, 1)]
    batch = config["batch_size"]
    model = build_model(config, shape, info["num_classes"])
    compile_for_training(model, config, samples // batch)
    runner = EpochRunner(model, x, y, batch, scan=config["train_loop"] == "scan")
    order = np.arange(samples)

    def epoch():
        start = time.perf_counter()
        runner.run(order)
        trained = time.perf_counter()
        model.evaluate(xv, yv, batch_size=min(len(xv), 1024), verbose=0)
        return trained - start, time.perf_counter() - start

    epoch()  # compilation
    Path(ready).touch()
    deadline = time.monotonic() + 900
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go signal: another worker failed")
        time.sleep(0.02)
    timings = [epoch() for _ in range(epochs)]
    train = statistics.median(t for t, _ in timings)
    whole = statistics.median(t for _, t in timings)
    return {
        "architecture": config["architecture"], "loop": config["train_loop"], "batch_size": batch,
        "images_per_second": samples / train,
        "seconds_per_epoch": whole * info["num_train"] / samples,
        "epoch_seconds_measured": whole,
    }


def run_concurrently(experiment, variant, k, args):
    """K workers of one run at once; their results, or an error naming the run."""
    with tempfile.TemporaryDirectory() as sync:
        sync = Path(sync)
        env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
               "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / k:.3f}",
               # One persistent compilation cache for every worker: a run is
               # compiled once, not once per worker and concurrency (jax).
               "JAX_COMPILATION_CACHE_DIR": args.cache,
               "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
        workers = []
        for i in range(k):
            # Output to files, not pipes: a worker that logs much before the
            # barrier must not block on a full pipe.
            with (sync / f"log{i}").open("w") as log:
                workers.append(subprocess.Popen(
                    [sys.executable, __file__, "--worker", experiment, variant,
                     "--samples", str(args.samples), "--epochs", str(args.epochs),
                     "--ready", str(sync / f"ready{i}"), "--go", str(sync / "go"),
                     "--result", str(sync / f"result{i}.json"),
                     *sum((["--set", s] for s in args.set), [])],
                    env=env, stdout=log, stderr=subprocess.STDOUT))

        def failure(i):
            for w in workers:
                w.kill()
            tail = (sync / f"log{i}").read_text()[-2000:]
            return RuntimeError(f"{experiment}/{variant} x{k}: worker {i} failed:\n{tail}")

        while sum((sync / f"ready{i}").exists() for i in range(k)) < k:
            failed = [i for i, w in enumerate(workers) if w.poll() not in (None, 0)]
            if failed:
                raise failure(failed[0])
            time.sleep(0.05)
        (sync / "go").touch()
        for i, w in enumerate(workers):
            if w.wait():
                raise failure(i)
        return [json.loads((sync / f"result{i}.json").read_text()) for i in range(k)]


def device_name():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].device_kind
    return "cpu"


def append(path, row):
    """Add `row` to the CSV at `path`, rewriting it atomically."""
    from linked_neurons_core.io import atomic_write_text

    path = Path(path)
    rows = list(csv.DictReader(path.open())) if path.exists() else []
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows([*rows, row])
    atomic_write_text(path, text.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--samples", type=int, default=4096, help="training images a timed epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up")
    parser.add_argument("--only", nargs="+", default=[],
                        help="experiments or experiment/variant pairs of RUNS to measure")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a run-configuration override, as for linked-neurons train")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "gpu.csv"))
    parser.add_argument("--cache", help="the workers' jax compilation cache (default: a temporary "
                        "directory for this command); timed epochs never include compilation")
    parser.add_argument("--worker", nargs=2, metavar=("EXPERIMENT", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from linked_neurons_core.table import parse_overrides

    overrides = parse_overrides(args.set)
    if args.worker:
        result = measure(*args.worker, args.samples, args.epochs, overrides, args.ready, args.go)
        Path(args.result).write_text(json.dumps(result))
        return 0
    runs = [r for r in RUNS if not args.only or r[0] in args.only or "/".join(r) in args.only]
    if not runs:
        parser.error(f"--only {' '.join(args.only)} matches none of the benchmarked runs")
    from linked_neurons_core.table import ConfigError
    from linked_neurons_core.table import Table

    table = Table()
    for experiment, variant in runs:  # a bad --set fails here, not in K workers
        try:
            config = table.resolve(experiment, variant, "paper", overrides)
        except ConfigError as error:
            parser.error(str(error))
        if args.samples < config["batch_size"]:
            parser.error(f"--samples {args.samples} is less than {experiment}/{variant}'s "
                         f"batch of {config['batch_size']}")
    # This process only names the device: jax's default would reserve 75% of
    # its memory here, beside the workers' own fractions.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import keras

    device = device_name()
    print(f"{device}, {keras.backend.backend()}: {len(runs)} runs x concurrency {args.concurrency}, "
          f"{args.samples} images x {args.epochs} epochs -> {args.out}", flush=True)
    print(f"{'run':32} {'K':>3} {'img/s one':>10} {'img/s all':>10} {'s/epoch':>9} {'wall s':>7}", flush=True)
    with tempfile.TemporaryDirectory() as cache:
        args.cache = args.cache or cache
        for experiment, variant in runs:
            for k in args.concurrency:
                measure_and_record(experiment, variant, k, args, device, overrides)
    return 0


def measure_and_record(experiment, variant, k, args, device, overrides):
    import keras

    start = time.perf_counter()
    results = run_concurrently(experiment, variant, k, args)
    row = {
        **results[0],
        "device": device, "backend": keras.backend.backend(),
        "experiment": experiment, "variant": variant, "concurrency": k,
        "images_per_second": statistics.median(r["images_per_second"] for r in results),
        "seconds_per_epoch": statistics.median(r["seconds_per_epoch"] for r in results),
        "epoch_seconds_measured": statistics.median(r["epoch_seconds_measured"] for r in results),
        "samples": args.samples, "epochs": args.epochs,
        "overrides": json.dumps(overrides, sort_keys=True) if overrides else "",
    }
    append(args.out, row)
    print(f"{experiment + '/' + variant:32} {k:3d} {row['images_per_second']:10.0f} "
          f"{row['images_per_second'] * k:10.0f} {row['seconds_per_epoch']:9.1f} "
          f"{time.perf_counter() - start:7.1f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
