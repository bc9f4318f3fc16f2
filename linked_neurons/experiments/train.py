"""Training runs: the unit of work of the Snakemake DAG.

`train_group(experiment, variant, seeds, ...)` trains the runs of one variant
(one per seed) in one process, and `train(...)` one run, as a group of one.
Each run writes into its own directory:

- TensorBoard event files: per epoch loss, accuracy, val_loss, val_accuracy,
  learning rate and epoch seconds (tags `epoch/...`), and the run's
  hyperparameters for the HParams dashboard; written with TensorBoard's own
  writer, so no TensorFlow is needed and every Keras backend works;
- `config.json`, the resolved configuration;
- `metrics.json`, the run's summary (`linked_neurons.experiments.metrics`),
  written atomically and last, with the run's fingerprint (configuration and
  code, `table.fingerprint`): a finished run with the same fingerprint is not
  trained again;
- `checkpoint/`, while it trains: the newest two checkpoints, from which a
  stopped or killed run resumes exactly (`checkpoint.py`).

A group trains its seeds one after another on one compiled model (the
`sequential` mode, what CPUs do best, on every backend), or on jax all at once
as one program vmapped over the seeds (`vmap`, for accelerators); `auto` picks
`vmap` on a GPU or TPU and `sequential` elsewhere. Either way the group shares
one process start, one data load and one compilation, and each seed's numbers
are those it gets when trained alone (tests/test_groups.py states the
tolerance).

Stop signals (SIGTERM, as SLURM sends at a time limit, and SIGINT) are
answered at the next batch boundary (`stop_seconds` apart at most): the
running run saves a checkpoint of where it stands, mid-epoch included, and
the process exits with 128 + the signal's number and one line naming the run.
The next start resumes it and ends with the metrics of an uninterrupted run.

The steps, in order: `open_runs` (decide per run: finished, resume or start),
`load_data`, then per run `start_run` (initial or restored state),
`train_epoch` (spans of batches, signal-aware), `evaluate`, `end_epoch`
(events, checkpoint, early stopping) and `finish_run` (dead units, metrics).
"""

import logging
import os
import signal
import sys
import time
import types
from pathlib import Path

import numpy as np

from linked_neurons import datasets
from linked_neurons.experiments.checkpoint import Checkpoints
from linked_neurons.experiments.io import OutputError
from linked_neurons.experiments.io import atomic_write_json
from linked_neurons.experiments.io import read_json
from linked_neurons.experiments.metrics import TAGS
from linked_neurons.experiments.metrics import finite
from linked_neurons.experiments.metrics import pack_correct
from linked_neurons.experiments.metrics import plateaued
from linked_neurons.experiments.metrics import summarize
from linked_neurons.experiments.table import ConfigError
from linked_neurons.experiments.table import Table
from linked_neurons.experiments.table import fingerprint
from linked_neurons.experiments.table import flatten
from linked_neurons.experiments.table import training_config

log = logging.getLogger("linked_neurons.train")

GROUP_MODES = ("auto", "sequential", "vmap")
#: A stop signal is answered within about this many seconds of training
#: (LINKED_NEURONS_STOP_SECONDS); SLURM waits 30 s after SIGTERM (KillWait).
STOP_SECONDS = float(os.environ.get("LINKED_NEURONS_STOP_SECONDS", 5.0))


class Interrupted(RuntimeError):
    """A stop signal ended training; the runs stand saved where they were."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


class _StopSignals:
    """SIGTERM and SIGINT set a flag that the loops read at batch boundaries;
    a second SIGINT (Ctrl-C twice) stops at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        log.warning("%s received: saving at the next batch boundary",
                    signal.Signals(signum).name)

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handlers, no stops
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# --- data --------------------------------------------------------------------


def prepare(config):
    """The run's data, preprocessed: (x, y) to train on, (x_val, y_val) to
    choose on and (x_test, y_test) to report. With `selection: test` (the
    authors') the test set is also the validation set; with `selection:
    validation` the last `validation_size` samples of a fixed permutation of
    the training set (seed 0, the same for every run) are held out for it."""
    (x, y), (xt, yt) = datasets.load(config["dataset"])
    if config.get("selection", "test") == "validation":
        held = config["validation_size"]
        if held >= len(x):
            raise ConfigError(f"validation_size {held} leaves none of the {len(x)} training "
                              "samples to train on: lower it")
        order = np.random.default_rng(0).permutation(len(x))
        keep, out = np.sort(order[:-held]), np.sort(order[-held:])
        (x, y), (xv, yv) = (x[keep], y[keep]), (x[out], y[out])
    else:
        xv, yv = xt, yt
    size = config.get("image_size")
    shift = config["input_offset"] - (0.5 if config["input_center"] else 0.0)

    def preprocess(a):
        a = fit_size(a, size) if size else a
        return a + np.float32(shift) if shift else a

    x, xv, xt = preprocess(x), (preprocess(xv) if xv is not xt else None), preprocess(xt)
    xv = xt if xv is None else xv
    if config.get("max_train_samples"):
        x, y = x[: config["max_train_samples"]], y[: config["max_train_samples"]]
    return (x, y), (xv, yv), (xt, yt)


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


