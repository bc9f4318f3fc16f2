"""One training run: the unit of work of the Snakemake DAG.

`train(experiment, variant, seed, scale, out)` trains one run of the table and
writes into `out`:

- TensorBoard event files: per epoch loss, accuracy, val_loss, val_accuracy,
  learning rate and epoch seconds (tags `epoch/...`), and the run's
  hyperparameters for the HParams dashboard; written with TensorBoard's own
  writer, so no TensorFlow is needed and every Keras backend works;
- `config.json`, the resolved configuration;
- `metrics.json`, the run's summary (atomically, last);
- `checkpoint/`, the last finished epoch, from which a killed run resumes.
"""

import logging
import math
import os
import shutil
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

from linked_neurons import datasets
from linked_neurons.experiments.io import atomic_write_json
from linked_neurons.experiments.io import read_json
from linked_neurons.experiments.table import ConfigError
from linked_neurons.experiments.table import Table

log = logging.getLogger("linked_neurons.train")

TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def prepare(config):
    """The run's data, preprocessed: (x, y), (x_val, y_val)."""
    (x, y), (xv, yv) = datasets.load(config["dataset"])
    size = config.get("image_size")
    if size:
        x, xv = (fit_size(a, size) for a in (x, xv))
    shift = config["input_offset"] - (0.5 if config["input_center"] else 0.0)
    if shift:
        x, xv = x + np.float32(shift), xv + np.float32(shift)
    if config.get("max_train_samples"):
        x, y = x[: config["max_train_samples"]], y[: config["max_train_samples"]]
    return (x, y), (xv, yv)


def fit_size(images, size):
    """Zero-pad (or centre-crop) NHWC images to size x size (`image_size`)."""
    out = images
    for axis in (1, 2):
        n = out.shape[axis]
        if n < size:
            pad = [(0, 0)] * out.ndim
            pad[axis] = ((size - n) // 2, size - n - (size - n) // 2)
            out = np.pad(out, pad)
        elif n > size:
            start = (n - size) // 2
            out = np.take(out, range(start, start + size), axis=axis)
    return out


def compile_for_training(model, config, steps_per_epoch):
    """Compile `model` as a run of `config` trains it (also used by benchmarks/gpu.py).

    `steps_per_execution: 0` means the whole epoch in one call where the
    backend allows it; Keras's torch backend runs one step a call.
    """
    import keras

    from linked_neurons.experiments.optimizers import make_optimizer

    whole_epoch = 1 if keras.backend.backend() == "torch" else steps_per_epoch
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
        steps_per_execution=config["steps_per_execution"] or whole_epoch,
    )


def dead_units(model, x, batch_size=512):
    """Per activation layer: units (channels) that are zero on every sample."""
    import keras
    from keras import ops

    from linked_neurons import Linked
    from linked_neurons.experiments.models import activation_layers

    probed = activation_layers(model)
    if not probed:
        return {}
    outputs = []
    for layer in probed:
        a = ops.abs(layer.output)
        axes = tuple(range(1, len(a.shape) - 1))
        outputs.append(ops.max(a, axis=axes) if axes else a)
    probe = keras.Model(model.input, outputs)
    maxima = probe.predict(x, batch_size=batch_size, verbose=0)
    if len(probed) == 1:
        maxima = [maxima]
    result = {}
    for layer, m in zip(probed, maxima):
        silent = m.max(axis=0) == 0
        if isinstance(layer, Linked):
            # A linked unit is dead only when both of its members are.
            half = silent.shape[-1] // 2
            silent = silent[:half] & silent[half:]
        result[layer.name] = {"dead": int(silent.sum()), "units": int(silent.shape[-1])}
    return result


class _Checkpoints:
    """`epoch-NNNN.keras` + `epoch-NNNN.json` pairs; the newest complete wins."""

    def __init__(self, directory):
        self.dir = Path(directory)

    def latest(self):
        if not self.dir.is_dir():
            return None
        for state in sorted(self.dir.glob("epoch-*.json"), reverse=True):
            model = state.with_suffix(".keras")
            if model.exists():
                return model, read_json(state)
        return None

    def save(self, model, state):
        self.dir.mkdir(parents=True, exist_ok=True)
        stem = self.dir / f"epoch-{len(state['history']):04d}"
        tmp = self.dir / f".{stem.name}.tmp.keras"
        model.save(tmp)
        os.replace(tmp, stem.with_suffix(".keras"))
        atomic_write_json(stem.with_suffix(".json"), state)
        for old in self.dir.glob("epoch-*"):
            if old.stem != stem.name:
                old.unlink(missing_ok=True)


