"""The quick article against the floor of this machine: FLOPs, ms per step, matmul speed.

In one run, for each quick-scale network of every experiment (the variants of
an experiment that build the same network, whatever their activation
function, optimizer or schedule, are one network: its first variant, single
or linked units, width, normalization):

  GFLOP/step  XLA's cost analysis of the jitted training step (Keras's
              `train_step`: forward, backward, optimizer), lowered HLO;
  runner ms   the runner's median ms per training step (`EpochRunner`, as a
              run trains, evaluation excluded), epochs of every network
              interleaved, after a warm-up (compilation) epoch each;
  floor ms    FLOPs / this machine's single-thread float32 matmul speed
              (XLA's dot of 1024x1024, best of 5), measured in the same run;
  ratio       runner / floor.

Then the whole article's training FLOPs (steps x epochs x runs, over the
groups the pipeline trains: a run shared by two experiments counts once),
with the configured epochs (early stopping can end runs sooner: its
`min_epochs` gives the lower bound), and its floor time on `--cores` cores; a
run's FLOPs are those of its network's representative (activations differ
only in elementwise work). Also the article's training time at the measured
ms per step (per core, one job per core): what the runner would take.

Runs with the pipeline's thread settings (one XLA pool thread, PJRT_NPROC=1)
unless the environment says otherwise. A benchmark, not a test.

    KERAS_BACKEND=jax python benchmarks/floor.py                # everything, a few minutes
    KERAS_BACKEND=jax python benchmarks/floor.py --experiments depth --epochs 3
    KERAS_BACKEND=jax python benchmarks/floor.py --set conv_impl=matmul  # the table's networks changed
    KERAS_BACKEND=jax python benchmarks/floor.py --compare conv_impl=matmul  # both, side by side

`--compare KEY=VALUE` builds each network a second time with that override
and times both, epochs interleaved: the `alt ms` column and `speed-up`
(runner ms / alt ms), and the article's time at the alternative's speed.

`--convolutions` then times each network's convolution layers one at a time,
outside the step (the layer as built, forward and backward with respect to its
input and its weights, on random input of its shape at the network's batch
size, jitted; the best of 5 repeats), and prints their sum against the
runner's ms per step: how much of a step the convolutions are, and so how much
a faster convolution could save. Alone a layer misses the step's fusions and
caches, so the share is an estimate. `--shapes` also lists each distinct layer.

    KERAS_BACKEND=jax python benchmarks/floor.py --experiments resnet50 --convolutions --shapes
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from linked_neurons_core import threads

threads.keep_to(1)  # the training rule's environment, one thread; jax unless chosen
threads.leave_out()  # and its start-up: what a training job never imports
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

#: The keys that make two variants of one experiment the same network.
NETWORK_KEYS = ("architecture", "width_multiplier", "width_scale", "normalization",
                "stem_normalization", "image_size", "batch_size", "depth", "filters",
                "augment", "dropout", "max_train_samples")


def network_key(config):
    linked = config["activation"].startswith("lk")
    return (config["experiment"], linked) + tuple(repr(config.get(k)) for k in NETWORK_KEYS)


def matmul_floor(n=1024, reps=5):
    """Single-thread float32 matmul speeds, FLOP/s: (XLA's dot, numpy's BLAS)."""
    import jax
    import jax.numpy as jnp

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    f = jax.jit(lambda a: a @ a)
    x = jnp.asarray(a)
    f(x).block_until_ready()
    best = min(_timed(lambda: f(x).block_until_ready()) for _ in range(reps))
    best_np = min(_timed(lambda: a @ a) for _ in range(reps))
    return 2 * n**3 / best, 2 * n**3 / best_np


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def groups(table, experiments):
    """{(experiment, variant) trained: number of runs}, as the pipeline trains them."""
    out = {}
    for experiment, variant, seed in table.runs("quick", experiments):
        out.setdefault(table.trained_as(experiment, variant, "quick"), set()).add(seed)
    return {owner: len(seeds) for owner, seeds in out.items()}


class Network:
    """One quick-scale network: its model, compiled as a run trains it, and its data."""

    def __init__(self, config):
        import jax

        from linked_neurons.experiments.build import compile_for_training
        from linked_neurons.experiments.data import prepare
        from linked_neurons.experiments.loop import EpochRunner
        from linked_neurons.experiments.models import build_model
        from linked_neurons_core import datasets

        self.config = config
        self.name = f"{config['experiment']}/{config['variant']}"
        (x, y) = prepare(config)[0]
        batch = config["batch_size"]
        self.steps = len(x) // batch
        model = build_model(config, x.shape[1:], datasets.num_classes(config["dataset"]))
        compile_for_training(model, config, self.steps)
        model._symbolic_build(data_batch=(x[:batch], y[:batch]))
        state = tuple([v.value for v in group] for group in (
            model.trainable_variables, model.non_trainable_variables,
            model.optimizer.variables, model.metrics_variables))
        cost = jax.jit(model.train_step).lower(state, (x[:batch], y[:batch])).cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        self.flops = float(cost["flops"])
        self.model = model
        self.runner = EpochRunner(model, x, y, batch)
        self.order = np.arange(len(x))
        self.times = []
        start = time.perf_counter()
        self.runner.run(self.order)  # compiles
        self.first_epoch = time.perf_counter() - start

    def epoch(self):
        start = time.perf_counter()
        self.runner.run(self.order)
        self.times.append((time.perf_counter() - start) / self.steps)

    @property
    def ms_per_step(self):
        return 1e3 * statistics.median(self.times)


def convolution_ms(model, batch, reps=50):
    """{(layer class, input shape, kernel shape, strides): (count, ms)}: each of
    `model`'s convolution layers alone, forward and backward, ms per call."""
    import jax
    import jax.numpy as jnp

    def timed(layer, shape):
        trainable = [v.value for v in layer.trainable_variables]
        x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, *shape), np.float32))

        def loss(trainable, x):
            out, _ = layer.stateless_call(trainable, [], x)
            return jnp.sum(out * out)

        grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
        jax.block_until_ready(grad(trainable, x))

        def calls():
            for _ in range(reps):
                out = grad(trainable, x)
            jax.block_until_ready(out)

        return 1e3 * min(_timed(calls) for _ in range(5)) / reps

    shapes = {}
    for layer in model.layers:
        if not hasattr(layer, "kernel") or len(layer.kernel.shape) != 4:
            continue
        key = (type(layer).__name__, tuple(layer.input.shape[1:]), tuple(layer.kernel.shape),
               tuple(layer.strides))
        if key in shapes:
            shapes[key][0] += 1
        else:
            shapes[key] = [1, timed(layer, key[1])]
    return shapes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", nargs="*", default=None)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per network (default 2)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides of every run (as linked-neurons train --set)")
    parser.add_argument("--compare", nargs="*", default=[], metavar="KEY=VALUE",
                        help="also time every network with these overrides, side by side")
    parser.add_argument("--convolutions", action="store_true",
                        help="also time each network's convolution layers alone: their share of a step")
    parser.add_argument("--shapes", action="store_true",
                        help="with --convolutions, list each distinct convolution layer")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="cores of the article's floor time (default: this machine's)")
    args = parser.parse_args(argv)

    import jax
    import keras

    from linked_neurons_core.table import Table
    from linked_neurons_core.table import parse_overrides

    jax.config.update("jax_threefry_partitionable", False)  # as the runs train
    started = time.perf_counter()
    table = Table()
    experiments = args.experiments or list(table.experiments)
    overrides = parse_overrides(args.set) if args.set else None
    compare = {**(overrides or {}), **parse_overrides(args.compare)} if args.compare else None
    trained = groups(table, experiments)
    classes = {}
    for (experiment, variant), runs in trained.items():
        config = table.resolve(experiment, variant, "quick", overrides, seed=100)
        key = network_key(config)
        if key not in classes:
            classes[key] = {"config": config, "groups": [], "alt": compare and table.resolve(
                experiment, variant, "quick", compare, seed=100)}
        classes[key]["groups"].append((config, runs))
    print(f"backend {keras.backend.backend()} (jax {jax.__version__}), "
          f"PJRT_NPROC={os.environ.get('PJRT_NPROC')}, {os.cpu_count()} cores here; "
          f"{sum(trained.values())} runs in {len(trained)} groups, {len(classes)} networks",
          flush=True)
    rate, rate_np = matmul_floor()
    print(f"matmul floor (1 thread, float32 1024^3): XLA {rate / 1e9:.0f} GFLOP/s, "
          f"numpy {rate_np / 1e9:.0f} GFLOP/s", flush=True)

    networks = []
    for entry in classes.values():
        network = Network(entry["config"])
        entry["network"] = network
        networks.append(network)
        print(f"  built {network.name}: {network.flops / 1e6:.1f} MFLOP/step, first epoch "
              f"{network.first_epoch:.1f} s", flush=True)
        if entry["alt"]:
            entry["alt_network"] = Network(entry["alt"])
            networks.append(entry["alt_network"])
    for repeat in range(args.epochs):
        shift = repeat % len(networks)
        for network in networks[shift:] + networks[:shift]:
            network.epoch()
    rate2, _ = matmul_floor()  # again: the machine's load may have changed
    rate = max(rate, rate2)

    print()
    print(f"{'network (quick)':32} {'runs':>4} {'steps':>5} {'MFLOP/step':>10} {'runner ms':>9} "
          f"{'floor ms':>8} {'ratio':>6} {'GFLOP/s':>7}"
          + (f" {'alt ms':>8} {'speed-up':>8}" if compare else ""))
    total = low = runner_seconds = alt_seconds = 0.0
    for entry in classes.values():
        n = entry["network"]
        floor_ms = 1e3 * n.flops / rate
        runs = sum(r for _, r in entry["groups"])
        print(f"{n.name:32} {runs:4d} {n.steps:5d} {n.flops / 1e6:10.1f} {n.ms_per_step:9.2f} "
              f"{floor_ms:8.3f} {n.ms_per_step / floor_ms:6.1f} "
              f"{n.flops / n.ms_per_step / 1e6:7.1f}"
              + (f" {entry['alt_network'].ms_per_step:8.2f} "
                 f"{n.ms_per_step / entry['alt_network'].ms_per_step:7.2f}x" if compare else ""))
        for config, runs in entry["groups"]:
            stop = config.get("early_stopping") or {}
            epochs = config["epochs"]
            first = min(epochs, stop.get("min_epochs", epochs)) if stop else epochs
            total += runs * epochs * n.steps * n.flops
            low += runs * first * n.steps * n.flops
            runner_seconds += runs * epochs * n.steps * n.ms_per_step / 1e3
            if compare:
                alt_seconds += runs * epochs * n.steps * entry["alt_network"].ms_per_step / 1e3
    print()
    print(f"article training: {total / 1e12:.1f} TFLOP at the configured epochs "
          f"({low / 1e12:.1f} if early stopping ended every run at its min_epochs)")
    print(f"floor on {args.cores} cores at {rate / 1e9:.0f} GFLOP/s a core: "
          f"{total / rate / args.cores / 60:.1f} min ({low / rate / args.cores / 60:.1f})")
    print(f"at the runner's measured ms/step: {runner_seconds / 60:.0f} core-minutes, "
          f"{runner_seconds / args.cores / 60:.1f} min on {args.cores} cores "
          f"(configured epochs, evaluation and start-up excluded)")
    if compare:
        print(f"with {' '.join(args.compare)}: {alt_seconds / 60:.0f} core-minutes, "
              f"{alt_seconds / args.cores / 60:.1f} min on {args.cores} cores "
              f"({runner_seconds / alt_seconds:.2f}x)")
    if args.convolutions:
        print()
        print(f"{'network (quick)':32} {'convs':>5} {'conv ms':>8} {'runner ms':>9} {'share':>6}")
        for entry in classes.values():
            n = entry["network"]
            shapes = convolution_ms(n.model, n.config["batch_size"])
            conv_ms = sum(count * ms for count, ms in shapes.values())
            print(f"{n.name:32} {sum(c for c, _ in shapes.values()):5d} {conv_ms:8.2f} "
                  f"{n.ms_per_step:9.2f} {conv_ms / n.ms_per_step:6.2f}", flush=True)
            if args.shapes:
                for (kind, shape, kernel, strides), (count, ms) in sorted(
                        shapes.items(), key=lambda kv: -kv[1][0] * kv[1][1]):
                    print(f"    {count:3d} x {kind} {shape} kernel {kernel} strides {strides}: "
                          f"{1e3 * ms:8.1f} us")
    print(f"(this benchmark: {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