def epoch_order(config, epoch, n):
    """The order in which epoch `epoch` (0-based) visits the n samples: drawn
    from (seed, epoch) alone, so a resumed run sees the batches an
    uninterrupted one does; the dataset's own order with `shuffle: false`."""
    if not config.get("shuffle", True):
        return np.arange(n)
    return np.random.default_rng([config["seed"], epoch]).permutation(n)


# --- model -------------------------------------------------------------------


def compile_for_training(model, config, steps_per_epoch):
    """Compile `model` as a run of `config` trains it (also used by benchmarks/gpu.py).

    `steps_per_execution: 0` means the whole epoch in one call where the
    backend allows it; Keras's torch backend runs one step a call. The loss is
    the config's `loss` (`losses.py`: `keras2_clipped`, the authors' clipped
    cross-entropy of probabilities, the same on every backend, or `logits`).
    """
    import keras

    from linked_neurons.experiments.losses import loss_function
    from linked_neurons.experiments.optimizers import make_optimizer

    whole_epoch = 1 if keras.backend.backend() == "torch" else steps_per_epoch
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=loss_function(model, config),
        metrics=["accuracy"],
        jit_compile=True,
        steps_per_execution=config["steps_per_execution"] or whole_epoch,
    )
    model.optimizer.build(model.trainable_variables)


#: A unit (channel) is dead, as the paper's footnote defines a dead region,
#: when it "outputs a constant value": when its output at every position
#: varies across the samples by at most this fraction of its layer's output
#: scale (the largest |output| of the layer over the samples and units).
#: 32 float32 ulps (3.8e-6), set between the two populations measured on
#: depth (seed 100, 15 epochs, float32, jax): float rounding of an input that
#: no longer varies is 0 to 4.4e-7 (Swish's deep layers, where the signal
#: has decayed below float resolution), and a PReLU unit whose pre-activation
#: is negative on every sample (ReLU's exact zero, with a slope near 0) is
#: 5.3e-7 and less; units that still carry the signal vary by 2.9e-5 and
#: more (LK-ReLU's deepest members, PReLU's and Swish's last varying layers
#: 1.8e-4 and 1e-5). Where a signal decays layer by layer (Swish, layers
#: 27-30: 5e-5, 1e-5, 2e-6, 4e-7), the count moves by one layer within a
#: factor of 5 of this value.
DEAD_RTOL = 32 * float(np.finfo(np.float32).eps)


def unit_ranges(model, x, batch_size=512, probe=None):
    """Per activation layer, per unit (channel): how much its output varies
    across the samples of `x` and how large it is. Returns ([(layer, spread,
    magnitude)], probe): `spread` the largest over positions of (max - min
    over samples), `magnitude` the largest |output|, each an array over the
    layer's channels. `probe` (from a previous call, same model) saves
    building it again."""
    import keras
    from keras import ops

    from linked_neurons.experiments.models import activation_layers

    probed = activation_layers(model)
    if not probed:
        return [], None
    if probe is None:
        outputs = []
        for layer in probed:
            # Each batch's minimum and maximum over its samples, per position
            # and channel; `predict` stacks them, one row a batch.
            a = ops.cast(layer.output, "float32")
            outputs += [ops.min(a, axis=0, keepdims=True), ops.max(a, axis=0, keepdims=True)]
        probe = keras.Model(model.input, outputs)
    extremes = probe.predict(x, batch_size=batch_size, verbose=0)
    result = []
    for i, layer in enumerate(probed):
        low, high = extremes[2 * i].min(axis=0), extremes[2 * i + 1].max(axis=0)
        channel = getattr(layer, "axis", -1) % (low.ndim + 1) - 1  # without the batch axis
        low, high = np.moveaxis(low, channel, -1), np.moveaxis(high, channel, -1)
        low, high = low.reshape(-1, low.shape[-1]), high.reshape(-1, high.shape[-1])
        result.append((layer, (high - low).max(axis=0),
                       np.maximum(np.abs(low), np.abs(high)).max(axis=0)))
    return result, probe


def dead_units(model, x, batch_size=512, probe=None, rtol=DEAD_RTOL):
    """Per activation layer: {"dead": units whose output is constant across
    the samples of `x` (`DEAD_RTOL`), "zero": units that are exactly zero on
    every sample, "units": its units}. A linked unit is dead (zero) only when
    both of its members are. `probe` (from a previous call, same model) saves
    building it again."""
    from linked_neurons import Linked

    ranges, probe = unit_ranges(model, x, batch_size, probe)
    result = {}
    for layer, spread, magnitude in ranges:
        constant = spread <= rtol * magnitude.max()
        zero = magnitude == 0
        if isinstance(layer, Linked):
            # A linked unit is dead only when both of its members are.
            half = constant.shape[-1] // 2
            constant = constant[:half] & constant[half:]
            zero = zero[:half] & zero[half:]
        result[layer.name] = {"dead": int(constant.sum()), "zero": int(zero.sum()),
                              "units": int(constant.shape[-1])}
    return result, probe


