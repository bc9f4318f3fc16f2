"""Small convolutions on a CPU, side by side: Keras's Conv2D (XLA's convolution) against im2col.

im2col is patches + one matmul, what `MatmulConv2D` (conv_impl: matmul) computes. On the quick
depth network's shapes: one layer and the whole 51-layer network (forward + backward, plain jax),
one seed and 3 seeds vmapped (batched matmuls against grouped convolutions), K networks as
one block-diagonal network of K times the channels (one convolution a layer for all K; their
gradients checked against each network's own, in float32 and in float64), and BN at 4 channels
(Keras's against one-pass moments). Also each of a layer's three convolutions apart (XLA's
forward, input gradient and kernel gradient, im2col's forward and kernel gradient), and on the
network their fastest mix: im2col forward and input gradient, XLA's kernel gradient (a
jax.custom_vjp). Medians of interleaved repetitions: read the ratios on a loaded machine, not
the times. Runs with one XLA pool thread unless told otherwise.

    KERAS_BACKEND=jax python benchmarks/conv_candidates.py
"""

import os
import statistics
import time

from linked_neurons_core import threads

threads.keep_to(1)  # the training rule's environment, one thread; jax unless chosen
threads.leave_out()  # and its start-up: what a training job never imports

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from linked_neurons.experiments.blockdiag import block_diagonal  # noqa: E402


def im2col_conv(x, w, stride=1):
    kh, kw, cin, cout = w.shape
    b, h, width, _ = x.shape
    ph, pw = kh - 1, kw - 1
    xp = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    oh, ow = -(-h // stride), -(-width // stride)
    cols = jnp.concatenate(
        [xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
         for i in range(kh) for j in range(kw)], axis=-1)
    return (cols.reshape(-1, kh * kw * cin) @ w.reshape(kh * kw * cin, cout)).reshape(b, oh, ow, cout)


def lax_conv(x, w, stride=1):
    return lax.conv_general_dilated(x, w, (stride, stride), "SAME",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def patches_forward(x, w, stride=1):
    """im2col forward; on the way back, the input's gradient as im2col of the
    output's gradient with the kernel rotated half a turn, the kernel's
    gradient as XLA's own (stride 1: the depth layers; the stem keeps im2col)."""
    return im2col_conv(x, w, stride) if stride != 1 else _patches_forward(x, w)


@jax.custom_vjp
def _patches_forward(x, w):
    return im2col_conv(x, w)


def _patches_forward_fwd(x, w):
    return im2col_conv(x, w), (x, w)


def _patches_forward_bwd(residuals, g):
    x, w = residuals
    dx = im2col_conv(g, jnp.transpose(jnp.flip(w, (0, 1)), (0, 1, 3, 2)))  # odd kernel: SAME pads alike
    return dx, jax.vjp(lambda w: lax_conv(x, w), w)[1](g)[0]


_patches_forward.defvjp(_patches_forward_fwd, _patches_forward_bwd)


def net(params, x, conv, linked):
    for i, (w, bias) in enumerate(params[:-1]):
        x = conv(x, w, 2 if i == 0 else 1) + bias
        if linked:
            x = jnp.concatenate([jnp.where(x >= 0, x, 0), jnp.where(-x >= 0, -x, 0)], -1)
        else:
            x = jnp.maximum(x, 0)
    w, bias = params[-1]
    return x.reshape(x.shape[0], -1) @ w + bias


def init(key, linked, depth=50, filters=4):
    params, cin = [], 1
    for i in range(depth + 1):
        key, k = jax.random.split(key)
        size = 7 if i == 0 else 3
        params.append((jax.random.normal(k, (size, size, cin, filters)) * 0.3, jnp.zeros(filters)))
        cin = 2 * filters if linked else filters
    key, k = jax.random.split(key)
    params.append((jax.random.normal(k, (8 * 8 * cin, 10)) * 0.05, jnp.zeros(10)))
    return params


def make(conv, linked, seeds):
    def loss(p, x, y):
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(net(p, x, conv, linked)) * y, -1))

    grad = jax.grad(loss)
    return jax.jit(jax.vmap(grad, in_axes=(0, None, None)) if seeds > 1 else grad)


