"""The linked activations: values, the linking property, training, errors."""

import keras
import numpy as np
import pytest
from conftest import gradient
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

import linked_neurons as ln

LINKED = {
    "LKReLU": ln.LKReLU,
    "LKPReLU": ln.LKPReLU,
    "LKSELU": ln.LKSELU,
    "LKSwish": ln.LKSwish,
    "Linked(relu, minmax)": lambda: ln.Linked("relu", policy="minmax"),
    "Linked(selu, minmax)": lambda: ln.Linked("selu", policy="minmax"),
    "Linked(elu)": lambda: ln.Linked("elu"),
}


def randn(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_lkrelu_equals_crelu():
    tf = pytest.importorskip("tensorflow")
    x = randn(8, 5, 5, 7)
    expected = tf.nn.crelu(x, axis=-1).numpy()
    np.testing.assert_array_equal(ops.convert_to_numpy(ln.LKReLU()(x)), expected)
    expected_first = tf.nn.crelu(x, axis=1).numpy()
    got_first = ops.convert_to_numpy(ln.LKReLU(axis=1)(x))
    np.testing.assert_array_equal(got_first, expected_first)


def test_lkselu_equals_concatenated_selu():
    x = randn(16, 9) * 3
    selu = keras.activations.selu
    expected = np.concatenate(
        [ops.convert_to_numpy(selu(x)), ops.convert_to_numpy(selu(-x))], -1
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(ln.LKSELU()(x)), expected, rtol=1e-6
    )


def test_lkswish_members():
    x = randn(16, 9) * 3
    sig = 1 / (1 + np.exp(-x))
    expected = np.concatenate([x * sig, -x * (1 - sig)], -1)
    got = ops.convert_to_numpy(ln.LKSwish()(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_minmax_relu_gives_max_and_min():
    x = randn(32, 6)
    got = ops.convert_to_numpy(ln.Linked("relu", policy="minmax")(x))
    np.testing.assert_array_equal(got[:, :6], np.maximum(0, x))
    np.testing.assert_array_equal(got[:, 6:], np.minimum(0, x))


def test_lkprelu_members_use_their_own_slopes():
    x = randn(10, 4)
    layer = ln.LKPReLU()
    layer.build(x.shape)
    layer.alpha_a.assign(np.full((4,), 0.25, "float32"))
    layer.alpha_b.assign(np.full((4,), 0.5, "float32"))
    got = ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(got[:, :4], np.where(x >= 0, x, 0.25 * x))
    np.testing.assert_allclose(got[:, 4:], np.where(-x >= 0, -x, -0.5 * x))


@pytest.mark.parametrize("name", LINKED)
@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(
        "float32",
        st.integers(1, 16),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
    )
)
def test_linking_property(name, x):
    """At every finite input, some member has a non-zero autodiff derivative."""
    layer = LINKED[name]()
    x = x.reshape(-1, 1)
    layer.build(x.shape)
    d_first = gradient(lambda v: layer(v)[:, 0], x)
    d_second = gradient(lambda v: layer(v)[:, 1], x)
    assert np.all((d_first != 0) | (d_second != 0)), (x, d_first, d_second)


def test_linked_layers_double_the_axis_in_models():
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(4, 3)(inputs)
    h = ln.LKPReLU(shared_axes=[1, 2])(h)
    h = ln.Linked("tanh")(h)
    assert h.shape == (None, 4, 4, 16)
    model = keras.Sequential([keras.Input((5, 7)), ln.LKSELU(axis=1)])
    assert model.output_shape == (None, 10, 7)
    assert ln.LKReLU().compute_output_shape((None, 3, None)) == (None, 3, None)


def test_lkprelu_trains_both_slope_sets():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (np.abs(x[:, :1]) - x[:, 1:2]).astype("float32")
    layer = ln.LKPReLU()
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8), layer, keras.layers.Dense(1)]
    )
    assert {w.path.split("/")[-1] for w in layer.trainable_weights} == {
        "alpha_a",
        "alpha_b",
    }
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    a = ops.convert_to_numpy(layer.alpha_a)
    b = ops.convert_to_numpy(layer.alpha_b)
    assert np.abs(a).max() > 1e-3 and np.abs(b).max() > 1e-3
    assert np.abs(a - b).max() > 1e-3


def test_unknown_activation_names_the_allowed_values():
    with pytest.raises(ValueError, match="Unknown activation 'relux'.*selu"):
        ln.Linked("relux")


def test_unknown_policy_names_the_allowed_values():
    with pytest.raises(ValueError, match="policy 'maxmin'.*mirror, minmax"):
        ln.Linked("relu", policy="maxmin")


@pytest.mark.parametrize("axis", [-1, 1])
def test_undefined_linked_axis_fails_at_build(axis):
    shape = (None, None, 5) if axis == 1 else (None, 5, None)
    with pytest.raises(ValueError, match="has no defined size"):
        ln.LKReLU(axis=axis).build(shape)
    with pytest.raises(ValueError, match="has no defined size"):
        ln.LKPReLU(axis=axis)(keras.Input(shape[1:]))