def _seed(seed):
    """`keras.utils.set_random_seed`, without importing TensorFlow for the
    other backends: Keras seeds TensorFlow whenever it is installed, which
    cost 1.6 of a quick run's 4.6 s here. The rest of what it does is seeding
    Python's and NumPy's generators (Keras's unseeded initializers and seed
    generators draw from Python's), and torch's."""
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


def _seed_states(model):
    """Indices, in `model.non_trainable_variables`, of the random layers' seed states."""
    return [i for i, v in enumerate(model.non_trainable_variables) if v.name == "seed_generator_state"]


def _epoch_seed_values(model, seed, epoch):
    """The seed states of every random layer (dropout, augmentation) at the
    start of epoch `epoch`, from (seed, epoch): a resumed run draws what an
    uninterrupted one does."""
    values = {}
    for n, i in enumerate(_seed_states(model)):
        dtype = model.non_trainable_variables[i].dtype
        value = np.random.default_rng([seed, epoch, n]).integers(2**30)
        values[i] = np.array([value, 0], dtype=dtype)
    return values


def _device():
    """The device runs train on, in words."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}: {device.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu: {gpus[0].name}" if gpus else "cpu"


def _environment():
    try:
        from linked_neurons.experiments.provenance import environment
    except ImportError:  # pragma: no cover - older checkouts
        return None
    return environment()


# --- events ------------------------------------------------------------------


#: Where a run directory lists the event files its runs wrote: the only
#: event files the runner ever deletes (a user's own are left in place).
EVENTS_RECORD = ".events.json"


def _recorded_events(out):
    """The event files of `out` that this project wrote (EVENTS_RECORD)."""
    try:
        names = read_json(Path(out) / EVENTS_RECORD)
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str) and "/" not in n] if isinstance(names, list) else []


def _record_events(out, names):
    atomic_write_json(Path(out) / EVENTS_RECORD, sorted(set(names)))


def _delete_recorded_events(run):
    """Delete the event files recorded as this project's, and the record."""
    for name in _recorded_events(run.out):
        (run.out / name).unlink(missing_ok=True)
    (run.out / EVENTS_RECORD).unlink(missing_ok=True)


class _Events:
    """The run's TensorBoard event file, written with TensorBoard's own record
    writer and protos: no TensorFlow (nor torch) needed, every Keras backend
    works. Written synchronously (not TensorBoard's writer thread), so that a
    failed write (a full disk) is an OutputError naming the file and the run,
    raised here; the failed file is deleted, so no empty or partial event file
    is left. Its name is recorded (EVENTS_RECORD) before it is made."""

    _serial = 0

    def __init__(self, run):
        import socket

        import keras

        if keras.backend.backend() != "tensorflow":
            # TensorBoard's own switch to its TensorFlow stub: otherwise it
            # imports TensorFlow whenever installed (1.6 s here) for a file
            # writer that the stub provides as well.
            sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        _Events._serial += 1
        host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
        self.run = run
        self.path = run.out / (f"events.out.tfevents.{int(time.time()):010d}.{host}."
                               f"{os.getpid()}.{_Events._serial}")
        self.writer = self._file = None
        try:
            _record_events(run.out, [*_recorded_events(run.out), self.path.name])
        except OutputError as error:
            raise error.within(run.name) from error
        try:
            self._file = open(self.path, "xb")  # noqa: SIM115 (closed in close)
            self.writer = RecordWriter(self._file)
        except OSError as error:
            raise self._failed(error) from error
        self._add(Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _failed(self, error):
        """The OutputError for `error`; the file goes (it is ours and incomplete)."""
        from linked_neurons.experiments.io import OutputError

        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self.writer = self._file = None
        self.path.unlink(missing_ok=True)
        try:
            _record_events(self.run.out, [n for n in _recorded_events(self.run.out)
                                          if n != self.path.name])
        except OSError:  # the disk is full: a stale name in the record is harmless
            pass
        message = error.strerror or str(error) or type(error).__name__
        return OutputError(error.errno, message, str(self.path)).within(self.run.name)

    def _add(self, event):
        try:
            self.writer.write(event.SerializeToString())
        except OSError as error:
            raise self._failed(error) from error

    def _write(self, summary, step):
        from tensorboard.compat.proto.event_pb2 import Event

        self._add(Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self):
        try:
            self.writer.flush()
        except OSError as error:
            raise self._failed(error) from error

    def hparams(self, config):
        from tensorboard.plugins.hparams import summary_v2 as hp

        flat = {
            key: value
            for key, value in flatten(config).items()
            if isinstance(value, (str, bool, int, float)) and key != "title"
        }
        metrics = [hp.Metric(f"epoch/{tag}") for tag in ("val_accuracy", "val_loss")]
        self._write(hp.hparams_config_pb([hp.HParam(k) for k in flat], metrics), 0)
        self._write(hp.hparams_pb(flat), 0)
        self.flush()

    def epoch(self, record):
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=f"epoch/{t}", simple_value=record[t]) for t in TAGS]
        self._write(Summary(value=values), record["epoch"])
        self.flush()

    def close(self):
        if self.writer is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as error:
            raise self._failed(error) from error
        self.writer = self._file = None


