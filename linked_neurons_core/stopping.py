"""When a run stops early, and which of its epochs count: the part of a
run's summary that decides training itself (early stopping), so it is in
the code digest (`table.CODE`): an edit here retrains. Pure Python, no Keras.
"""

import math


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
