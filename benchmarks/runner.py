"""Epoch time of the paper's ResNet50: the runner's loops against a plain fit.

Builds the paper-scale ResNet50 of the experiment table (32x32x3 inputs,
random data) for two variants, BN + ReLU and LK-ReLU without BN, and times
epochs of

  fit     a plain default `model.fit(x, y, batch_size=128, epochs=1)` after a
          default `model.compile` (the issue's baseline);
  runner  the experiment runner as the paper scale configures it
          (`compile_for_training`, `train_loop` of the table: `fit` with the
          whole epoch a call where the backend allows it);
  scan    the runner with `train_loop: scan` (data on the device, one
          compiled call per epoch; jax only),

side by side in one run: after a warm-up epoch of each (compilation), the
loops alternate for `--epochs` epochs; the script prints the median epoch
time, images per second and each loop's speed-up over the plain fit. A
benchmark, not a test.

    KERAS_BACKEND=jax python benchmarks/runner.py --samples 2048 --epochs 3
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from linked_neurons.experiments.build import compile_for_training  # noqa: E402
from linked_neurons.experiments.loop import EpochRunner  # noqa: E402
from linked_neurons.experiments.models import build_model  # noqa: E402
from linked_neurons.experiments.optimizers import make_optimizer  # noqa: E402
from linked_neurons_core.table import Table  # noqa: E402

VARIANTS = {"BN+ReLU": ("resnet50", "relu"), "LK-ReLU no BN": ("resnet50_nobn", "lkrelu_none")}


def model_for(experiment, variant):
    config = Table().resolve(experiment, variant, "paper")
    config["seed"] = 0
    return build_model(config, (32, 32, 3), 10), config


def loops(experiment, variant, x, y):
    """{loop name: a function that trains one epoch}."""
    order = np.arange(len(x))
    model, config = model_for(experiment, variant)
    batch, steps = config["batch_size"], len(x) // config["batch_size"]
    model.compile(optimizer=make_optimizer(config, steps), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    result = {"fit": lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)}
    table_scan = config["train_loop"] == "scan"
    runners = {"runner": table_scan}
    if keras.backend.backend() == "jax" and not table_scan:
        runners["scan"] = True
    for name, scan in runners.items():
        model, config = model_for(experiment, variant)
        compile_for_training(model, config, steps)
        runner = EpochRunner(model, x, y, batch, scan=scan)
        result[name] = lambda runner=runner: runner.run(order)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.samples, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=args.samples)
    print(f"backend {keras.backend.backend()}, devices {_devices()}, "
          f"{args.samples} images of 32x32x3, {args.epochs} timed epochs each")
    print(f"{'variant':16} {'loop':7} {'epoch s':>8} {'images/s':>9} {'compile s':>9} "
          f"{'vs fit':>9}", flush=True)
    for name, (experiment, variant) in VARIANTS.items():
        fns = loops(experiment, variant, x, y)
        times, compile_s = {loop: [] for loop in fns}, {}
        for loop, fn in fns.items():
            start = time.perf_counter()
            fn()
            compile_s[loop] = time.perf_counter() - start
        for _ in range(args.epochs):
            for loop, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[loop].append(time.perf_counter() - start)
        fit = statistics.median(times["fit"])
        for loop in fns:
            median = statistics.median(times[loop])
            print(f"{name:16} {loop:7} {median:8.3f} {args.samples / median:9.0f} "
                  f"{compile_s[loop]:9.2f} {fit / median:8.2f}x", flush=True)


def _devices():
    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(d.device_kind for d in jax.devices())
    return os.environ.get("CUDA_VISIBLE_DEVICES", "default")


if __name__ == "__main__":
    main()