def _first_difference(old, new):
    old, new = flatten(old), flatten(new)
    key = next((k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)), None)
    return key, old.get(key), new.get(key)


# --- one run -----------------------------------------------------------------


class Run:
    """One run of a group: its configuration, directory and progress."""

    def __init__(self, config, out):
        self.config = config
        self.seed = config["seed"]
        self.out = Path(out)
        self.name = f"{config['experiment']}/{config['variant']} seed {self.seed}"
        self.fingerprint = fingerprint(config)
        self.checkpoints = Checkpoints(self.out)
        self.history = []
        self.epoch = 0  # finished epochs
        self.step = 0  # finished batches of the current epoch
        self.sums = {}  # sum over those batches of their loss and accuracy
        self.seconds = 0.0  # of the current epoch so far
        self.resumed_at = []  # [epoch, batch] of each resume
        self.first_epoch_here = True  # no epoch finished in this process yet
        self.events = None
        self.done = False
        self.stopped_early = False
        self.saved = time.perf_counter()
        self.mark = time.perf_counter()  # the end of the previous epoch

    @property
    def metrics_file(self):
        return self.out / "metrics.json"

    def diverged(self):
        return any(not (finite(r["loss"]) and finite(r["val_loss"])) for r in self.history)

    def state(self):
        return {"fingerprint": self.fingerprint, "history": self.history, "epoch": self.epoch,
                "step": self.step, "sums": self.sums, "seconds": self.seconds,
                "resumed_at": self.resumed_at}


def open_runs(runs, replace):
    """Decide per run: finished (returned as such), or to train. A directory
    holding another identity's run (seed, configuration or code), or files of
    no run of this project, is refused unless `replace`; either way only the
    run's own files are ever deleted."""
    pending = []
    for run in runs:
        config_file = run.out / "config.json"
        if not replace and not _holds_a_run(run):
            foreign = _foreign_files(run)
            if foreign:
                shown = ", ".join(str(p.relative_to(run.out)) for p in foreign[:3])
                more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
                raise ConfigError(
                    f"{run.out} is not empty and holds no run of this project ({shown}{more}): "
                    "pass --out a new or empty directory, or --replace to train there anyway "
                    "(only the run's own files are ever deleted)"
                )
        if run.metrics_file.exists():
            metrics = read_json(run.metrics_file, run.name)
            if metrics.get("fingerprint") == run.fingerprint:
                if read_json(config_file, run.name) != run.config:
                    # Names, title or the convergence criterion changed: not
                    # what it trained. Summarize again; no training.
                    _write_summary(run, metrics["history"], dict(_extras(metrics)))
                log.info("%s is complete; nothing to do", run.out)
                run.done = True
                continue
            if not replace:
                old = read_json(config_file, run.name) if config_file.exists() else {}
                key, was, now = _first_difference(training_config(old), training_config(run.config))
                why = (f"another configuration ({key}: {was!r} there, {now!r} now)" if key
                       else "other code (the package's sources changed since)")
                raise ConfigError(
                    f"{run.out} holds a finished run trained with {why}: pass --replace to "
                    "retrain it there, or --out to train this one elsewhere"
                )
            log.info("%s holds a stale run (%s): retraining", run.out, "replaced")
            _discard(run)
        elif config_file.exists() and _training(config_file, run) != training_config(run.config):
            if not replace:
                key, was, now = _first_difference(_training(config_file, run),
                                                  training_config(run.config))
                raise ConfigError(
                    f"{run.out} holds an unfinished run of another configuration ({key}: "
                    f"{was!r} there, {now!r} now): pass --replace to discard it and train "
                    "this one there, or --out to train this one elsewhere"
                )
            _discard(run)
        pending.append(run)
    return pending


def _training(config_file, run):
    """The training configuration of an unfinished run's config.json; a damaged
    one holds nothing to keep."""
    try:
        return training_config(read_json(config_file, run.name))
    except ValueError as error:
        log.warning("%s; starting the run afresh", error)
        return training_config(run.config)


# What a run directory holds of its own, besides its recorded event files and
# checkpoints; anything else is a user's (and `.lock` is the trainer's lock).
_RUN_FILES = ("config.json", "metrics.json", EVENTS_RECORD, ".lock", ".lock.takeover",
              "checkpoint")


