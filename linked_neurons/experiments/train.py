"""Training runs: the unit of work of the Snakemake DAG.

`train_group(experiment, variant, seeds, ...)` trains the runs of one variant
(one per seed) in one process, and `train(...)` one run, as a group of one.
Each run writes into its own directory:

- TensorBoard event files: per epoch loss, accuracy, val_loss, val_accuracy,
  learning rate and epoch seconds (tags `epoch/...`), and the run's
  hyperparameters for the HParams dashboard; written with TensorBoard's own
  writer, so no TensorFlow is needed and every Keras backend works;
- `config.json`, the resolved configuration;
- `metrics.json`, the run's summary (`linked_neurons_core.metrics`),
  written atomically and last, with the run's fingerprint (configuration and
  code, `table.fingerprint`): a finished run with the same fingerprint is not
  trained again;
- `checkpoint/`, while it trains: the newest two checkpoints, from which a
  stopped or killed run resumes exactly (`checkpoint.py`).

A group trains its seeds one after another on one compiled model (the
`sequential` mode, what CPUs do best, on every backend), or on jax all at once
as one program vmapped over the seeds (`vmap`, for accelerators); `auto` picks
`vmap` on a GPU or TPU, and on a CPU where the table's `cpu_block_diagonal`
asks for it (then the vmapped convolutions are block-diagonal ones,
`blockdiag.py`: the quick depth network's 4-channel layers), and
`sequential` elsewhere. Either way the group shares
one process start, one data load and one compilation, and each seed's numbers
are those it gets when trained alone (tests/test_groups.py states the
tolerance).

Stop signals (SIGTERM, as SLURM sends at a time limit, and SIGINT) are
answered at the next batch boundary (`stop_seconds` apart at most): the
running run saves a checkpoint of where it stands, mid-epoch included, and
the process exits with 128 + the signal's number and one line naming the run.
The next start resumes it and ends with the metrics of an uninterrupted run.

The steps, in order, each in its own module: `rundir.open_runs` (decide per
run: finished, resume or start), `data.prepare` (load and preprocess), `build`
(the group's compiled model), then `epochs.train_runs`, one epoch loop for
both group modes: per run `progress.start_run` (initial or restored state),
spans of batches (`signals`: stop-aware), evaluation, `progress.end_epoch`
(events, checkpoint, early stopping) and `progress.finish_run` (dead units,
`probes.py`; metrics).
"""

import logging
from pathlib import Path

from linked_neurons.experiments.data import prepare
from linked_neurons.experiments.rundir import Run
from linked_neurons.experiments.rundir import Timing
from linked_neurons.experiments.rundir import open_runs
from linked_neurons.experiments.signals import Interrupted
from linked_neurons.experiments.signals import StopSignals
from linked_neurons_core import datasets
from linked_neurons_core.io import read_json
from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import Table

# What other code imports from here (the command line, the tests, the pipeline).
__all__ = ["GROUP_MODES", "Interrupted", "describe", "run_directory", "train", "train_group"]

log = logging.getLogger("linked_neurons.train")

GROUP_MODES = ("auto", "sequential", "vmap")


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
    from linked_neurons_core.lock import RunLock

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
    from linked_neurons.experiments.epochs import Sequential
    from linked_neurons.experiments.epochs import Vmapped
    from linked_neurons.experiments.epochs import train_runs
    from linked_neurons_core.provenance import device
    from linked_neurons_core.provenance import environment

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        # The partitionable threefry (jax's default) takes seconds to compile
        # on the CPU for every random op (dropout, augmentation): about 6 of
        # the 8 s that All-CNN's training step took. One device needs no
        # partitioning; the random bits differ but stay seeded.
        jax.config.update("jax_threefry_partitionable", False)
        from linked_neurons.experiments import blockdiag

        if mode == "auto":
            # At once where a device runs them best together: accelerators,
            # and a CPU where the table asks for block-diagonal convolutions.
            together = jax.devices()[0].platform in ("gpu", "tpu") or blockdiag.wanted(runs[0].config)
            mode = "vmap" if together and len(runs) > 1 else "sequential"
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
    common = {"backend": backend, "device": device(), "group_mode": mode,
              # Measured over the span (usage.py): resolved when each run's
              # metrics are written (rundir.write_summary).
              "device_exclusive": Timing(bool(exclusive) and (mode != "vmap" or len(runs) == 1)),
              "environment": environment()}
    num_classes = datasets.num_classes(config["dataset"])
    with StopSignals() as signals:
        given = (runs, (x, y), (xv, yv, xt, yt), steps, num_classes, common)
        strategy = Vmapped(*given) if mode == "vmap" else Sequential(*given, alone=bool(exclusive))
        train_runs(strategy, runs, signals)


def describe(metrics):
    status = "diverged" if metrics["diverged"] else "done"
    return (f"{status}: {metrics['experiment']}/{metrics['variant']} seed {metrics['seed']}: "
            f"best val_accuracy {metrics['best_val_accuracy']} after {metrics['epochs_run']} epochs")
