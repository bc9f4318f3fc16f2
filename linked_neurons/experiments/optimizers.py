"""The optimizer of a run: its name, learning rate and the paper's schedule."""

import keras
from keras import ops

from linked_neurons.experiments.schedules import PaperSchedule


@keras.saving.register_keras_serializable(package="linked_neurons")
class Keras2RMSprop(keras.optimizers.RMSprop):
    """RMSprop with Keras 2's update, which adds epsilon outside the root.

    `v <- rho * v + (1 - rho) * g**2;  p <- p - lr * g / (sqrt(v) + epsilon)`.
    Keras 3's RMSprop divides by `sqrt(v + epsilon)` instead; while `v` is
    small (early steps, rarely updated weights) the two steps differ by orders
    of magnitude. The authors' extended-network scripts trained with Keras 2's.
    Keras 2's RMSprop had neither momentum nor a centered form, so neither is
    accepted here.

    Args:
        learning_rate: a float or a `LearningRateSchedule`.
        rho: discount factor of the squared-gradient average (Keras 2: 0.9).
        epsilon: added to `sqrt(v)` (default 1e-7, Keras 2's `K.epsilon()`).
        **kwargs: Keras optimizer keyword arguments (`name`, `clipnorm`, ...).

    Reference: Riera et al., arXiv:1712.02609 (the authors' Keras 2 scripts);
    Tieleman and Hinton, Lecture 6.5 - RMSprop, COURSERA (2012).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        if kwargs.pop("momentum", 0.0) or kwargs.pop("centered", False):
            raise ValueError("Keras2RMSprop: Keras 2's RMSprop has no momentum and no centered form")
        super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(
            velocity,
            ops.add(ops.multiply(self.rho, velocity), ops.multiply(1 - self.rho, ops.square(gradient))),
        )
        step = ops.divide(ops.multiply(lr, gradient), ops.add(ops.sqrt(velocity), self.epsilon))
        self.assign_sub(variable, step)


def make_optimizer(config, steps_per_epoch):
    """The Keras optimizer of run configuration `config`, whose epochs have
    `steps_per_epoch` steps (the schedule's boundaries are given in epochs).

    `optimizer.epsilon_style: keras2` (RMSprop only) gives Keras 2's RMSprop
    update (`Keras2RMSprop`); SGD and Adam update alike in Keras 2 and 3."""
    opt = config["optimizer"]
    stretch = 1.0
    if config.get("lr_schedule_epochs"):
        stretch = config["epochs"] / config["lr_schedule_epochs"]
    schedule = PaperSchedule(
        opt["learning_rate"],
        decay=opt.get("decay", 0.0),
        boundaries=[int(b * stretch * steps_per_epoch) for b in config["lr_boundaries"]],
        multipliers=config["lr_multipliers"],
    )
    keras2 = opt.get("epsilon_style", "keras3") == "keras2"
    if keras2 and opt["name"] != "rmsprop":
        raise ValueError(f"optimizer.epsilon_style keras2 is for rmsprop, not {opt['name']}")
    if opt["name"] == "sgd":
        return keras.optimizers.SGD(
            schedule, momentum=opt.get("momentum", 0.0), nesterov=opt.get("nesterov", False)
        )
    if opt["name"] == "adam":
        return keras.optimizers.Adam(schedule)
    if keras2:
        return Keras2RMSprop(schedule)
    return keras.optimizers.RMSprop(schedule)
