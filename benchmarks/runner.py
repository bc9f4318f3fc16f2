"""Epoch time of the paper's ResNet50: our training loop against a plain fit.

Builds the paper-scale ResNet50 of the experiment table (32x32x3 inputs,
random data) for two variants, BN + ReLU and LK-ReLU without BN, and times
epochs of

  runner  the experiment runner's scan loop (train_loop: scan,
          linked_neurons.experiments.loop: data on the device, one compiled
          call per epoch; jax only), and
  fit     a plain default `model.fit(x, y, batch_size=128, epochs=1)`,

side by side in one run: after a warm-up epoch of each (compilation), the
two alternate for `--epochs` epochs; the script prints the median epoch time,
images per second and the ratio fit / runner. A benchmark, not a test.

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

from linked_neurons.experiments.loop import EpochRunner  # noqa: E402
from linked_neurons.experiments.models import build_model  # noqa: E402
from linked_neurons.experiments.table import Table  # noqa: E402
from linked_neurons.experiments.train import make_optimizer  # noqa: E402

VARIANTS = {"BN+ReLU": ("resnet50", "relu"), "LK-ReLU no BN": ("resnet50_nobn", "lkrelu_none")}


def model_for(experiment, variant, steps):
    config = Table().resolve(experiment, variant, "paper")
    config["seed"] = 0
    model = build_model(config, (32, 32, 3), 10)
    model.compile(optimizer=make_optimizer(config, steps), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, config["batch_size"]


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
    print(f"{'variant':16} {'loop':7} {'epoch s':>8} {'images/s':>9} {'compile s':>9}")
    for name, (experiment, variant) in VARIANTS.items():
        times, compile_s = {}, {}
        runner_model, batch = model_for(experiment, variant, args.samples // 128)
        fit_model, _ = model_for(experiment, variant, args.samples // 128)
        runner = EpochRunner(runner_model, x, y, batch, scan=True)
        order = np.arange(args.samples)

        def via_runner():
            runner.run(order)

        def via_fit():
            fit_model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

        loops = {"runner": via_runner, "fit": via_fit}
        for loop, fn in loops.items():
            start = time.perf_counter()
            fn()
            compile_s[loop] = time.perf_counter() - start
            times[loop] = []
        for _ in range(args.epochs):
            for loop, fn in loops.items():
                start = time.perf_counter()
                fn()
                times[loop].append(time.perf_counter() - start)
        for loop in loops:
            median = statistics.median(times[loop])
            print(f"{name:16} {loop:7} {median:8.3f} {args.samples / median:9.0f} {compile_s[loop]:9.2f}")
        ratio = statistics.median(times["fit"]) / statistics.median(times["runner"])
        print(f"{name:16} fit / runner epoch time: {ratio:.2f}x")


def _devices():
    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(d.device_kind for d in jax.devices())
    return os.environ.get("CUDA_VISIBLE_DEVICES", "default")


if __name__ == "__main__":
    main()
