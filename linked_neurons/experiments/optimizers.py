"""The optimizer of a run: its name, learning rate and the paper's schedule."""

import keras

from linked_neurons.experiments.schedules import PaperSchedule


def make_optimizer(config, steps_per_epoch):
    """The Keras optimizer of run configuration `config`, whose epochs have
    `steps_per_epoch` steps (the schedule's boundaries are given in epochs)."""
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
    if opt["name"] == "sgd":
        return keras.optimizers.SGD(
            schedule, momentum=opt.get("momentum", 0.0), nesterov=opt.get("nesterov", False)
        )
    if opt["name"] == "adam":
        return keras.optimizers.Adam(schedule)
    return keras.optimizers.RMSprop(schedule)