def bench(candidates, reps):
    """Median seconds of each candidate, repetitions interleaved (start rotated)."""
    for fn in candidates.values():
        jax.block_until_ready(fn())
    times = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            jax.block_until_ready(candidates[name]())
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def layer(rng, cin, cout):
    x = jnp.asarray(rng.normal(size=(32, 8, 8, cin)).astype(np.float32))
    conv2d = keras.layers.Conv2D(cout, 3, padding="same")
    conv2d.build((None, 8, 8, cin))
    weights = [v.value for v in conv2d.trainable_variables]
    plain = jax.jit(jax.grad(lambda w, x: jnp.sum(conv2d.stateless_call(w, [], x)[0] ** 2),
                             argnums=(0, 1)))
    patches = jax.jit(jax.grad(lambda w, x: jnp.sum((im2col_conv(x, w[0]) + w[1]) ** 2),
                               argnums=(0, 1)))
    err = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-30))
              for a, b in zip(jax.tree.leaves(plain(weights, x)),
                              jax.tree.leaves(patches(weights, x))))
    t = bench({"keras": lambda: plain(weights, x), "im2col": lambda: patches(weights, x)}, 300)
    print(f"layer b32 8x8 {cin}->{cout} fwd+bwd: keras Conv2D {1e6 * t['keras']:.0f} us, "
          f"im2col {1e6 * t['im2col']:.0f} us, keras/im2col {t['keras'] / t['im2col']:.2f}x "
          f"(max rel grad diff {err:.1e})", flush=True)


def directions(rng, cin, cout):
    """One depth layer's three convolutions apart: XLA's forward, input
    gradient and kernel gradient, and im2col's forward and kernel gradient."""
    x = jnp.asarray(rng.normal(size=(32, 8, 8, cin)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(3, 3, cin, cout)).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(32, 8, 8, cout)).astype(np.float32))
    def input_grad(conv):
        return jax.jit(lambda x, w, g: jax.vjp(lambda x: conv(x, w), x)[1](g)[0])

    def kernel_grad(conv):
        return jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0])

    timed = {"forward": (jax.jit(lax_conv), (x, w)),
             "input grad": (input_grad(lax_conv), (x, w, g)),
             "kernel grad": (kernel_grad(lax_conv), (x, w, g)),
             "im2col forward": (jax.jit(im2col_conv), (x, w)),
             "im2col kernel grad": (kernel_grad(im2col_conv), (x, w, g))}
    t = bench({name: (lambda fn=fn, args=args: fn(*args)) for name, (fn, args) in timed.items()}, 300)
    print(f"layer b32 8x8 {cin}->{cout}, XLA's convolutions apart: "
          + ", ".join(f"{name} {1e6 * v:.0f} us" for name, v in t.items()), flush=True)


def network(x, y, linked):
    p1 = init(jax.random.PRNGKey(0), linked)
    p3 = jax.vmap(lambda k: init(k, linked))(jax.random.split(jax.random.PRNGKey(0), 3))
    candidates = {}
    for name, conv in (("conv", lax_conv), ("im2col", im2col_conv)):
        for seeds, params in ((1, p1), (3, p3)):
            fn = make(conv, linked, seeds)
            candidates[f"{name} x{seeds}"] = lambda fn=fn, params=params: fn(params, x, y)
    mixed = make(patches_forward, linked, 1)
    candidates["im2col+xla-dw x1"] = lambda: mixed(p1, x, y)
    err = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-30))
              for a, b in zip(jax.tree.leaves(candidates["im2col x1"]()), jax.tree.leaves(mixed(p1, x, y))))
    t = bench(candidates, 30)
    print(f"depth net {'LK-ReLU' if linked else 'ReLU'} fwd+bwd ms: "
          + ", ".join(f"{k} {1e3 * v:.2f}" for k, v in t.items())
          + f" | conv/im2col: 1 seed {t['conv x1'] / t['im2col x1']:.2f}x, 3 seeds vmapped "
          f"{t['conv x3'] / t['im2col x3']:.2f}x | 3 vmapped / 3 x one: im2col "
          f"{t['im2col x3'] / (3 * t['im2col x1']):.2f}, conv {t['conv x3'] / (3 * t['conv x1']):.2f}"
          f" | conv/(im2col forward and input gradient, XLA kernel gradient), 1 seed "
          f"{t['conv x1'] / t['im2col+xla-dw x1']:.2f}x (its max rel grad diff from im2col's {err:.1e})",
          flush=True)


