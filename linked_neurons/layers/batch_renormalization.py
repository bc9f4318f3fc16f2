"""Batch Renormalization with the warm-up schedule of its clipping bounds."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="linked_neurons")
class BatchRenormalization(keras.layers.BatchNormalization):
    """Batch Renormalization (Ioffe 2017) with scheduled clipping.

    Keras's `BatchNormalization(renorm=True)` with one addition: the clipping
    bounds follow the paper's warm-up instead of staying constant. For the
    first `warmup_steps` training steps `r_max = 1` and `d_max = 0`, which is
    plain batch normalization; over the next `ramp_steps` steps they grow
    linearly to `rmax` and `dmax`, and stay there. `r_min` is always
    `1 / r_max`. With `warmup_steps=0, ramp_steps=0` the bounds are constant
    and the layer is Keras's `BatchNormalization(renorm=True,
    renorm_clipping={"rmax": rmax, "rmin": 1 / rmax, "dmax": dmax})`.

    Only training calls advance the schedule; inference uses the moving
    statistics, as in batch normalization. A drop-in replacement for
    `keras.layers.BatchNormalization`: every other argument is passed on.

    Args:
        rmax: final bound of the scale correction `r`, at least 1.
        dmax: final bound of the shift correction `d`, at least 0.
        warmup_steps: training steps of plain batch normalization.
        ramp_steps: training steps over which the bounds relax to their
            final values after the warm-up.
        renorm_momentum: momentum of the moving mean and standard deviation
            used to compute `r` and `d`.
        **kwargs: `keras.layers.BatchNormalization` arguments (axis,
            momentum, epsilon, center, scale, initializers, ...).

    Reference: Ioffe, "Batch Renormalization: Towards Reducing Minibatch
    Dependence in Batch-Normalized Models", arXiv:1702.03275 (2017).
    """

    def __init__(
        self,
        rmax=3.0,
        dmax=5.0,
        warmup_steps=5000,
        ramp_steps=20000,
        renorm_momentum=0.99,
        **kwargs,
    ):
        for key in ("renorm", "renorm_clipping"):
            if key in kwargs:
                raise ValueError(
                    f"BatchRenormalization sets {key} itself: use rmax, dmax, "
                    "warmup_steps and ramp_steps instead."
                )
        if rmax < 1 or dmax < 0:
            raise ValueError(
                f"BatchRenormalization needs rmax >= 1 and dmax >= 0, got "
                f"rmax={rmax}, dmax={dmax}."
            )
        if warmup_steps < 0 or ramp_steps < 0:
            raise ValueError(
                "BatchRenormalization needs warmup_steps >= 0 and ramp_steps "
                f">= 0, got {warmup_steps} and {ramp_steps}."
            )
        super().__init__(
            renorm=True,
            renorm_clipping={"rmax": rmax, "rmin": 1.0 / rmax, "dmax": dmax},
            renorm_momentum=renorm_momentum,
            **kwargs,
        )
        self.rmax = float(rmax)
        self.dmax = float(dmax)
        self.warmup_steps = int(warmup_steps)
        self.ramp_steps = int(ramp_steps)

    def build(self, input_shape):
        super().build(input_shape)
        self.renorm_step = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="renorm_step",
        )

    def clipping(self, step):
        """The bounds `(r_max, d_max)` in force at training step `step`."""
        step = ops.cast(step, "float32")
        if self.ramp_steps == 0:
            progress = ops.cast(step >= self.warmup_steps, "float32")
        else:
            progress = (step - self.warmup_steps) / self.ramp_steps
            progress = ops.clip(progress, 0.0, 1.0)
        return 1.0 + (self.rmax - 1.0) * progress, self.dmax * progress

    def _renorm_correction_and_moments(self, mean, variance):
        # Keras's correction (keras.layers.BatchNormalization), with the
        # scheduled bounds in place of the constant `renorm_clipping`.
        stddev = ops.sqrt(variance + self.epsilon)
        renorm_mean = ops.cast(self.renorm_mean, mean.dtype)
        renorm_stddev = ops.maximum(
            ops.cast(self.renorm_stddev, mean.dtype),
            ops.sqrt(ops.cast(self.epsilon, mean.dtype)),
        )
        r = ops.divide(stddev, renorm_stddev)
        d = ops.divide(ops.subtract(mean, renorm_mean), renorm_stddev)
        rmax, dmax = self.clipping(self.renorm_step)
        rmax = ops.cast(rmax, mean.dtype)
        dmax = ops.cast(dmax, mean.dtype)
        r = ops.clip(r, 1.0 / rmax, rmax)
        d = ops.clip(d, -dmax, dmax)
        self.renorm_step.assign(self.renorm_step + 1)
        return r, d, mean, variance

    def get_config(self):
        config = super().get_config()
        del config["renorm"], config["renorm_clipping"]
        return {
            **config,
            "rmax": self.rmax,
            "dmax": self.dmax,
            "warmup_steps": self.warmup_steps,
            "ramp_steps": self.ramp_steps,
        }