class _Events:
    """The run's TensorBoard event file, written with TensorBoard's own writer
    and protos: no TensorFlow (nor torch) needed, every Keras backend works."""

    def __init__(self, logdir):
        import keras

        if keras.backend.backend() != "tensorflow":
            # TensorBoard's own switch to its TensorFlow stub: otherwise it
            # imports TensorFlow whenever installed (1.6 s here) for a file
            # writer that the stub provides as well.
            sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.writer = EventFileWriter(str(logdir), flush_secs=3600)

    def _write(self, summary, step):
        from tensorboard.compat.proto.event_pb2 import Event

        self.writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))

    def hparams(self, config):
        from tensorboard.plugins.hparams import summary_v2 as hp

        flat = {
            key: value
            for key, value in _flatten(config).items()
            if isinstance(value, (str, bool, int, float)) and key != "title"
        }
        metrics = [hp.Metric(f"epoch/{tag}") for tag in ("val_accuracy", "val_loss")]
        self._write(hp.hparams_config_pb([hp.HParam(k) for k in flat], metrics), 0)
        self._write(hp.hparams_pb(flat), 0)

    def epoch(self, record):
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=f"epoch/{t}", simple_value=record[t]) for t in TAGS]
        self._write(Summary(value=values), record["epoch"])
        self.writer.flush()

    def close(self):
        self.writer.close()


def _flatten(config, prefix=""):
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _reseed(model, seed, epoch):
    """Set the state of every random layer (dropout, augmentation) from
    (seed, epoch): Keras does not save it, and a resumed run needs it."""
    states = [v for v in model.variables if v.name == "seed_generator_state"]
    for i, state in enumerate(states):
        value = np.random.default_rng([seed, epoch, i]).integers(2**30)
        state.assign(np.array([value, 0], dtype=state.dtype))


def _seed(seed):
    """`keras.utils.set_random_seed`, without importing TensorFlow for the
    other backends: Keras seeds TensorFlow whenever it is installed, which
    cost 1.6 of a quick run's 4.6 s here. In a fresh process the rest of what
    it does is seeding Python's and NumPy's generators, and torch's."""
    import random

    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def _finite(value):
    return value is not None and math.isfinite(value)


def summarize(config, history, diverged, params, dead, backend):
    accs = [r["val_accuracy"] for r in history if _finite(r["val_accuracy"])]
    seconds = [r["seconds"] for r in history]
    best = max(range(len(accs)), key=accs.__getitem__) if accs else None
    return {
        "experiment": config["experiment"],
        "variant": config["variant"],
        "seed": config["seed"],
        "scale": config["scale"],
        "best_val_accuracy": accs[best] if accs else None,
        "best_epoch": best + 1 if accs else None,
        "final_val_accuracy": history[-1]["val_accuracy"] if history else None,
        "epochs_run": len(history),
        "epochs_planned": config["epochs"],
        "median_epoch_seconds": statistics.median(seconds[1:] or seconds) if seconds else None,
        "train_seconds": sum(seconds),
        "params": params,
        "dead_units": dead,
        "diverged": diverged,
        "backend": backend,
        "history": history,
    }


def train(
    experiment,
    variant,
    seed=None,
    scale="quick",
    out=None,
    overrides=None,
    table=None,
):
    """Train one run of the article and return its metrics (see module doc).

    A finished run (its metrics.json exists) is returned as it is; a run
    killed part-way resumes from its last finished epoch and ends with the
    same metrics as an uninterrupted one.
    """
    table = table if isinstance(table, Table) else Table(table)
    config = table.resolve(experiment, variant, scale, overrides, seed)
    if seed is None:
        config["seed"] = seed = config["seeds"][0]
    out = Path(out or Path("results") / scale / "runs" / experiment / variant / str(seed))
    config_file, metrics_file = out / "config.json", out / "metrics.json"
    if config_file.exists() and read_json(config_file) != config:
        old = _flatten(read_json(config_file))
        new = _flatten(config)
        key = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
        raise ConfigError(
            f"{out} holds a run with another configuration ({key}: "
            f"{old.get(key)!r} there, {new.get(key)!r} now): use another --out "
            "or remove that directory"
        )
    if metrics_file.exists():
        log.info("%s is complete; nothing to do", out)
        return read_json(metrics_file)
    atomic_write_json(config_file, config)
    return _fit(config, out)


