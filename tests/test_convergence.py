"""A run's status from its history (linked_neurons_core/metrics.py):
converged, still improving, collapsed, stuck, too short or diverged; and the
epoch that validation chooses, with the test accuracy reported at it."""

import math

import pytest

from linked_neurons_core import metrics
from linked_neurons_core import stopping

CRITERION = {"window": 5, "min_delta": 0.01, "collapse": 0.1, "stuck_rtol": 1e-6}


def history(val, loss=None, val_loss=None, test=None):
    n = len(val)
    loss = loss or [1.0 / (i + 1) for i in range(n)]
    val_loss = val_loss or [1.5 / (i + 1) for i in range(n)]
    test = test or val
    return [{"epoch": i + 1, "loss": loss[i], "accuracy": 0.5, "val_loss": val_loss[i],
             "val_accuracy": val[i], "test_accuracy": test[i], "learning_rate": 0.01,
             "seconds": 1.0} for i in range(n)]


def status(records):
    return metrics.convergence(records, CRITERION)


def test_a_plateau_is_converged():
    plateau = [0.96, 0.955, 0.96, 0.958, 0.96]
    result = status(history([0.5, 0.8, 0.9, 0.95, 0.96] + plateau * 2))
    assert result["status"] == "converged" and result["converged"] is True


def test_a_stuck_run_is_not_converged():
    # The saturated softmax of input_shift LK-SELU +40: the clipped
    # cross-entropy is constant and no gradient reaches the weights.
    n = 25
    records = history([0.1] * n, loss=[14.2377] * n, val_loss=[14.2377] * n)
    result = status(records)
    assert result["status"] == "stuck" and result["converged"] is False
    assert "did not move" in result["reason"]
    # The same accuracies with losses that move: a run at chance, converged.
    moving = history([0.1] * n)
    assert status(moving)["status"] == "converged"


def test_a_run_that_learned_then_fell_and_froze_is_collapsed_not_stuck():
    # All-CNN LK-SELU with a fixed rate: 0.98 by epoch 35, then its loss blew
    # up and froze at chance. Stuck would read as a run that never learned.
    n = 15
    val = [0.5, 0.9, 0.98, 0.98, 0.98] + [0.1] * (n - 5)
    loss = [1.0, 0.5, 0.1, 0.1, 0.1] + [13.79] * (n - 5)
    result = status(history(val, loss=loss, val_loss=loss))
    assert result["status"] == "collapsed" and result["converged"] is False
    assert "below its best" in result["reason"] and "then stuck: loss 13.79" in result["reason"]
    # Frozen within `collapse` of its best: stuck, as before.
    val = [0.5, 0.9, 0.98, 0.98, 0.98] + [0.95] * (n - 5)
    assert status(history(val, loss=loss, val_loss=loss))["status"] == "stuck"


def test_an_early_stopped_run_still_improving_at_its_stop_is_not_converged():
    # A noisy best early (0.90 at epoch 4) and then a steady climb: the best
    # does not improve for 9 epochs, so early stopping (patience 8) ends the
    # run, but its mean validation accuracy still rises.
    val = [0.1, 0.2, 0.5, 0.90, 0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87, 0.88]
    records = history(val)
    assert stopping.plateaued(records, {"patience": 8, "min_delta": 0.01})
    result = status(records)
    assert result["status"] == "still improving" and result["converged"] is False
    assert result["mean_improvement"] > 0.01 >= result["improvement"]


def test_a_collapse_and_a_divergence_and_a_short_run_are_not_converged():
    assert status(history([0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.6, 0.6, 0.6, 0.6, 0.6]))["status"] \
        == "collapsed"
    assert status(history([0.5, 0.6, 0.7]))["status"] == "too short"
    records = history([0.5, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7])
    records[-1]["loss"] = math.nan
    assert status(records)["status"] == "diverged"


def test_validation_chooses_the_epoch_and_the_test_accuracy_is_reported_there():
    val = [0.5, 0.9, 0.8, 0.85]
    test = [0.55, 0.80, 0.95, 0.70]
    config = {"experiment": "e", "variant": "v", "seed": 1, "scale": "quick", "epochs": 4,
              "convergence": CRITERION}
    summary = metrics.summarize(config, history(val, test=test))
    assert summary["best_epoch"] == 2
    assert summary["test_accuracy"] == 0.80  # at the epoch validation chose
    assert summary["best_test_accuracy"] == 0.95  # the paper's measure: chosen on test


@pytest.mark.parametrize("n", [1, 7, 8, 360])
def test_per_sample_correctness_packs_and_unpacks(n):
    import numpy as np

    right = np.random.default_rng(n).random(n) < 0.5
    assert (metrics.unpack_correct(metrics.pack_correct(right)) == right).all()