def stacked_net(params, x, linked):
    """K depth networks (params stacked on a first axis) as one network of K times
    the channels, on the same batch (their data order is fixed: shuffle off)."""
    k = params[0][0].shape[0]
    for i, (w, bias) in enumerate(params[:-1]):
        if i == 0:  # one input channel, shared: the K kernels side by side
            kernel = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(*w.shape[1:4], -1)
            x = lax.conv_general_dilated(x, kernel, (2, 2), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        else:
            x = lax_conv(x, block_diagonal(w, 3, 2))  # HWIO: out axis 3, in axis 2
        x = x + bias.reshape(-1)
        if linked:  # each network's units linked within its own block
            parts = x.reshape(*x.shape[:3], k, -1)
            x = jnp.concatenate([jnp.where(parts >= 0, parts, 0), jnp.where(-parts >= 0, -parts, 0)],
                                -1).reshape(*x.shape[:3], -1)
        else:
            x = jnp.maximum(x, 0)
    w, bias = params[-1]
    features = jnp.moveaxis(x.reshape(*x.shape[:3], k, -1), 3, 0).reshape(k, x.shape[0], -1)
    return jnp.einsum("kbf,kfo->kbo", features, w) + bias[:, None, :]


def side_by_side(x, y, linked, counts=(3, 12)):
    """K networks trained as one block-diagonal network (K times the channels,
    K times the arithmetic, one op a layer) against one network alone: per
    network, K of them cost what fraction of K steps alone? Gradients checked
    against each network's own."""
    def loss(p, x, y):
        logits = stacked_net(p, x, linked)
        return -jnp.sum(jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * y, -1), -1))

    stacked, alone = jax.jit(jax.grad(loss)), make(lax_conv, linked, 1)

    def difference(params, x, y):  # the K networks' largest relative gradient difference from alone
        grads = stacked(params, x, y)
        return max(float(jnp.max(jnp.abs(a[i] - b)) / (jnp.max(jnp.abs(b)) + 1e-30))
                   for i in range(len(params[0][0]))
                   for a, b in zip(jax.tree.leaves(grads),
                                   jax.tree.leaves(alone(jax.tree.map(lambda a, i=i: a[i], params), x, y))))

    candidates, errors = {}, {}
    for count in counts:
        params = jax.vmap(lambda k: init(k, linked))(jax.random.split(jax.random.PRNGKey(0), count))
        # In float64 too: a 51-layer ReLU chain amplifies float32's rounding (another order
        # of the sums at K=12) to gradient differences of up to 2e-1, and float64's show
        # whether the block-diagonal network is the K networks (about 1e-15) or not.
        narrow = difference(params, x, y)
        with jax.enable_x64(True):
            errors[count] = (narrow, difference(*jax.tree.map(lambda a: np.asarray(a, np.float64),
                                                              (params, x, y))))
        candidates[count] = lambda params=params: stacked(params, x, y)
    one = init(jax.random.PRNGKey(0), linked)
    candidates[1] = lambda: alone(one, x, y)
    t = bench(candidates, 30)
    print(f"depth net {'LK-ReLU' if linked else 'ReLU'}, K networks as one block-diagonal network "
          f"(fwd+bwd): one alone {1e3 * t[1]:.2f} ms; "
          + "; ".join(f"K={c} {1e3 * t[c]:.2f} ms, {t[c] / (c * t[1]):.2f} of K alone "
                      f"(max rel grad diff {errors[c][0]:.1e}, in float64 {errors[c][1]:.1e})"
                      for c in counts), flush=True)


def batchnorm(rng):
    x = jnp.asarray(rng.normal(size=(32, 8, 8, 4)).astype(np.float32))
    bn = keras.layers.BatchNormalization()
    bn.build((None, 8, 8, 4))
    weights = [v.value for v in bn.trainable_variables]
    state = [v.value for v in bn.non_trainable_variables]

    def one_pass(w, x):
        mean = jnp.mean(x, (0, 1, 2))
        var = jnp.mean(x * x, (0, 1, 2)) - mean * mean
        return (x - mean) * (w[0] * lax.rsqrt(var + 1e-3)) + w[1]

    plain = jax.jit(jax.grad(
        lambda w, x: jnp.sum(bn.stateless_call(w, state, x, training=True)[0] ** 3), argnums=(0, 1)))
    cheap = jax.jit(jax.grad(lambda w, x: jnp.sum(one_pass(w, x) ** 3), argnums=(0, 1)))
    t = bench({"keras": lambda: plain(weights, x), "cheap": lambda: cheap(weights, x)}, 300)
    print(f"BN b32 8x8x4 fwd+bwd: keras {1e6 * t['keras']:.0f} us, one-pass {1e6 * t['cheap']:.0f} "
          f"us, ratio {t['keras'] / t['cheap']:.2f}x", flush=True)


def main():
    rng = np.random.default_rng(0)
    print("jax", jax.__version__, "PJRT_NPROC", os.environ.get("PJRT_NPROC"), flush=True)
    for cin, cout in ((4, 4), (8, 4)):
        layer(rng, cin, cout)
        directions(rng, cin, cout)
    x = jnp.asarray(rng.normal(size=(32, 16, 16, 1)).astype(np.float32))
    y = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, 32)), 10)
    for linked in (False, True):
        network(x, y, linked)
    for linked in (False, True):
        side_by_side(x, y, linked)
    batchnorm(rng)


if __name__ == "__main__":
    main()
