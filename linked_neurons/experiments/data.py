"""A run's data: loaded, split, preprocessed, and each epoch's batch order."""

import numpy as np

from linked_neurons_core import datasets
from linked_neurons_core.table import ConfigError


def prepare(config):
    """The run's data, preprocessed: (x, y) to train on, (x_val, y_val) to
    choose on and (x_test, y_test) to report. With `selection: test` (the
    authors') the test set is also the validation set; with `selection:
    validation` the last `validation_size` samples of a fixed permutation of
    the training set (seed 0, the same for every run) are held out for it."""
    (x, y), (xt, yt) = datasets.load(config["dataset"])
    if config.get("selection", "test") == "validation":
        held = config["validation_size"]
        if held >= len(x):
            raise ConfigError(f"validation_size {held} leaves none of the {len(x)} training "
                              "samples to train on: lower it")
        order = np.random.default_rng(0).permutation(len(x))
        keep, out = np.sort(order[:-held]), np.sort(order[-held:])
        (x, y), (xv, yv) = (x[keep], y[keep]), (x[out], y[out])
    else:
        xv, yv = xt, yt
    size = config.get("image_size")
    shift = config["input_offset"] - (0.5 if config["input_center"] else 0.0)

    def preprocess(a):
        a = fit_size(a, size) if size else a
        return a + np.float32(shift) if shift else a

    x, xv, xt = preprocess(x), (preprocess(xv) if xv is not xt else None), preprocess(xt)
    xv = xt if xv is None else xv
    if config.get("max_train_samples"):
        x, y = x[: config["max_train_samples"]], y[: config["max_train_samples"]]
    return (x, y), (xv, yv), (xt, yt)


def fit_size(images, size):
    """Zero-pad (or centre-crop) NHWC images to size x size (`image_size`)."""
    out = images
    for axis in (1, 2):
        n = out.shape[axis]
        if n < size:
            pad = [(0, 0)] * out.ndim
            pad[axis] = ((size - n) // 2, size - n - (size - n) // 2)
            out = np.pad(out, pad)
        elif n > size:
            start = (n - size) // 2
            out = np.take(out, range(start, start + size), axis=axis)
    return out


def epoch_order(config, epoch, n):
    """The order in which epoch `epoch` (0-based) visits the n samples: drawn
    from (seed, epoch) alone, so a resumed run sees the batches an
    uninterrupted one does; the dataset's own order with `shuffle: false`."""
    if not config.get("shuffle", True):
        return np.arange(n)
    return np.random.default_rng([config["seed"], epoch]).permutation(n)