def _holds_a_run(run):
    """Whether `run.out` holds a run of this project (finished or not)."""
    return (any((run.out / name).exists() for name in ("config.json", "metrics.json",
                                                        EVENTS_RECORD))
            or bool(run.checkpoints._pairs()))


def _foreign_files(run):
    """The files of `run.out` that no run of this project wrote (what an
    atomic write leaves only while it runs, `.NAME.HEX.tmp`, is ours)."""
    recorded = set(_recorded_events(run.out))
    foreign = []
    for path in sorted(run.out.iterdir()):
        if path.name == "checkpoint" and path.is_dir():
            foreign += run.checkpoints.foreign()
        elif path.name not in _RUN_FILES and path.name not in recorded:
            foreign.append(path)
    return foreign


def _discard(run):
    """Delete the run's own outputs (metrics, checkpoints, recorded event
    files), nothing else of its directory."""
    run.metrics_file.unlink(missing_ok=True)
    run.checkpoints.clear()
    _delete_recorded_events(run)


def _extras(metrics):
    keys = ("params", "dead_units", "backend", "device", "device_exclusive", "device_usage",
            "group_mode", "environment", "stopped_early", "resumed_at")
    return {key: metrics.get(key) for key in keys}


class _Timing:
    """Whether the runs trained since it was made had the machine to
    themselves: requested (`--exclusive`), and measured (usage.Span)."""

    def __init__(self, requested):
        from linked_neurons.experiments.usage import Span

        self.requested = requested
        self.span = Span()


def _write_summary(run, history, extras):
    timing = extras.get("device_exclusive")
    if isinstance(timing, _Timing):  # a run trained now: its span measured
        extras = {**extras, **timing.span.summary(timing.requested)}
    try:
        atomic_write_json(run.out / "config.json", run.config)
        metrics = summarize(run.config, history, fingerprint=run.fingerprint, **extras)
        atomic_write_json(run.metrics_file, metrics)
    except OutputError as error:
        raise error.within(run.name) from error
    return metrics


def start_run(run, model, initial):
    """Set the model's state to the run's: its checkpoint if it has a usable
    one, else `initial(run)` (the state of a fresh model built with its seed).
    Returns the (trainable, non_trainable, optimizer) arrays."""
    from linked_neurons.experiments.checkpoint import state_variables

    atomic_write_json(run.out / "config.json", run.config)
    variables = state_variables(model)
    restored = run.checkpoints.load([v.shape for v in variables], run.fingerprint)
    if restored:
        values, state = restored
        run.history, run.epoch, run.step = state["history"], state["epoch"], state["step"]
        run.sums, run.seconds = state["sums"], state["seconds"]
        run.resumed_at = [*state.get("resumed_at", []), [run.epoch, run.step]]
        log.info("resuming %s after epoch %d, batch %d", run.out, run.epoch, run.step)
    else:
        if run.checkpoints.dir.exists():
            log.warning("%s: no usable checkpoint; training from the start", run.out)
            run.checkpoints.clear()
        values = initial(run)
    n_train, n_non = len(model.trainable_variables), len(model.non_trainable_variables)
    groups = (values[:n_train], values[n_train:n_train + n_non], values[n_train + n_non:])
    # A resumed run rewrites its event file from the checkpoint, whose history
    # holds every finished epoch, so the events always agree with it.
    # Only the event files it recorded as its own go: a user's stay.
    _delete_recorded_events(run)
    run.events = _Events(run)
    run.events.hparams(run.config)
    for record in run.history:
        run.events.epoch(record)
    run.mark = run.saved = time.perf_counter()
    return groups


def save(run, values):
    run.checkpoints.save(values, run.state())
    run.saved = time.perf_counter()


def end_epoch(run, record, values_fn):
    """Record a finished epoch; checkpoint when due; decide whether the run is done."""
    now = time.perf_counter()
    # Wall time since the previous epoch ended (evaluation, events and
    # checkpoints included); the first epoch after a resume counts only its
    # training and evaluation, not the restart.
    resumed = run.first_epoch_here and run.resumed_at
    record["wall"] = record["seconds"] if resumed else now - run.mark
    run.mark, run.first_epoch_here = now, False
    run.history.append(record)
    run.events.epoch(record)
    run.epoch += 1
    run.step, run.sums, run.seconds = 0, {}, 0.0
    config = run.config
    if run.diverged():
        log.warning("%s diverged at epoch %d (loss %s)", run.out, run.epoch, record["loss"])
        run.done = True
    elif run.epoch >= config["epochs"]:
        run.done = True
    elif plateaued(run.history, config.get("early_stopping")):
        log.info("%s stopped early at epoch %d: no gain over %d epochs", run.out, run.epoch,
                 config["early_stopping"]["patience"])
        run.done = run.stopped_early = True
    elif now - run.saved >= config["checkpoint_seconds"]:
        save(run, values_fn())


