"""A run's summary (metrics.json) from its per-epoch history.

Pure Python, no Keras: the pipeline's extraction and the tests use it too.

- **Divergence.** An epoch whose training or validation loss is not finite
  diverged; it and every later epoch do not count. `best_val_accuracy` is the
  best of the epochs before it (None when the first epoch diverged), and
  `diverged_epoch` says which epoch it was.
- **Convergence** (`config["convergence"]`: `window`, `min_delta`,
  `collapse`, `stuck_rtol`): each run gets one `status`, checked in this order:
  - *diverged*;
  - *too short*: it ran no more than `window` epochs;
  - *stuck*: its training or validation loss did not move over the last
    `window` epochs (a spread below `stuck_rtol` of its size): no gradient
    reaches the weights, e.g. a softmax saturated so that the clipped
    cross-entropy has a zero gradient. A stuck run has stopped, but not
    because it learned all it could. A run that froze so after falling more
    than `collapse` below its best is *collapsed* (below), not stuck: it had
    learned;
  - *still improving*: over its last `window` epochs the best validation
    accuracy, or the mean one, rose by more than `min_delta` over the epochs
    before (the window before, for the mean). The mean catches a slow climber
    whose noisy best has not moved, which is what early stopping at a plateau
    looks at (the best only): so an early-stopped run can be still improving;
  - *collapsed*: its final accuracy is more than `collapse` below its best
    (it fell back after its best epoch, which the best-over-epochs metric
    would hide);
  - *converged*: none of these.
  A run at chance throughout is converged (or stuck) by this criterion: the
  claims that need it to have learned say so themselves.
- **Selection.** The best epoch is the one of the best validation accuracy
  (the first of equals). `test_accuracy` is the test accuracy at that epoch,
  what the tables report; `best_test_accuracy` the best test accuracy over the
  epochs, the paper's measure, which chooses on the set it reports. With
  `selection: test` (the authors') the two sets are one and the numbers agree.
"""

import statistics

import numpy as np

from linked_neurons_core.stopping import counted
from linked_neurons_core.stopping import diverged_epoch

#: The per-epoch values of a history record, also the TensorBoard tags `epoch/<tag>`.
TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy", "learning_rate",
        "seconds")
STATUSES = ("converged", "still improving", "collapsed", "stuck", "too short", "diverged")


def pack_correct(correct):
    """Per-sample correctness (booleans) as hex text: 45 bytes for 360 samples."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex() + f":{len(correct)}"


def unpack_correct(text):
    """`pack_correct`'s booleans back."""
    data, _, n = text.partition(":")
    return np.unpackbits(np.frombuffer(bytes.fromhex(data), dtype=np.uint8))[: int(n)].astype(bool)


def _stuck(records, rtol):
    """Whether the training or the validation loss stayed put over `records`."""
    for key in ("loss", "val_loss"):
        values = [r[key] for r in records]
        scale = max(abs(v) for v in values)
        if max(values) - min(values) <= rtol * max(scale, 1e-12):
            return key
    return None


def convergence(history, criterion):
    """A run's `status` by `criterion` (window, min_delta, collapse,
    stuck_rtol), with its reason and the figures behind it (module doc)."""
    window = criterion["window"]
    good = counted(history)
    accs = [r["val_accuracy"] for r in good]
    result = {"criterion": dict(criterion), "improvement": None, "mean_improvement": None,
              "collapse": None}

    def status(name, reason):
        return {**result, "status": name, "converged": name == "converged", "reason": reason}

    if diverged_epoch(history) is not None:
        return status("diverged", "diverged")
    if len(accs) <= window:
        return status("too short", f"ran {len(accs)} epochs, not more than the window of {window}")
    before = accs[:-window]
    result.update(improvement=max(accs[-window:]) - max(before),
                  mean_improvement=statistics.fmean(accs[-window:])
                  - statistics.fmean(before[-window:]),
                  collapse=max(accs) - accs[-1])
    rtol = criterion.get("stuck_rtol", 1e-6)
    key = _stuck(good[-window:], rtol)
    stuck = key and (f"{key} {good[-1][key]:.6g} did not move over the last {window} epochs "
                     f"(relative spread <= {rtol:g})")
    fell = result["collapse"] > criterion["collapse"]

    def collapsed(then=""):
        return status("collapsed", f"collapsed: final accuracy {accs[-1]:.3f} is "
                                   f"{result['collapse']:.3f} below its best (more than "
                                   f"{criterion['collapse']}){then}")
    if stuck:  # one that had learned, fell back and froze there is collapsed: it had learned
        return collapsed(f", then stuck: {stuck}") if fell else status("stuck", f"stuck: {stuck}")
    gain = max(result["improvement"], result["mean_improvement"])
    if gain > criterion["min_delta"]:
        which = "best" if result["improvement"] >= result["mean_improvement"] else "mean"
        return status("still improving", f"still improving: the {which} validation accuracy rose "
                                         f"{gain:+.3f} over the last {window} epochs (more than "
                                         f"{criterion['min_delta']})")
    if fell:
        return collapsed()
    return status("converged", "stopped improving")


def summarize(config, history, **extra):
    """metrics.json of a run: its configuration's names, its history and what
    follows from it (best epoch, divergence, convergence, times); `extra`
    (parameters, dead units, backend, device, environment, ...) is added."""
    good = counted(history)
    best = max(good, key=lambda r: r["val_accuracy"]) if good else None
    tests = [r.get("test_accuracy", r["val_accuracy"]) for r in good]
    seconds = [r["seconds"] for r in history]
    walls = [r.get("wall", r["seconds"]) for r in history]
    stop = diverged_epoch(history)
    return {
        "experiment": config["experiment"],
        "variant": config["variant"],
        "seed": config["seed"],
        "scale": config["scale"],
        "best_val_accuracy": best["val_accuracy"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "test_accuracy": best.get("test_accuracy", best["val_accuracy"]) if best else None,
        "best_test_accuracy": max(tests) if tests else None,
        "test_correct": best.get("test_correct") if best else None,
        "final_val_accuracy": good[-1]["val_accuracy"] if good else None,
        "epochs_run": len(history),
        "epochs_planned": config["epochs"],
        "median_epoch_seconds": statistics.median(seconds[1:] or seconds) if seconds else None,
        "train_seconds": sum(seconds),
        # The paper's measure (Table 6): first to last event of the event
        # file, which Keras wrote at the end of each epoch: epochs 2 to N,
        # evaluation and everything between epochs included.
        "wall_seconds": sum(walls[1:]),
        "diverged": stop is not None,
        "diverged_epoch": stop,
        "convergence": convergence(history, config["convergence"]),
        "history": history,
        **extra,
    }
