"""Linked PReLU: two PReLU members with independently trained slopes."""

import keras
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from linked_neurons.layers.linked import _FixedLinked


def _prelu(x, alpha):
    # Derivative 1 at x = 0, like `linked_neurons.activations.relu`.
    return ops.where(x >= 0, x, alpha * x)


@keras.saving.register_keras_serializable(package="linked_neurons")
class LKPReLU(_FixedLinked):
    """Linked PReLU: `prelu_a(x), prelu_b(-x)` concatenated on `axis`.

    The two members hold their own slope sets, `alpha_a` and `alpha_b`, both
    trainable weights of this layer (unless `alpha_trainable=False`). Each has
    the shape Keras's `PReLU` gives its `alpha`: the input's shape without the
    batch axis, with size 1 on `shared_axes`.

    With `alpha_trainable=False` the slopes stay at their initial value; with
    the default zeros the layer is then LK-ReLU. That is how the authors'
    Keras 2 layer most likely trained: it created its PReLU sublayers inside
    `build()`, whose weights Keras 2.0-2.2 did not collect.

    Args:
        alpha_initializer: initializer of both slope sets (default zeros, so
            the layer starts as LK-ReLU).
        alpha_regularizer: regularizer of both slope sets.
        alpha_constraint: constraint of both slope sets.
        shared_axes: axes (1-based, batch excluded) along which slopes are
            shared, as in `keras.layers.PReLU`; e.g. `[1, 2]` for one slope per
            channel of a 2D convolution.
        alpha_trainable: whether the slopes are trainable weights (default
            True); False freezes them at `alpha_initializer`'s values.
        axis: the axis to concatenate on.
        **kwargs: base layer keyword arguments.

    Reference: Riera et al., arXiv:1712.02609; He et al., arXiv:1502.01852.
    """

    ACTIVATION = "relu"

    def __init__(
        self,
        alpha_initializer="zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        alpha_trainable=True,
        axis=-1,
        **kwargs,
    ):
        super().__init__(axis=axis, **kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = list(shared_axes)
        else:
            self.shared_axes = [shared_axes]
        self.alpha_trainable = bool(alpha_trainable)

    def build(self, input_shape):
        super().build(input_shape)
        shape = list(input_shape[1:])
        for i in self.shared_axes or ():
            shape[i - 1] = 1
        self.alpha_a, self.alpha_b = (
            self.add_weight(
                shape=shape,
                name=name,
                initializer=self.alpha_initializer,
                regularizer=self.alpha_regularizer,
                constraint=self.alpha_constraint,
                trainable=self.alpha_trainable,
            )
            for name in ("alpha_a", "alpha_b")
        )

    def members(self, inputs):
        return _prelu(inputs, self.alpha_a), _prelu(-inputs, self.alpha_b)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
            "alpha_trainable": self.alpha_trainable,
        }
