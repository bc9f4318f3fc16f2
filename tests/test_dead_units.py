"""Dead units as the paper defines them: a unit whose output is constant
across the samples (train.dead_units), beside the exact-zero count."""

import keras
import numpy as np

from linked_neurons import LKReLU
from linked_neurons.experiments.probes import DEAD_RTOL
from linked_neurons.experiments.probes import dead_units


def _dense_then(activation, kernel, bias, inputs=2):
    """Input(inputs) -> Dense(len(bias)) with the given weights -> `activation`
    (named as the experiment models name the layers they probe)."""
    x = keras.Input((inputs,))
    dense = keras.layers.Dense(len(bias))
    h = activation(dense(x))
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    dense.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    return model


def _samples(n=40, inputs=2, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, (n, inputs)).astype("float32")


def test_a_prelu_unit_with_a_constant_nonzero_output_is_dead():
    # Unit 0 varies; unit 1 is prelu(-2) = -0.5 on every sample (constant, not
    # zero); unit 2 is prelu(0) = 0 on every sample (constant and zero).
    prelu = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), name="act_01")
    model = _dense_then(prelu, kernel=[[1.0, 0.0, 0.0], [-2.0, 0.0, 0.0]], bias=[0.0, -2.0, 0.0])
    result, _ = dead_units(model, _samples())
    assert result == {"act_01": {"dead": 2, "zero": 1, "units": 3}}


def test_a_unit_that_varies_is_alive_and_float_noise_is_not_life():
    # Unit 0 varies by 1% of its output, unit 1 by float32 rounding only
    # (1 and the next float above it), unit 2 is exactly constant.
    x = np.zeros((8, 1), "float32")
    x[::2] = 1.0
    eps = float(np.finfo("float32").eps)
    relu = keras.layers.ReLU(name="act_01")
    model = _dense_then(relu, kernel=[[0.01, eps, 0.0]], bias=[1.0, 1.0, 1.0], inputs=1)
    result, _ = dead_units(model, x)
    assert result["act_01"] == {"dead": 2, "zero": 0, "units": 3}
    # The tolerance lies between the two: 1e-2 alive, 1.2e-7 dead.
    assert eps < DEAD_RTOL < 1e-2


def test_a_linked_unit_with_one_constant_member_is_alive():
    # Unit 0: x > 0 on every sample, so relu(-x) is constantly 0 but relu(x)
    # varies: alive. Unit 1: x = -1, members 0 and 1, both constant: dead,
    # not zero. Unit 2: x = 0, both members 0: dead and zero.
    model = _dense_then(LKReLU(name="act_01"), kernel=[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
                        bias=[0.5, -1.0, 0.0])
    result, _ = dead_units(model, _samples())
    assert result == {"act_01": {"dead": 2, "zero": 1, "units": 3}}


def test_exact_zero_counts_relu_units_that_never_activate():
    # Units 0 and 2 are negative on every sample: relu gives exactly 0.
    model = _dense_then(keras.layers.ReLU(name="act_01"),
                        kernel=[[-1.0, 1.0, -3.0], [-1.0, 1.0, 0.0]], bias=[0.0, 0.0, 0.0])
    result, probe = dead_units(model, _samples())
    assert result == {"act_01": {"dead": 2, "zero": 2, "units": 3}}
    again, _ = dead_units(model, _samples(seed=1), probe=probe)  # the probe is reused
    assert again == result


def test_constant_across_samples_not_across_positions():
    # Channel 0 varies from sample to sample; channel 1 is one fixed spatial
    # pattern for every sample: it varies over positions and is still dead.
    x = np.random.default_rng(0).uniform(0.5, 1.5, (20, 4, 4, 2)).astype("float32")
    x[..., 1] = np.arange(16, dtype="float32").reshape(4, 4) + 1.0
    inputs = keras.Input((4, 4, 2))
    h = keras.layers.ReLU(name="act_01")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    result, _ = dead_units(model, x)
    assert result == {"act_01": {"dead": 1, "zero": 0, "units": 2}}


def test_variation_between_batches_counts():
    # The first batches are one repeated sample; only the last batch differs.
    x = np.ones((10, 1), "float32")
    x[9] = 2.0
    model = _dense_then(keras.layers.ReLU(name="act_01"), kernel=[[1.0, 0.0]], bias=[0.0, 1.0],
                        inputs=1)
    result, _ = dead_units(model, x, batch_size=4)
    assert result == {"act_01": {"dead": 1, "zero": 0, "units": 2}}
    result, _ = dead_units(model, x[:9], batch_size=4)
    assert result == {"act_01": {"dead": 2, "zero": 0, "units": 2}}