def finish_run(run, model, xv, common, probe=None):
    """Dead units, the summary, metrics.json; the checkpoints go."""
    run.events.close()
    dead, probe = ({}, probe) if run.diverged() else dead_units(model, xv, probe=probe)
    extras = {**common, "params": model.count_params(), "dead_units": dead,
              "stopped_early": run.stopped_early, "resumed_at": run.resumed_at}
    metrics = _write_summary(run, run.history, extras)
    run.checkpoints.clear()
    return metrics, probe


def _record(sums, steps, seconds, val, learning_rate, epoch, test):
    record = {key: sums[key] / steps for key in ("loss", "accuracy")}
    record.update(val_loss=float(val["loss"]), val_accuracy=float(val["accuracy"]),
                  learning_rate=learning_rate, seconds=seconds, epoch=epoch, **test)
    return record


def test_outcome(outputs, labels):
    """An epoch's test accuracy and which test samples it classified right
    (packed, `metrics.unpack_correct` reads it): the claims' intervals
    resample them."""
    correct = np.argmax(np.asarray(outputs), axis=-1) == np.asarray(labels).reshape(-1)
    return {"test_accuracy": float(correct.mean()), "test_correct": pack_correct(correct)}


def _span(steps_left, step_seconds):
    """Batches to train before looking for a stop signal again."""
    if step_seconds is None:
        return min(steps_left, 16)
    return max(1, min(steps_left, int(STOP_SECONDS / max(step_seconds, 1e-6))))


def _interrupt(run, signals):
    name = signal.Signals(signals.received).name
    where = (f"saved after epoch {run.epoch}, batch {run.step}" if run.events
             else "not started")
    return Interrupted(
        f"{name}: {run.name} {where} ({run.out}); run the same command again to "
        "resume it", signals.received,
    )


# --- a group -----------------------------------------------------------------


def train(experiment, variant, seed=None, scale="quick", out=None, overrides=None, table=None,
          **options):
    """Train one run of the article and return its metrics (see the module doc).

    A finished run (its metrics.json exists, same fingerprint) is returned as
    it is; a run stopped or killed part-way resumes from its last checkpoint
    and ends with the same metrics as an uninterrupted one.
    """
    table = table if isinstance(table, Table) else Table(table)
    if seed is None:
        seed = table.resolve(experiment, variant, scale, overrides)["seeds"][0]
    return train_group(experiment, variant, [seed], scale, out, overrides, table, **options)[0]


def run_directory(out, experiment, variant, scale, seed, several):
    """A run's directory: `out` with `{seed}` replaced (`out` itself for a
    single run), by default results/SCALE/runs/EXPERIMENT/VARIANT/SEED."""
    if out is None:
        return Path("results") / scale / "runs" / experiment / variant / str(seed)
    out = str(out)
    if "{seed}" in out:
        return Path(out.replace("{seed}", str(seed)))
    if several:
        raise ConfigError(f"--out {out}: with several seeds, put {{seed}} where each "
                          "run's directory differs, e.g. --out runs/{seed}")
    return Path(out)


def train_group(experiment, variant, seeds, scale="quick", out=None, overrides=None, table=None,
                mode="auto", exclusive=False, replace=False):
    """Train the runs of `variant` for each of `seeds` in this process and
    return their metrics (in `seeds` order). `out`: the run directory, with
    `{seed}` where runs differ (default results/SCALE/runs/EXPERIMENT/VARIANT/{seed}).
    `exclusive`: the scheduler gave this job its device alone (recorded with
    the runs' times). `replace`: retrain a directory that holds a run of
    another configuration or code (the pipeline's reruns) instead of refusing."""
    from linked_neurons.experiments.lock import RunLock

    if mode not in GROUP_MODES:
        raise ConfigError(f"unknown group mode {mode!r}: use one of {', '.join(GROUP_MODES)}")
    table = table if isinstance(table, Table) else Table(table)
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    runs = [Run(table.resolve(experiment, variant, scale, overrides, seed),
                run_directory(out, experiment, variant, scale, seed, len(seeds) > 1))
            for seed in seeds]
    made = []  # directories made here: removed again if a refusal leaves them empty
    for run in runs:
        missing = [d for d in (run.out, *run.out.parents) if not d.exists()]
        run.out.mkdir(parents=True, exist_ok=True)
        made += missing
    try:
        with RunLock(*[run.out for run in runs]):
            pending = open_runs(runs, replace)
            if pending:
                _train(pending, mode, exclusive)
    except (ConfigError, OSError):
        for directory in sorted(set(made), key=lambda d: len(d.parts), reverse=True):
            try:
                directory.rmdir()
            except OSError:
                pass
        raise
    return [read_json(run.metrics_file) for run in runs]


