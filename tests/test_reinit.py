"""One model per group: a run's initial values drawn again on the group's model
(`linked_neurons.experiments.reinit`) are those of a model built alone with
its seed, bit for bit: weights, normalization statistics, random layers' seed
states, a new optimizer's variables; and Python's generator is left where
that build leaves it."""

import random

import numpy as np
import pytest

from linked_neurons_core.table import Table


def bits(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


NETWORKS = [
    ("depth", "lkprelu", {"depth": 3}),  # linked units with trained slopes
    ("depth", "brn", {"depth": 3}),  # batch renormalization
    ("allcnn", "relu_fixed", {}),  # dropout: seed generators
    ("extended", "selu_sqrt2", {}),  # glorot_normal, dense layers
    ("resnet50_nobn", "lkselu_none", {"augment": True}),  # stem BN, FlipShift
    ("width", "w50_swish", {}),
    ("input_shift", "prelu_shift10", {}),
]


@pytest.mark.parametrize("experiment,variant,overrides", NETWORKS,
                         ids=[f"{e}-{v}" for e, v, _ in NETWORKS])
def test_initial_values_equal_a_model_built_alone(experiment, variant, overrides):
    pytest.importorskip("jax")
    from linked_neurons.experiments.build import build
    from linked_neurons.experiments.build import fresh_values
    from linked_neurons.experiments.rundir import Run

    table = Table()
    config = table.resolve(experiment, variant, "quick", overrides, seed=100)
    shape, classes = (12, 12, 1), 10
    model, initial = build(config, shape, classes, 7)
    assert initial.exact, initial.reason
    for seed in (100, 102):
        run = Run({**config, "seed": seed}, "/tmp/unused")
        drawn = fresh_values(run, shape, classes, initial)
        after_drawn = random.getstate()
        alone = fresh_values(run, shape, classes)  # a model built with the seed
        assert random.getstate() == after_drawn
        assert len(drawn) == len(alone)
        for a, b, variable in zip(drawn, alone, initial.variables):
            assert a.dtype == b.dtype and a.shape == b.shape, variable.path
            assert np.array_equal(bits(a), bits(b)), variable.path
    # The seeds give different weights (the test would pass on constants).
    assert not np.array_equal(drawn[0], initial.values[0])


def test_an_unaccounted_draw_falls_back_to_a_build():
    pytest.importorskip("jax")
    from linked_neurons.experiments.build import build
    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.reinit import Initial

    config = Table().resolve("width", "w50_relu", "quick", seed=100)
    model, _ = build(config, (8, 8, 1), 10, 3)
    random.seed(5)
    before = random.getstate(), np.random.get_state()
    random.random()  # a draw no initializer took
    initial = Initial(model, state_variables(model), 100, *before)
    assert not initial.exact and initial.reason
