"""BatchRenormalization against Keras's and tf_keras's renorm, step by step."""

import keras
import numpy as np
import pytest
from keras import ops

import linked_neurons as ln

CLIP = {"rmax": 1.5, "dmax": 0.5}


def batches(n=6, shape=(32, 4, 4, 3), seed=0):
    """Batches whose statistics are far from the initial moving ones."""
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(3.0, 4.0, size=shape) * rng.uniform(0.5, 2.0)).astype(
            "float32"
        )
        for _ in range(n)
    ]


def run(layer, xs):
    return [ops.convert_to_numpy(layer(x, training=True)) for x in xs]


def stats(layer):
    return {
        name: ops.convert_to_numpy(getattr(layer, name))
        for name in ("moving_mean", "moving_variance", "renorm_mean", "renorm_stddev")
        if hasattr(layer, name)
    }


def keras_renorm(rmax, dmax):
    return keras.layers.BatchNormalization(
        renorm=True,
        renorm_clipping={"rmax": rmax, "rmin": 1 / rmax, "dmax": dmax},
    )


def test_warmup_is_plain_batch_normalization():
    xs = batches()
    ours = ln.BatchRenormalization(warmup_steps=len(xs), ramp_steps=10)
    plain = keras.layers.BatchNormalization()
    for got, expected in zip(run(ours, xs), run(plain, xs)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_renorm_corrections_really_bind_after_warmup():
    """Guards the tests below: with these batches r and d are clipped."""
    xs = batches()
    ours = ln.BatchRenormalization(**CLIP, warmup_steps=0, ramp_steps=0)
    plain = keras.layers.BatchNormalization()
    diffs = [np.abs(a - b).max() for a, b in zip(run(ours, xs), run(plain, xs))]
    assert max(diffs) > 0.1


@pytest.mark.parametrize("warmup, ramp", [(0, 0), (2, 3)])
def test_finished_schedule_equals_keras_renorm(warmup, ramp):
    xs = batches(n=8)
    ours = ln.BatchRenormalization(**CLIP, warmup_steps=warmup, ramp_steps=ramp)
    reference = keras_renorm(**CLIP)
    got, expected = run(ours, xs), run(reference, xs)
    for step in range(warmup + ramp, len(xs)):
        np.testing.assert_allclose(got[step], expected[step], rtol=1e-5, atol=1e-5)
    for name, value in stats(reference).items():
        np.testing.assert_allclose(stats(ours)[name], value, rtol=1e-5, atol=1e-6)


def test_matches_tf_keras_renorm_over_several_steps():
    tf_keras = pytest.importorskip("tf_keras")
    xs = batches(n=6)
    ours = ln.BatchRenormalization(**CLIP, warmup_steps=0, ramp_steps=0)
    reference = tf_keras.layers.BatchNormalization(
        renorm=True,
        renorm_clipping={"rmax": 1.5, "rmin": 1 / 1.5, "dmax": 0.5},
    )
    for step, x in enumerate(xs):
        got = ops.convert_to_numpy(ours(x, training=True))
        expected = reference(x, training=True).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"step {step}")
        for name in ("moving_mean", "moving_variance", "renorm_mean", "renorm_stddev"):
            np.testing.assert_allclose(
                ops.convert_to_numpy(getattr(ours, name)),
                getattr(reference, name).numpy(),
                atol=1e-5,
                err_msg=f"{name} at step {step}",
            )
    x = xs[0]
    np.testing.assert_allclose(
        ops.convert_to_numpy(ours(x, training=False)),
        reference(x, training=False).numpy(),
        atol=1e-5,
    )


def test_clipping_follows_the_schedule_step_by_step():
    layer = ln.BatchRenormalization(rmax=3.0, dmax=5.0, warmup_steps=2, ramp_steps=4)
    expected_rmax = [1, 1, 1, 1.5, 2, 2.5, 3, 3, 3]
    expected_dmax = [0, 0, 0, 1.25, 2.5, 3.75, 5, 5, 5]
    got = [tuple(map(float, layer.clipping(step))) for step in range(9)]
    np.testing.assert_allclose([g[0] for g in got], expected_rmax)
    np.testing.assert_allclose([g[1] for g in got], expected_dmax)
    constant = ln.BatchRenormalization(rmax=2.0, dmax=1.0, warmup_steps=0, ramp_steps=0)
    assert [tuple(map(float, constant.clipping(s))) for s in (0, 9)] == [(2, 1)] * 2
    delayed = ln.BatchRenormalization(warmup_steps=3, ramp_steps=0)
    assert [float(delayed.clipping(s)[0]) for s in (2, 3)] == [1.0, 3.0]


def test_only_training_calls_advance_the_schedule():
    layer = ln.BatchRenormalization(warmup_steps=2, ramp_steps=4)
    x = batches(n=1)[0]
    for _ in range(3):
        layer(x, training=True)
    layer(x, training=False)
    assert int(ops.convert_to_numpy(layer.renorm_step)) == 3


def test_inference_uses_the_moving_statistics():
    layer = ln.BatchRenormalization(**CLIP, warmup_steps=1, ramp_steps=2)
    xs = batches(n=5)
    run(layer, xs)
    x = xs[0]
    mean = ops.convert_to_numpy(layer.moving_mean)
    var = ops.convert_to_numpy(layer.moving_variance)
    gamma = ops.convert_to_numpy(layer.gamma)
    beta = ops.convert_to_numpy(layer.beta)
    expected = (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, training=False)), expected, rtol=1e-4, atol=1e-4
    )


def test_trains_inside_a_model():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(128, 6, 6, 2)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 2.0).astype("int32")
    layer = ln.BatchRenormalization(warmup_steps=2, ramp_steps=2)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3),
            layer,
            ln.LKReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert int(ops.convert_to_numpy(layer.renorm_step)) == 16
    assert np.abs(ops.convert_to_numpy(layer.moving_mean)).max() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"renorm": False}, "sets renorm itself"),
        ({"rmax": 0.5}, "rmax >= 1"),
        ({"warmup_steps": -1}, "warmup_steps >= 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ln.BatchRenormalization(**kwargs)
