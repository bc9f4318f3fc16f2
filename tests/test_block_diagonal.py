"""linked_neurons/experiments/blockdiag.py: vmapped convolutions
(K networks' activations and kernels) computed as one dense convolution whose
kernel holds the K kernels on its block diagonal give the values and
gradients of jax's own grouped convolutions within float rounding, for the
layouts, strides, shared and per-network inputs the article's networks use;
and no grouped convolution is left in the program while it is on."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
from jax import lax  # noqa: E402

from linked_neurons.experiments import blockdiag  # noqa: E402


@pytest.mark.parametrize("layout,x_shape,w_shape", [
    (("NHWC", "HWIO", "NHWC"), (3, 4, 8, 8, 4), (3, 3, 3, 4, 5)),
    (("NHWC", "HWIO", "NHWC"), (3, 4, 16, 16, 1), (3, 7, 7, 1, 4)),
    (("NCHW", "OIHW", "NCHW"), (3, 2, 6, 9, 9), (3, 5, 6, 3, 3)),
])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shared_input", [False, True])
@pytest.mark.parametrize("seeds", [3, 20])  # a job's seeds: the table's 3, or more (`--config seeds=`)
def test_block_diagonal_convolutions_equal_jaxs_grouped_ones(layout, x_shape, w_shape, stride,
                                                             shared_input, seeds):
    x_shape, w_shape = (seeds, *x_shape[1:]), (seeds, *w_shape[1:])
    grouped_op = f"feature_group_count = {seeds}"
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape[1:] if shared_input else x_shape).astype(np.float32)
    w = rng.normal(size=w_shape).astype(np.float32)

    def loss(w, x):
        y = lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=layout)
        return jax.numpy.sum(jax.numpy.sin(y))

    # A new function each time: jax caches traces by function, and the rule
    # applies while the program is traced.
    def program():
        return jax.jit(jax.vmap(jax.value_and_grad(lambda w, x: loss(w, x), argnums=(0, 1)),
                                in_axes=(0, None if shared_input else 0)))

    grouped = program()
    reference = grouped(w, x)
    assert grouped_op in grouped.lower(w, x).as_text()
    with blockdiag.block_diagonal_convolutions():
        block = program()
        values = block(w, x)
        text = block.lower(w, x).as_text()
    assert grouped_op not in text and f"batch_group_count = {seeds}" not in text
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(values)):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.max(np.abs(a))))
    # Outside the context, jax's own rule again.
    assert grouped_op in program().lower(w, x).as_text()