def _train(runs, mode, exclusive):
    import keras

    from linked_neurons.experiments import schedules  # noqa: F401 (registers it)

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        # The partitionable threefry (jax's default) takes seconds to compile
        # on the CPU for every random op (dropout, augmentation): about 6 of
        # the 8 s that All-CNN's training step took. One device needs no
        # partitioning; the random bits differ but stay seeded.
        jax.config.update("jax_threefry_partitionable", False)
        if mode == "auto":
            mode = "vmap" if jax.devices()[0].platform in ("gpu", "tpu") and len(runs) > 1 \
                else "sequential"
    elif mode == "vmap":
        raise ConfigError(f"group mode vmap needs the jax backend, not {backend}")
    else:
        mode = "sequential"
    config = runs[0].config
    if config["train_loop"] == "scan" and mode == "vmap":
        log.info("train_loop scan: the vmapped group runs its own scan")
    if config["precision"] != "float32":
        keras.config.set_dtype_policy(config["precision"])
    (x, y), (xv, yv), (xt, yt) = prepare(config)
    batch = config["batch_size"]
    steps = len(x) // batch
    if steps == 0:
        raise ConfigError(
            f"{config['experiment']}/{config['variant']}: batch_size {batch} is "
            f"larger than the {len(x)} training samples"
        )
    common = {"backend": backend, "device": _device(), "group_mode": mode,
              # Measured over the span (usage.py): resolved when each run's
              # metrics are written (_write_summary).
              "device_exclusive": _Timing(bool(exclusive) and (mode != "vmap" or len(runs) == 1)),
              "environment": _environment()}
    num_classes = datasets.num_classes(config["dataset"])
    with _StopSignals() as signals:
        if mode == "vmap":
            _train_vmapped(runs, (x, y), (xv, yv, xt, yt), steps, num_classes, common, signals)
        else:
            _train_sequential(runs, (x, y), (xv, yv, xt, yt), steps, num_classes, common, signals)


def _fresh_values(run, shape, num_classes, initial=None):
    """The initial state of `run`, as a run trained alone starts: the values
    of a model built with its seed and a new optimizer's variables. Drawn
    again from the group's model (`initial`, from `_build`: the same values
    bit for bit, `reinit.py`) where that is exact, else from a model built
    with its seed."""
    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.models import build_model

    _seed(run.seed)
    if initial is not None and initial.exact:
        return initial(run.seed)
    model = build_model(run.config, shape, num_classes)
    compile_for_training(model, run.config, 1)
    return _values(state_variables(model))


def _build(config, shape, num_classes, steps):
    """The group's model, compiled, and its runs' initial values
    (`reinit.Initial`: one build per group, not one per seed)."""
    import random

    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.models import build_model
    from linked_neurons.experiments.reinit import Initial

    _seed(config["seed"])
    before = random.getstate(), np.random.get_state()
    model = build_model(config, shape, num_classes)
    compile_for_training(model, config, steps)
    initial = Initial(model, state_variables(model), config["seed"], *before)
    if not initial.exact:
        log.info("a model per seed: %s", initial.reason)
    return model, initial


def _values(variables):
    """The variables' values as NumPy arrays, on every backend."""
    from keras import ops

    return [ops.convert_to_numpy(v.value) for v in variables]


def _assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


def _train_sequential(runs, data, val, steps, num_classes, common, signals):
    """The runs one after another on one compiled model: each starts from its
    own initial (or restored) state, so it trains as it would alone."""
    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.loop import EpochRunner

    (x, y), (xv, yv, xt, yt) = data, val
    shape = x.shape[1:]
    model, initial = _build(runs[0].config, shape, num_classes, steps)
    variables = state_variables(model)
    runner = EpochRunner(model, x, y, runs[0].config["batch_size"],
                         scan=runs[0].config["train_loop"] == "scan")
    val_batch = min(len(xv), 1024)
    step_seconds, probe = None, None
    for run in runs:
        groups = start_run(run, model, lambda r: _fresh_values(r, shape, num_classes, initial))
        _assign(variables, [v for g in groups for v in g])
        if run.step == 0:
            seed_values = _epoch_seed_values(model, run.seed, run.epoch)
            for i, value in seed_values.items():
                model.non_trainable_variables[i].assign(value)
        values = lambda: _values(variables)  # noqa: E731
        while not run.done and run.epoch < run.config["epochs"]:
            order = epoch_order(run.config, run.epoch, len(x))
            while run.step < steps:
                span = steps - run.step if runner.fast else _span(steps - run.step, step_seconds)
                start = time.perf_counter()
                logs = runner.run(order, run.step, run.step + span)
                took = time.perf_counter() - start
                step_seconds = took / span
                run.seconds += took
                run.step += span
                for key in ("loss", "accuracy"):
                    run.sums[key] = run.sums.get(key, 0.0) + logs[key] * span
                if signals.received and run.step < steps:
                    save(run, values())
                    raise _interrupt(run, signals)
            start = time.perf_counter()
            val_logs = model.evaluate(xv, yv, batch_size=val_batch, return_dict=True, verbose=0)
            test = test_outcome(model.predict(xt, batch_size=val_batch, verbose=0), yt)
            seconds = run.seconds + time.perf_counter() - start
            # Keras evaluates the schedule at the optimizer's step: the next rate.
            record = _record(run.sums, steps, seconds, val_logs,
                             float(model.optimizer.learning_rate), run.epoch + 1, test)
            end_epoch(run, record, values)
            if not run.done:
                for i, value in _epoch_seed_values(model, run.seed, run.epoch).items():
                    model.non_trainable_variables[i].assign(value)
            if signals.received and not run.done:
                save(run, values())
                raise _interrupt(run, signals)
        _, probe = finish_run(run, model, xv, common, probe)
        if signals.received:
            later = [r for r in runs if not r.done]
            if later:
                raise _interrupt(later[0], signals)


