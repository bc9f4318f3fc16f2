"""Seeding: the global generators of a run, and its random layers' seed
states at the start of each epoch."""

import numpy as np


def set_seed(seed):
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


def seed_states(model):
    """Indices, in `model.non_trainable_variables`, of the random layers' seed states."""
    return [i for i, v in enumerate(model.non_trainable_variables) if v.name == "seed_generator_state"]


def epoch_seed_values(model, seed, epoch):
    """The seed states of every random layer (dropout, augmentation) at the
    start of epoch `epoch`, from (seed, epoch): a resumed run draws what an
    uninterrupted one does."""
    values = {}
    for n, i in enumerate(seed_states(model)):
        dtype = model.non_trainable_variables[i].dtype
        value = np.random.default_rng([seed, epoch, n]).integers(2**30)
        values[i] = np.array([value, 0], dtype=dtype)
    return values
