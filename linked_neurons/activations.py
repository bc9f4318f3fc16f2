"""Activation functions used by the linked layers.

Both are plain functions built from `keras.ops`, registered for serialization
so that a model that uses them by reference saves and loads.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="linked_neurons")
def relu(x):
    """Rectified linear unit whose derivative at 0 is 1 (the right derivative).

    Numerically identical to `keras.activations.relu`. The autodiff convention
    of every backend gives `relu'(0) = 0`; with it, both members of a linked
    pair `relu(x), relu(-x)` would have a zero derivative at `x = 0`, breaking
    the linking property exactly at the kink. Choosing the other subgradient
    keeps it: at every input at least one member has a non-zero derivative.
    """
    return ops.where(x >= 0, x, ops.zeros_like(x))


@keras.saving.register_keras_serializable(package="linked_neurons")
def swish(x):
    """Swish, `x * sigmoid(x)` (Ramachandran et al. 2017), a.k.a. SiLU."""
    return ops.silu(x)
