"""Linked activations: one pre-activation, two members, concatenated.

Reference: Riera et al., "Solving internal covariate shift in deep learning
with linked neurons", arXiv:1712.02609 (2017).
"""

import keras
from keras import activations as keras_activations
from keras import ops

from linked_neurons import activations

POLICIES = ("mirror", "minmax")

# Names resolved to this package's versions before Keras's own: `relu` keeps the
# linking property at 0 (see `linked_neurons.activations.relu`).
_OWN = {"relu": activations.relu, "swish": activations.swish}


def get_activation(identifier):
    """Resolve an activation name or callable; unknown names raise ValueError."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _OWN:
        return _OWN[identifier]
    try:
        return keras_activations.get(identifier)
    except (ValueError, TypeError):
        allowed = sorted(set(_OWN) | set(_keras_activation_names()))
        raise ValueError(
            f"Unknown activation {identifier!r}: use a callable or one of "
            f"{', '.join(allowed)}."
        ) from None


def _keras_activation_names():
    return [
        name
        for name in dir(keras_activations)
        if not name.startswith("_")
        and name not in ("get", "serialize", "deserialize")
    ]


@keras.saving.register_keras_serializable(package="linked_neurons")
class Linked(keras.layers.Layer):
    """Links an activation: two members of one input, concatenated on `axis`.

    With `policy="mirror"` the members are `f(x)` and `f(-x)`; with
    `policy="minmax"` they are `f(x)` and `-f(-x)` (for ReLU: `max(0, x)` and
    `min(0, x)`). Either way the output has twice the input's size on `axis`,
    and for ReLU-like `f` at least one member has a non-zero derivative at
    every input (the linking property), so no unit can die.

    Args:
        activation: name of a Keras activation (`"relu"`, `"selu"`, ...) or a
            callable of one tensor.
        policy: `"mirror"` (default) or `"minmax"`.
        axis: the axis to concatenate on (`-1` for channels_last models, `1`
            for channels_first ones). Its size must be known at build time.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Reference: Riera et al., arXiv:1712.02609, section 3.
    """

    def __init__(self, activation, policy="mirror", axis=-1, **kwargs):
        super().__init__(**kwargs)
        if policy not in POLICIES:
            raise ValueError(
                f"Unknown linking policy {policy!r}: use one of "
                f"{', '.join(POLICIES)}."
            )
        self.activation = get_activation(activation)
        self.policy = policy
        self.axis = axis
        self.supports_masking = True

    def build(self, input_shape):
        axis = self.axis if self.axis >= 0 else len(input_shape) + self.axis
        if not 0 <= axis < len(input_shape):
            raise ValueError(
                f"{self.name}: axis {self.axis} is out of range for an input "
                f"of shape {tuple(input_shape)}."
            )
        if input_shape[axis] is None:
            raise ValueError(
                f"{self.name}: the linked axis {self.axis} of input shape "
                f"{tuple(input_shape)} has no defined size; linking doubles "
                "it, so give the input a fixed size on that axis."
            )

    def members(self, inputs):
        """The two members `(f(x), f(-x))`, or `(f(x), -f(-x))` for minmax."""
        negative = self.activation(-inputs)
        if self.policy == "minmax":
            negative = -negative
        return self.activation(inputs), negative

    def call(self, inputs):
        return ops.concatenate(self.members(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self.axis] is not None:
            shape[self.axis] *= 2
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "activation": keras_activations.serialize(self.activation),
            "policy": self.policy,
            "axis": self.axis,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        activation = config["activation"]
        if not isinstance(activation, str):
            config["activation"] = keras_activations.deserialize(activation)
        return cls(**config)


class _FixedLinked(Linked):
    """A `Linked` whose activation and policy are fixed by the subclass."""

    ACTIVATION = None

    def __init__(self, axis=-1, **kwargs):
        super().__init__(self.ACTIVATION, policy="mirror", axis=axis, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["activation"], config["policy"]
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="linked_neurons")
class LKReLU(_FixedLinked):
    """Linked ReLU: `relu(x), relu(-x)` concatenated on `axis` (= CReLU).

    Args:
        axis: the axis to concatenate on, `-1` (default) or `1` for
            channels_first models.
        **kwargs: base layer keyword arguments.

    Reference: Riera et al., arXiv:1712.02609.
    """

    ACTIVATION = "relu"


@keras.saving.register_keras_serializable(package="linked_neurons")
class LKSELU(_FixedLinked):
    """Linked SELU: `selu(x), selu(-x)` concatenated on `axis`.

    Args:
        axis: the axis to concatenate on.
        **kwargs: base layer keyword arguments.

    Reference: Riera et al., arXiv:1712.02609.
    """

    ACTIVATION = "selu"


@keras.saving.register_keras_serializable(package="linked_neurons")
class LKSwish(_FixedLinked):
    """Linked Swish: `swish(x), swish(-x)` concatenated on `axis`.

    Args:
        axis: the axis to concatenate on.
        **kwargs: base layer keyword arguments.

    Reference: Riera et al., arXiv:1712.02609.
    """

    ACTIVATION = "swish"
