"""A group's model: compiled as a run trains it, and each run's initial
state (the values a model built with its seed starts from)."""

import logging

import numpy as np

from linked_neurons.experiments.seeding import set_seed

log = logging.getLogger("linked_neurons.train")


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


def fresh_values(run, shape, num_classes, initial=None):
    """The initial state of `run`, as a run trained alone starts: the values
    of a model built with its seed and a new optimizer's variables. Drawn
    again from the group's model (`initial`, from `build`: the same values
    bit for bit, `reinit.py`) where that is exact, else from a model built
    with its seed."""
    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.models import build_model

    set_seed(run.seed)
    if initial is not None and initial.exact:
        return initial(run.seed)
    model = build_model(run.config, shape, num_classes)
    compile_for_training(model, run.config, 1)
    return read_values(state_variables(model))


def build(config, shape, num_classes, steps):
    """The group's model, compiled, and its runs' initial values
    (`reinit.Initial`: one build per group, not one per seed)."""
    import random

    from linked_neurons.experiments.checkpoint import state_variables
    from linked_neurons.experiments.models import build_model
    from linked_neurons.experiments.reinit import Initial

    set_seed(config["seed"])
    before = random.getstate(), np.random.get_state()
    model = build_model(config, shape, num_classes)
    compile_for_training(model, config, steps)
    initial = Initial(model, state_variables(model), config["seed"], *before)
    if not initial.exact:
        log.info("a model per seed: %s", initial.reason)
    return model, initial


def read_values(variables):
    """The variables' values as NumPy arrays, on every backend."""
    from keras import ops

    return [ops.convert_to_numpy(v.value) for v in variables]


def assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)
