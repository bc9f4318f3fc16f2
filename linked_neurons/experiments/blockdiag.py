"""Seeds' convolutions as one block-diagonal convolution: vmapped groups on a CPU.

Vmapped over the seeds of a group (the `vmap` group mode), a convolution of
each seed's activations with its own kernel is, by jax's batching rule, one
grouped convolution, which XLA's CPU backend runs slowly: slower than the
seeds one after another. `block_diagonal_convolutions()`, while jax traces a
program, computes it instead as one dense convolution of K times the
features, whose kernel holds the K kernels on its block diagonal (zeros
elsewhere: K times the arithmetic, one op a layer). Each block's sums are the
seed's own plus exact zeros, in the order the kernel takes them: values and
gradients equal jax's own within float rounding (tests/test_block_diagonal.py).

At a few channels, where a convolution's time is per op rather than per
FLOP, this is faster than the seeds in turn: the quick depth network's
4-channel layers 1.6-1.7x on 2026-12-03's CPU; at wider layers the zeros cost
more than they save (benchmarks/groups.py). The experiment table's
`cpu_block_diagonal` says where it is used.

It replaces a private jax batching rule (jax's `_src`: pinned jax versions)
while the context lasts, in this process; `available()` says whether this jax
has it.
"""

import contextlib
import logging
import string

log = logging.getLogger("linked_neurons.train")


def wanted(config):
    """Whether a vmapped group of runs of `config` uses block-diagonal
    convolutions: the table asks for it on a CPU (`cpu_block_diagonal`), the
    device is a CPU, and this jax has the rule it replaces."""
    import jax

    if not config.get("cpu_block_diagonal") or jax.devices()[0].platform != "cpu":
        return False
    if not available():
        log.warning("cpu_block_diagonal: this jax (%s) lacks the batching rule it replaces; "
                    "the seeds train one after another", jax.__version__)
        return False
    return True


def available():
    """Whether this jax has the batching rule that the context replaces."""
    try:
        from jax._src.interpreters import batching
        from jax._src.lax import convolution as conv
    except ImportError:
        return False
    return (conv.conv_general_dilated_p in batching.fancy_primitive_batchers
            and hasattr(conv, "_conv_general_dilated_batch_rule")
            and hasattr(conv, "_reshape_axis_into") and hasattr(conv, "_reshape_axis_out_of"))


def block_diagonal(kernels, out_axis, in_axis):
    """K kernels stacked on a first axis as one kernel of K times the output
    and input features (axes `out_axis`, `in_axis` of one kernel), the K on
    its block diagonal, network-major, zeros elsewhere."""
    from jax import numpy as jnp

    k = kernels.shape[0]
    axes = string.ascii_lowercase[:kernels.ndim - 1]
    target = "".join("Y" + a if i == out_axis else "Z" + a if i == in_axis else a
                     for i, a in enumerate(axes))
    shape = list(kernels.shape[1:])
    shape[out_axis] *= k
    shape[in_axis] *= k
    return jnp.einsum(f"YZ,Y{axes}->{target}", jnp.eye(k, dtype=kernels.dtype), kernels).reshape(shape)


@contextlib.contextmanager
def block_diagonal_convolutions():
    """While jax traces: a convolution vmapped over both operands (K networks'
    activations and kernels, no feature or batch groups) becomes one dense
    convolution of K times the features whose kernel holds the K kernels on
    its block diagonal (zeros elsewhere: K times the arithmetic), where jax's
    own rule makes a grouped convolution (module doc)."""
    from jax import numpy as jnp
    from jax._src.interpreters import batching
    from jax._src.lax import convolution as conv

    original = conv._conv_general_dilated_batch_rule

    def rule(axis_data, args, dims, *, feature_group_count, batch_group_count,
             dimension_numbers, out_sharding=None, **params):
        (lhs, rhs), (lhs_dim, rhs_dim) = args, dims
        if (lhs_dim is None or rhs_dim is None or feature_group_count != 1
                or batch_group_count != 1 or out_sharding is not None or not lhs.shape[lhs_dim]):
            return original(axis_data, args, dims, feature_group_count=feature_group_count,
                            batch_group_count=batch_group_count,
                            dimension_numbers=dimension_numbers, out_sharding=out_sharding, **params)
        lhs_spec, rhs_spec, out_spec = dimension_numbers
        k = lhs.shape[lhs_dim]
        kernel = block_diagonal(jnp.moveaxis(rhs, rhs_dim, 0), rhs_spec[0], rhs_spec[1])
        out = conv.conv_general_dilated(conv._reshape_axis_into(lhs_dim, lhs_spec[1], lhs), kernel,
                                        dimension_numbers=dimension_numbers, **params)
        return conv._reshape_axis_out_of(out_spec[1], k, out), out_spec[1]

    batching.fancy_primitive_batchers[conv.conv_general_dilated_p] = rule
    try:
        yield
    finally:
        batching.fancy_primitive_batchers[conv.conv_general_dilated_p] = original