def _fit(config, out):
    import keras

    from linked_neurons.experiments import schedules  # noqa: F401 (registers it)
    from linked_neurons.experiments.loop import EpochRunner
    from linked_neurons.experiments.models import build_model

    if keras.backend.backend() == "jax":
        import jax

        # The partitionable threefry (jax's default) takes seconds to compile
        # on the CPU for every random op (dropout, augmentation): about 6 of
        # the 8 s that All-CNN's training step took. One device needs no
        # partitioning; the random bits differ but stay seeded.
        jax.config.update("jax_threefry_partitionable", False)
    _seed(config["seed"])
    if config["precision"] != "float32":
        keras.config.set_dtype_policy(config["precision"])
    (x, y), (xv, yv) = prepare(config)
    batch = config["batch_size"]
    steps = len(x) // batch
    if steps == 0:
        raise ConfigError(
            f"{config['experiment']}/{config['variant']}: batch_size {batch} is "
            f"larger than the {len(x)} training samples"
        )
    checkpoints = _Checkpoints(out / "checkpoint")
    resumed = checkpoints.latest()
    if resumed:
        model = keras.saving.load_model(resumed[0])
        history = resumed[1]["history"]
        log.info("resuming %s after epoch %d", out, len(history))
    else:
        model = build_model(config, x.shape[1:], datasets.num_classes(config["dataset"]))
        compile_for_training(model, config, steps)
        history = []
    # A resumed run rewrites its event file from the checkpoint, whose history
    # holds every finished epoch, so the events always agree with it.
    for stale in out.glob("events.out.tfevents.*"):
        stale.unlink()
    events = _Events(out)
    events.hparams(config)
    for record in history:
        events.epoch(record)
    runner = EpochRunner(model, x, y, batch, scan=config["train_loop"] == "scan")
    diverged = any(not _finite(r["loss"]) for r in history)
    val_batch = min(len(xv), 1024)
    epoch = len(history)
    saved = time.perf_counter()
    while epoch < config["epochs"] and not diverged:
        # The epoch's order depends on (seed, epoch) alone, so a resumed run
        # sees the same batches as an uninterrupted one.
        order = np.random.default_rng([config["seed"], epoch]).permutation(len(x))
        _reseed(model, config["seed"], epoch)
        start = time.perf_counter()
        record = runner.run(order)
        val = model.evaluate(xv, yv, batch_size=val_batch, return_dict=True, verbose=0)
        seconds = time.perf_counter() - start
        epoch += 1
        record = {key: float(value) for key, value in record.items() if key in TAGS}
        record.update({f"val_{key}": float(val[key]) for key in ("loss", "accuracy")})
        # Keras evaluates the schedule at the optimizer's step: the next rate.
        record.update(epoch=epoch, seconds=seconds, learning_rate=float(model.optimizer.learning_rate))
        history.append(record)
        events.epoch(record)
        diverged = not (_finite(record["loss"]) and _finite(record["val_loss"]))
        if diverged:
            log.warning("%s diverged at epoch %d (loss %s)", out, epoch, record["loss"])
        elif time.perf_counter() - saved >= config["checkpoint_seconds"] and epoch < config["epochs"]:
            checkpoints.save(model, {"history": history})
            saved = time.perf_counter()
    events.close()
    dead = {} if diverged else dead_units(model, xv)
    metrics = summarize(
        config, history, diverged, model.count_params(), dead, keras.backend.backend()
    )
    atomic_write_json(out / "metrics.json", metrics)
    shutil.rmtree(checkpoints.dir, ignore_errors=True)  # the run is complete
    return metrics
