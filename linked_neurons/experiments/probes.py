"""The dead-unit probe: which units of each activation layer output a
constant value over a set of samples (recorded in every run's metrics)."""

import numpy as np

#: A unit (channel) is dead, as the paper's footnote defines a dead region,
#: when it "outputs a constant value": when its output at every position
#: varies across the samples by at most this fraction of its layer's output
#: scale (the largest |output| of the layer over the samples and units).
#: 32 float32 ulps (3.8e-6), set between the two populations measured on
#: depth (seed 100, 15 epochs, float32, jax): float rounding of an input that
#: no longer varies is 0 to 4.4e-7 (Swish's deep layers, where the signal
#: has decayed below float resolution), and a PReLU unit whose pre-activation
#: is negative on every sample (ReLU's exact zero, with a slope near 0) is
#: 5.3e-7 and less; units that still carry the signal vary by 2.9e-5 and
#: more (LK-ReLU's deepest members, PReLU's and Swish's last varying layers
#: 1.8e-4 and 1e-5). Where a signal decays layer by layer (Swish, layers
#: 27-30: 5e-5, 1e-5, 2e-6, 4e-7), the count moves by one layer within a
#: factor of 5 of this value.
DEAD_RTOL = 32 * float(np.finfo(np.float32).eps)


def unit_ranges(model, x, batch_size=512, probe=None):
    """Per activation layer, per unit (channel): how much its output varies
    across the samples of `x` and how large it is. Returns ([(layer, spread,
    magnitude)], probe): `spread` the largest over positions of (max - min
    over samples), `magnitude` the largest |output|, each an array over the
    layer's channels. `probe` (from a previous call, same model) saves
    building it again."""
    import keras
    from keras import ops

    from linked_neurons.experiments.models import activation_layers

    probed = activation_layers(model)
    if not probed:
        return [], None
    if probe is None:
        outputs = []
        for layer in probed:
            # Each batch's minimum and maximum over its samples, per position
            # and channel; `predict` stacks them, one row a batch.
            a = ops.cast(layer.output, "float32")
            outputs += [ops.min(a, axis=0, keepdims=True), ops.max(a, axis=0, keepdims=True)]
        probe = keras.Model(model.input, outputs)
    extremes = probe.predict(x, batch_size=batch_size, verbose=0)
    result = []
    for i, layer in enumerate(probed):
        low, high = extremes[2 * i].min(axis=0), extremes[2 * i + 1].max(axis=0)
        channel = getattr(layer, "axis", -1) % (low.ndim + 1) - 1  # without the batch axis
        low, high = np.moveaxis(low, channel, -1), np.moveaxis(high, channel, -1)
        low, high = low.reshape(-1, low.shape[-1]), high.reshape(-1, high.shape[-1])
        result.append((layer, (high - low).max(axis=0),
                       np.maximum(np.abs(low), np.abs(high)).max(axis=0)))
    return result, probe


def dead_units(model, x, batch_size=512, probe=None, rtol=DEAD_RTOL):
    """Per activation layer: {"dead": units whose output is constant across
    the samples of `x` (`DEAD_RTOL`), "zero": units that are exactly zero on
    every sample, "units": its units}. A linked unit is dead (zero) only when
    both of its members are. `probe` (from a previous call, same model) saves
    building it again."""
    from linked_neurons import Linked

    ranges, probe = unit_ranges(model, x, batch_size, probe)
    result = {}
    for layer, spread, magnitude in ranges:
        constant = spread <= rtol * magnitude.max()
        zero = magnitude == 0
        if isinstance(layer, Linked):
            # A linked unit is dead only when both of its members are.
            half = constant.shape[-1] // 2
            constant = constant[:half] & constant[half:]
            zero = zero[:half] & zero[half:]
        result[layer.name] = {"dead": int(constant.sum()), "zero": int(zero.sum()),
                              "units": int(constant.shape[-1])}
    return result, probe
