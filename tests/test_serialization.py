"""Every layer survives a .keras save/load round trip with identical outputs."""

import keras
import numpy as np
import pytest
from keras import ops

import linked_neurons as ln

LAYERS = {
    "LKReLU": lambda: ln.LKReLU(),
    "LKPReLU": lambda: ln.LKPReLU(shared_axes=[1, 2]),
    "LKPReLU(frozen slopes)": lambda: ln.LKPReLU(alpha_trainable=False),
    "LKSELU": lambda: ln.LKSELU(),
    "LKSwish": lambda: ln.LKSwish(),
    "Linked(relu, minmax)": lambda: ln.Linked("relu", policy="minmax"),
    "Linked(swish callable)": lambda: ln.Linked(ln.swish),
    "Linked(keras tanh)": lambda: ln.Linked(keras.activations.tanh),
    "Linked(channels_first)": lambda: ln.Linked("selu", axis=1),
    "BatchRenormalization": lambda: ln.BatchRenormalization(
        rmax=2.0, dmax=1.0, warmup_steps=1, ramp_steps=2, momentum=0.9
    ),
}


def build(kind, layer):
    if kind == "sequential":
        return keras.Sequential(
            [
                keras.Input((6, 6, 2)),
                keras.layers.Conv2D(3, 3),
                layer,
                keras.layers.Dense(2),
            ]
        )
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(layer(h)))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("name", LAYERS)
def test_save_load_round_trip(name, kind, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(16, 6, 6, 2)).astype("float32")
    layer = LAYERS[name]()
    model = build(kind, layer)
    # Move every weight off its initial value, moving statistics included.
    model.compile("adam", "mse")
    y = rng.normal(size=(16, *model.output_shape[1:])).astype("float32")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = loaded.layers[-2]
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    for a, b in zip(layer.weights, restored.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model(x, training=False)),
        ops.convert_to_numpy(loaded(x, training=False)),
    )
