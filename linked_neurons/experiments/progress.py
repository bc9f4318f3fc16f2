"""A run's progress through training: start (fresh or from its checkpoint),
save, end an epoch (events, checkpoint, stopping) and finish (dead units,
metrics). Called by the epoch loop (`epochs.py`) for every run alike."""

import logging
import time

import numpy as np

from linked_neurons.experiments.events import Events
from linked_neurons.experiments.events import delete_recorded_events
from linked_neurons.experiments.probes import dead_units
from linked_neurons.experiments.rundir import write_summary
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.metrics import pack_correct
from linked_neurons_core.stopping import plateaued

log = logging.getLogger("linked_neurons.train")


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
    delete_recorded_events(run)
    run.events = Events(run)
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
    metrics = write_summary(run, run.history, extras)
    run.checkpoints.clear()
    return metrics, probe


def epoch_record(sums, steps, seconds, val, learning_rate, epoch, test):
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
