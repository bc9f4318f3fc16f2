"""The training loss's numerics (losses.py, `loss` in the table): the authors'
clipped cross-entropy computes the same on tensorflow and jax, a saturated
wrong answer gives it zero gradient, and `logits` does not."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Per backend: the loss and its gradient with respect to the logits, through
# Keras's own softmax (on tensorflow its output carries the logits, which
# Keras 3's sparse_categorical_crossentropy would use), and one SGD step of a
# model compiled as a run is, whose softmax is saturated on a wrong class.
SCRIPT = r"""
import json
import keras
import numpy as np
from linked_neurons.experiments import losses
from linked_neurons_core.table import Table
from linked_neurons.experiments.build import compile_for_training

backend = keras.backend.backend()
# Row 0 saturated on class 0 with label 2 (p = e^-60), row 1 saturated on its
# label, row 2 an ordinary answer.
z = np.array([[30.0, 0.0, -30.0], [40.0, -5.0, 0.0], [0.2, 0.1, -0.3]], "float32")
y = np.array([2, 0, 1], "int32")

def of(name):
    if name == "keras2_clipped":
        return lambda v: losses.keras2_clipped(y, keras.activations.softmax(v))
    return lambda v: losses.logits(y, v)

def value_and_grad(fn):
    if backend == "jax":
        import jax
        value, grad = jax.value_and_grad(lambda v: fn(v).sum())(z)
        return np.asarray(fn(z)), np.asarray(grad)
    import tensorflow as tf
    v = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = fn(v)
        total = tf.reduce_sum(out)
    return out.numpy(), tape.gradient(total, v).numpy()

def step(name):
    config = Table().resolve("width", "w50_relu", "quick")
    config["loss"] = name
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.layers[-1].set_weights([np.array([[30.0, 0.0, -30.0], [0.0, 0.0, 0.0]], "float32"),
                                  np.zeros(3, "float32")])
    compile_for_training(model, config, 1)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(np.array([[1.0, 0.0]], "float32"), np.array([2]))
    loss = loss[0] if isinstance(loss, list) else loss
    moved = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), before))
    return {"loss": float(loss), "moved": moved}

out = {}
for name in ("keras2_clipped", "logits"):
    value, grad = value_and_grad(of(name))
    out[name] = {"value": value.tolist(), "grad": grad.tolist(), "step": step(name)}
print("RESULT " + json.dumps(out))
"""


def _run(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(s for s in result.stdout.splitlines() if s.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def jax_numbers():
    return _run("jax")


def test_clipped_loss_of_a_saturated_wrong_answer_is_constant_with_zero_gradient(jax_numbers):
    clipped = jax_numbers["keras2_clipped"]
    value, grad = np.array(clipped["value"]), np.array(clipped["grad"])
    assert value[0] == pytest.approx(-np.log(np.float32(1e-7)), rel=1e-6)  # 16.118
    assert np.all(grad[0] == 0) and np.all(grad[1] == 0)
    assert np.abs(grad[2]).max() > 0.1
    assert clipped["step"]["moved"] == 0.0  # SGD does not move the model at all
    assert clipped["step"]["loss"] == pytest.approx(16.118, abs=1e-3)


def test_logits_loss_has_a_gradient_there(jax_numbers):
    from_logits = jax_numbers["logits"]
    value, grad = np.array(from_logits["value"]), np.array(from_logits["grad"])
    assert value[0] == pytest.approx(60.0, rel=1e-5)
    # d/dz of -log_softmax(z)[label] = softmax(z) - onehot(label)
    np.testing.assert_allclose(grad[0], [1.0, 0.0, -1.0], atol=1e-6)
    assert from_logits["step"]["moved"] > 0.0
    assert from_logits["step"]["loss"] == pytest.approx(60.0, rel=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="tensorflow is not installed")
def test_tensorflow_computes_what_jax_does(jax_numbers):
    tf_numbers = _run("tensorflow")
    for name in ("keras2_clipped", "logits"):
        a, b = jax_numbers[name], tf_numbers[name]
        np.testing.assert_allclose(b["value"], a["value"], rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(b["grad"], a["grad"], rtol=1e-5, atol=1e-7, err_msg=name)
        assert b["step"]["loss"] == pytest.approx(a["step"]["loss"], rel=1e-6), name
        assert (b["step"]["moved"] == 0.0) == (a["step"]["moved"] == 0.0), name
    # Saturated wrong answer: zero gradient on tensorflow too (Keras 3's own
    # loss would have taken the logits there and given 60 and a gradient).
    assert np.all(np.array(tf_numbers["keras2_clipped"]["grad"])[0] == 0)
