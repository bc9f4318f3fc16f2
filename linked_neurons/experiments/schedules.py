"""The paper's learning-rate policies as one Keras schedule."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="linked_neurons")
class PaperSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant multipliers with Keras 2's inverse-time `decay`.

    `lr(step) = learning_rate * multipliers[i] / (1 + decay * step)`, where
    `i` counts the `boundaries` (in steps) that `step` has reached. With no
    boundaries and `decay=0` it is a constant.

    Args:
        learning_rate: the base learning rate.
        decay: Keras 2's `decay` argument of its optimizers.
        boundaries: steps at which the multiplier changes, increasing.
        multipliers: one more than `boundaries`.
    """

    def __init__(self, learning_rate, decay=0.0, boundaries=(), multipliers=(1.0,)):
        if len(multipliers) != len(boundaries) + 1:
            raise ValueError("PaperSchedule needs one more multiplier than boundaries")
        self.learning_rate = float(learning_rate)
        self.decay = float(decay)
        self.boundaries = [int(b) for b in boundaries]
        self.multipliers = [float(m) for m in multipliers]

    def __call__(self, step):
        step = ops.cast(step, "float32")
        multiplier = ops.convert_to_tensor(self.multipliers[0], "float32")
        for boundary, value in zip(self.boundaries, self.multipliers[1:]):
            multiplier = ops.where(step >= boundary, value, multiplier)
        return self.learning_rate * multiplier / (1.0 + self.decay * step)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "decay": self.decay,
            "boundaries": self.boundaries,
            "multipliers": self.multipliers,
        }
