import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The pipeline's backend by default; .ci/run also runs the layer tests with
# KERAS_BACKEND=tensorflow and torch.
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

BACKEND = keras.backend.backend()


def gradient(fn, x):
    """d(sum(fn(x)))/dx by the backend's own autodiff, as a numpy array."""
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = tf.reduce_sum(fn(v))
        return tape.gradient(y, v).numpy()
    if BACKEND == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        fn(v).sum().backward()
        return v.grad.numpy()
    pytest.skip(f"no autodiff helper for backend {BACKEND}")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def tiny_article(tmp_path_factory):
    """The whole article on the tiny configuration (tests/tiny.yaml), built
    once a session in a copy of the repository: the end-to-end tests
    (test_workflow.py) and the fault test's uninterrupted build share it.
    Tests only read it or dry-run Snakemake on it; a test that changes
    something works in its own copy (`cp -a`)."""
    from test_workflow import TINY
    from test_workflow import copy_repository
    from test_workflow import snakemake

    workdir = tmp_path_factory.mktemp("tiny") / "project"
    workdir.mkdir()
    copy_repository(workdir)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    result = snakemake(workdir)
    assert "Using workflow specific profile profiles/default" in result.stdout + result.stderr
    return workdir
