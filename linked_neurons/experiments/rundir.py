"""A run and its directory: what a run is (configuration, directory,
progress), whether its directory holds it finished, to resume or to refuse,
what of the directory is its own, and its summary (config.json, metrics.json)."""

import logging
import time
from pathlib import Path

from linked_neurons.experiments.checkpoint import Checkpoints
from linked_neurons.experiments.events import EVENTS_RECORD
from linked_neurons.experiments.events import delete_recorded_events
from linked_neurons.experiments.events import recorded_events
from linked_neurons.experiments.usage import Span
from linked_neurons_core.io import OutputError
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.io import read_json
from linked_neurons_core.metrics import summarize
from linked_neurons_core.stopping import finite
from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import fingerprint
from linked_neurons_core.table import flatten
from linked_neurons_core.table import training_config

log = logging.getLogger("linked_neurons.train")


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
                    write_summary(run, metrics["history"], dict(summary_extras(metrics)))
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
            discard(run)
        elif config_file.exists() and _training(config_file, run) != training_config(run.config):
            if not replace:
                key, was, now = _first_difference(_training(config_file, run),
                                                  training_config(run.config))
                raise ConfigError(
                    f"{run.out} holds an unfinished run of another configuration ({key}: "
                    f"{was!r} there, {now!r} now): pass --replace to discard it and train "
                    "this one there, or --out to train this one elsewhere"
                )
            discard(run)
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
    recorded = set(recorded_events(run.out))
    foreign = []
    for path in sorted(run.out.iterdir()):
        if path.name == "checkpoint" and path.is_dir():
            foreign += run.checkpoints.foreign()
        elif path.name not in _RUN_FILES and path.name not in recorded:
            foreign.append(path)
    return foreign


def discard(run):
    """Delete the run's own outputs (metrics, checkpoints, recorded event
    files), nothing else of its directory."""
    run.metrics_file.unlink(missing_ok=True)
    run.checkpoints.clear()
    delete_recorded_events(run)


def summary_extras(metrics):
    """What a finished run's metrics.json records besides its history."""
    keys = ("params", "dead_units", "backend", "device", "device_exclusive", "device_usage",
            "group_mode", "environment", "stopped_early", "resumed_at")
    return {key: metrics.get(key) for key in keys}


class Timing:
    """Whether each run a group trains had the machine to itself: requested
    (`--exclusive`), and measured (usage.Span). A timed group's runs train
    one after another (train.py requests exclusivity only then, or for a
    single vmapped run), and each is measured over its own part of the group:
    from the previous run's summary (the group's start for the first) to its
    own. One span for the group would average a run that other work shared
    with the quiet runs before it: a third seed beside 0.3 of a core of other
    work would read 0.1 and pass. Other groups record the group's span so
    far (a vmapped group's runs train at once)."""

    def __init__(self, requested):
        self.requested, self.span = requested, Span()

    def summary(self):
        """{"device_exclusive", "device_usage"} of the run summarized now."""
        result = self.span.summary(self.requested)
        if self.requested:  # the next run's span starts here
            self.span = Span()
        return result


def write_summary(run, history, extras):
    timing = extras.get("device_exclusive")
    if isinstance(timing, Timing):  # a run trained now: its own span measured
        extras = {**extras, **timing.summary()}
    try:
        atomic_write_json(run.out / "config.json", run.config)
        metrics = summarize(run.config, history, fingerprint=run.fingerprint, **extras)
        atomic_write_json(run.metrics_file, metrics)
    except OutputError as error:
        raise error.within(run.name) from error
    return metrics


def _first_difference(old, new):
    old, new = flatten(old), flatten(new)
    key = next((k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)), None)
    return key, old.get(key), new.get(key)
