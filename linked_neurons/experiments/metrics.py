"""A run's summary (metrics.json) from its per-epoch history.

Pure Python, no Keras: the pipeline's extraction and the tests use it too.

- **Divergence.** An epoch whose training or validation loss is not finite
  diverged; it and every later epoch do not count. `best_val_accuracy` is the
  best of the epochs before it (None when the first epoch diverged), and
  `diverged_epoch` says which epoch it was.
- **Convergence** (`config["convergence"]`: `window`, `min_delta`,
  `collapse`). A run *converged* when it did not diverge, ran more than
  `window` epochs, its best validation accuracy over its last `window` epochs
  rose by at most `min_delta` over the best before them (it had stopped
  improving), and its final accuracy is within `collapse` of its best (it did
  not fall back after its best epoch, which the best-over-epochs metric would
  hide). A run at chance throughout is converged by this criterion: the
  claims that need it to have learned say so themselves.
"""

import math
import statistics

#: The per-epoch values of a history record, also the TensorBoard tags `epoch/<tag>`.
TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def finite(value):
    return value is not None and math.isfinite(value)


def diverged_epoch(history):
    """The first epoch (1-based) whose loss or validation loss is not finite, else None."""
    for record in history:
        if not (finite(record["loss"]) and finite(record["val_loss"])):
            return record["epoch"]
    return None


def counted(history):
    """The epochs that count: those before divergence."""
    stop = diverged_epoch(history)
    return [r for r in history if stop is None or r["epoch"] < stop]


def convergence(history, criterion):
    """Whether a run converged, by `criterion` (window, min_delta, collapse)."""
    window = criterion["window"]
    accs = [r["val_accuracy"] for r in counted(history)]
    result = {"criterion": dict(criterion), "converged": False, "improvement": None,
              "collapse": None}
    if diverged_epoch(history) is not None:
        result["reason"] = "diverged"
        return result
    if len(accs) <= window:
        result["reason"] = f"ran {len(accs)} epochs, not more than the window of {window}"
        return result
    improvement = max(accs[-window:]) - max(accs[:-window])
    collapse = max(accs) - accs[-1]
    result.update(improvement=improvement, collapse=collapse)
    if improvement > criterion["min_delta"]:
        result["reason"] = (f"still improving: +{improvement:.3f} over the last {window} epochs "
                            f"(more than {criterion['min_delta']})")
    elif collapse > criterion["collapse"]:
        result["reason"] = (f"collapsed: final accuracy {accs[-1]:.3f} is {collapse:.3f} below "
                            f"its best (more than {criterion['collapse']})")
    else:
        result.update(converged=True, reason="stopped improving")
    return result


def plateaued(history, policy):
    """Early stopping: whether the best validation accuracy has not improved by
    more than `min_delta` for `patience` epochs (and `min_epochs` have run)."""
    if not policy or len(history) < policy.get("min_epochs", 1):
        return False
    patience = policy["patience"]
    accs = [r["val_accuracy"] for r in counted(history)]
    if len(accs) <= patience:
        return False
    return max(accs[-patience:]) - max(accs[:-patience]) <= policy.get("min_delta", 0.0)


def summarize(config, history, **extra):
    """metrics.json of a run: its configuration's names, its history and what
    follows from it (best epoch, divergence, convergence, times); `extra`
    (parameters, dead units, backend, device, environment, ...) is added."""
    good = counted(history)
    best = max(good, key=lambda r: r["val_accuracy"]) if good else None
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