def _flat(state, k):
    """The `k`-th seed's arrays of a stacked state, in `state_variables` order."""
    from linked_neurons.experiments.loop import SeedsRunner

    return [v for group in SeedsRunner.unstack(state, k) for v in group]


def _reseeded(model, state, runs, epoch):
    """`state` with each run's random layers seeded for `epoch`."""
    non_trainable = list(state[1])
    for i in _seed_states(model):
        non_trainable[i] = non_trainable[i].at[:].set(
            np.stack([_epoch_seed_values(model, run.seed, epoch)[i] for run in runs]))
    return (state[0], non_trainable, state[2])


def _save_unfinished(runs, state):
    for k, run in enumerate(runs):
        if not run.done:
            save(run, _flat(state, k))


def _train_vmapped(runs, data, val, steps, num_classes, common, signals):
    """The runs at once (jax): one program vmapped over their stacked states.
    Runs that stand at different places (a resumed group) train in subgroups."""
    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.loop import SeedsRunner

    (x, y), (xv, yv, xt, yt) = data, val
    shape = x.shape[1:]
    config = runs[0].config
    model, initial = _build(config, shape, num_classes, steps)
    variables = state_variables(model)
    runner = SeedsRunner(model, x, y, xv, yv, config["batch_size"], min(len(xv), 1024))
    starts = [start_run(run, model, lambda r: _fresh_values(r, shape, num_classes, initial))
              for run in runs]
    probe = None
    for epoch, step in sorted({(run.epoch, run.step) for run in runs}):
        here = [i for i, run in enumerate(runs) if (run.epoch, run.step) == (epoch, step)]
        group = [runs[i] for i in here]
        state = SeedsRunner.stack([starts[i] for i in here])
        if step == 0:
            state = _reseeded(model, state, group, epoch)
        step_seconds = None
        while not all(run.done for run in group):
            orders = np.stack([epoch_order(run.config, epoch, len(x)) for run in group])
            while step < steps:
                span = _span(steps - step, step_seconds)
                start = time.perf_counter()
                state, logs = runner.run(state, orders, step, step + span)
                took = time.perf_counter() - start
                step_seconds, step = took / span, step + span
                for k, run in enumerate(group):
                    if not run.done:
                        run.seconds += took
                        run.step = step
                        for key in ("loss", "accuracy"):
                            run.sums[key] = run.sums.get(key, 0.0) + float(logs[key][k]) * span
                if signals.received and step < steps:
                    _save_unfinished(group, state)
                    raise _interrupt(next(r for r in group if not r.done), signals)
            start = time.perf_counter()
            val_logs = runner.evaluate(state)
            outputs = runner.predict(state, xt)
            took = time.perf_counter() - start
            rates = _learning_rates(model, state)
            for k, run in enumerate(group):
                if run.done:
                    continue
                record = _record(run.sums, steps, run.seconds + took,
                                 {key: v[k] for key, v in val_logs.items()}, rates[k], epoch + 1,
                                 test_outcome(outputs[k], yt))
                end_epoch(run, record, lambda s=state, k=k: _flat(s, k))
                if run.done:
                    _assign(variables, _flat(state, k))
                    _, probe = finish_run(run, model, xv, common, probe)
            epoch, step = epoch + 1, 0
            if not all(run.done for run in group):
                state = _reseeded(model, state, group, epoch)
                if signals.received:
                    _save_unfinished(group, state)
                    raise _interrupt(next(r for r in group if not r.done), signals)


def _learning_rates(model, state):
    """Each seed's learning rate at its optimizer's step (as Keras reports it)."""
    iterations_index = [i for i, v in enumerate(model.optimizer.variables) if v.name == "iteration"]
    schedule = model.optimizer._learning_rate
    rates = []
    for k in range(state[0][0].shape[0]):
        step = int(np.asarray(state[2][iterations_index[0]][k])) if iterations_index else 0
        rate = schedule(step) if callable(schedule) else schedule
        rates.append(float(np.asarray(rate)))
    return rates


def describe(metrics):
    status = "diverged" if metrics["diverged"] else "done"
    return (f"{status}: {metrics['experiment']}/{metrics['variant']} seed {metrics['seed']}: "
            f"best val_accuracy {metrics['best_val_accuracy']} after {metrics['epochs_run']} epochs")


