"""Time linked activations and Batch Renormalization against Keras layers.

Times forward plus backward (the gradient of the sum of the output with
respect to the input and the layer weights) of these layer stacks, in training
mode, on one convolution-sized NHWC float32 tensor:

    1. ReLU            keras.layers.ReLU()
    2. LK-ReLU         linked_neurons.LKReLU()
    3. BN+ReLU         keras.layers.BatchNormalization() + ReLU
    4. Keras renorm    keras.layers.BatchNormalization(renorm=True,
                           renorm_clipping={"rmax": 3, "rmin": 1/3,
                           "dmax": 5}) + ReLU
    5. Our renorm      linked_neurons.BatchRenormalization(rmax=3, dmax=5,
                           warmup_steps=5, ramp_steps=10) + ReLU

The candidates are compiled and warmed up first, then timed side by side in
one run: each repetition times every candidate once, round-robin, with the
starting candidate rotated between repetitions, so that machine noise hits all
of them alike. The table gives each candidate's median time per step and its
ratio to ReLU, then checks three targets (PASS or MISS; the script always
exits 0, it is a benchmark, not a test):

    LK-ReLU <= 2.2 x ReLU
    LK-ReLU <  BN+ReLU
    Our renorm <= 1.05 x Keras renorm

Pick the backend with KERAS_BACKEND as usual:

    KERAS_BACKEND=jax python benchmarks/layers.py --shape 128,32,32,64
    KERAS_BACKEND=tensorflow python benchmarks/layers.py --repeats 10
    KERAS_BACKEND=torch python benchmarks/layers.py --shape 32,32,32,64

jax runs `jax.jit(jax.value_and_grad(...))` of the layers' `stateless_call`;
tensorflow runs a `tf.function(jit_compile=True)` around a `GradientTape`;
torch runs plain eager autograd. The default shape is 128,32,32,64 (a CIFAR
batch after a 64-filter convolution), which takes a few seconds per backend on
a CPU; pass a smaller `--shape` for a quicker look.

`--variants` adds diagnostic candidates that are not targets: LK-ReLU built
from `keras.ops.relu` (derivative 0 at 0) instead of the package's
`linked_neurons.relu` (`where(x >= 0, x, 0)`, derivative 1 at 0), and a bare
`concatenate([relu(x), relu(-x)])`.
"""

import argparse
import inspect
import os
import statistics
import sys
import time

import numpy as np

# Run from a checkout without installing the package.
sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

import keras  # noqa: E402
from keras import ops  # noqa: E402

import linked_neurons  # noqa: E402

TARGET_LK_OVER_RELU = 2.2
TARGET_RENORM_OVER_KERAS = 1.05


def relu_stack():
    return [keras.layers.ReLU()]


def lk_relu_stack():
    return [linked_neurons.LKReLU()]


def bn_relu_stack():
    return [keras.layers.BatchNormalization(), keras.layers.ReLU()]


def keras_renorm_stack():
    return [
        keras.layers.BatchNormalization(
            renorm=True,
            renorm_clipping={"rmax": 3.0, "rmin": 1.0 / 3.0, "dmax": 5.0},
        ),
        keras.layers.ReLU(),
    ]


def our_renorm_stack():
    return [
        linked_neurons.BatchRenormalization(
            rmax=3.0, dmax=5.0, warmup_steps=5, ramp_steps=10
        ),
        keras.layers.ReLU(),
    ]


def lk_ops_relu_stack():
    return [linked_neurons.Linked(ops.relu)]


class ConcatReLU(keras.layers.Layer):
    """`concatenate([relu(x), relu(-x)])`, no `Linked` machinery."""

    def call(self, inputs):
        return ops.concatenate([ops.relu(inputs), ops.relu(-inputs)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * input_shape[-1])


def concat_relu_stack():
    return [ConcatReLU()]


CANDIDATES = [
    ("ReLU", relu_stack),
    ("LK-ReLU", lk_relu_stack),
    ("BN+ReLU", bn_relu_stack),
    ("Keras renorm+ReLU", keras_renorm_stack),
    ("Our renorm+ReLU", our_renorm_stack),
]

VARIANTS = [
    ("LK-ReLU[ops.relu]", lk_ops_relu_stack),
    ("concat(relu,relu-)", concat_relu_stack),
]


def build(layers, shape):
    """Build each layer on the shape it will see."""
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return layers


def takes_training(layer):
    return "training" in inspect.signature(layer.call).parameters


# Each backend's `make_step(layers, x)` returns a function of no arguments that
# runs one forward+backward step and returns only once its results are ready.


def make_step_jax(layers, x):
    import jax

    def loss_fn(params, state, inputs):
        y = inputs
        new_state = []
        for layer, trainable, non_trainable in zip(layers, params, state):
            kwargs = {"training": True} if takes_training(layer) else {}
            y, non_trainable = layer.stateless_call(
                trainable, non_trainable, y, **kwargs
            )
            new_state.append(non_trainable)
        return ops.sum(y), new_state

    grad_fn = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 2), has_aux=True))
    params = [[v.value for v in la.trainable_variables] for la in layers]
    state = [[v.value for v in la.non_trainable_variables] for la in layers]
    x = jax.device_put(np.asarray(x))

    def step():
        nonlocal state
        (loss, state), grads = grad_fn(params, state, x)
        jax.block_until_ready((loss, state, grads))

    return step


def forward(layers, y):
    """The stack in training mode (layers that take `training` get True)."""
    for layer in layers:
        y = layer(y, training=True) if takes_training(layer) else layer(y)
    return y


def make_step_tensorflow(layers, x):
    import tensorflow as tf

    x = tf.constant(x)
    weights = [v for layer in layers for v in layer.trainable_variables]

    @tf.function(jit_compile=True)
    def grad_fn(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(forward(layers, inputs))
        return loss, tape.gradient(loss, [inputs] + weights)

    sync = getattr(tf.experimental, "sync_devices", None)

    def step():
        loss, grads = grad_fn(x)
        if sync is not None and tf.config.list_logical_devices("GPU"):
            sync()
        loss.numpy()

    return step


def make_step_torch(layers, x):
    import torch

    x = ops.convert_to_tensor(x)
    weights = [v.value for layer in layers for v in layer.trainable_variables]
    cuda = x.is_cuda

    def step():
        inputs = x.detach().requires_grad_(True)
        loss = forward(layers, inputs).sum()
        torch.autograd.grad(loss, [inputs] + weights)
        if cuda:
            torch.cuda.synchronize()

    return step


MAKE_STEP = {
    "jax": make_step_jax,
    "tensorflow": make_step_tensorflow,
    "torch": make_step_torch,
}


def device_description(backend):
    try:
        if backend == "jax":
            import jax

            return ", ".join(str(d) for d in jax.devices())
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_logical_devices("GPU")
            return ", ".join(d.name for d in gpus) or "CPU"
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    except Exception as error:  # a description only; never fail on it
        return f"unknown ({error})"
    return "unknown"


def parse_shape(text):
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--shape wants comma-separated integers, got {text!r}"
        ) from None
    if len(shape) < 2 or any(size < 1 for size in shape):
        raise argparse.ArgumentTypeError(
            f"--shape wants at least two positive sizes, got {text!r}"
        )
    return shape


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--shape",
        type=parse_shape,
        default=(128, 32, 32, 64),
        help="input shape, channels last (default: 128,32,32,64)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=20,
        help="timed steps per candidate, interleaved (default: 20)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed steps per candidate after compiling (default: 3)",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="also time diagnostic LK-ReLU variants (not targets)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the input tensor"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")

    backend = keras.backend.backend()
    if backend not in MAKE_STEP:
        print(f"Unsupported backend {backend!r}: use one of {sorted(MAKE_STEP)}.")
        return 0
    print(f"backend: {backend} (keras {keras.__version__})")
    print(f"device:  {device_description(backend)}")
    print(
        f"shape:   {','.join(map(str, args.shape))} float32, "
        f"repeats: {args.repeats}, warm-up: {args.warmup}"
    )

    x = np.random.default_rng(args.seed).standard_normal(args.shape)
    x = x.astype("float32")
    candidates = CANDIDATES + (VARIANTS if args.variants else [])

    steps = []
    for name, factory in candidates:
        layers = build(factory(), args.shape)
        step = MAKE_STEP[backend](layers, x)
        start = time.perf_counter()
        step()  # compiles
        compile_s = time.perf_counter() - start
        for _ in range(args.warmup):
            step()
        print(f"  ready: {name:<20} first step {compile_s:7.2f} s")
        steps.append(step)

    times = [[] for _ in candidates]
    order = list(range(len(candidates)))
    for repeat in range(args.repeats):
        shift = repeat % len(order)
        for index in order[shift:] + order[:shift]:
            start = time.perf_counter()
            steps[index]()
            times[index].append(time.perf_counter() - start)

    medians = {
        name: statistics.median(samples) * 1e3
        for (name, _), samples in zip(candidates, times)
    }
    relu = medians["ReLU"]
    print()
    print(f"{'candidate':<20} {'median ms':>10} {'min ms':>9} {'x ReLU':>7}")
    for (name, _), samples in zip(candidates, times):
        print(
            f"{name:<20} {medians[name]:>10.2f} {min(samples) * 1e3:>9.2f} "
            f"{medians[name] / relu:>7.2f}"
        )

    lk_ratio = medians["LK-ReLU"] / relu
    renorm_ratio = medians["Our renorm+ReLU"] / medians["Keras renorm+ReLU"]
    checks = [
        (
            f"LK-ReLU <= {TARGET_LK_OVER_RELU}x ReLU",
            lk_ratio <= TARGET_LK_OVER_RELU,
            f"{lk_ratio:.2f}x",
        ),
        (
            "LK-ReLU < BN+ReLU",
            medians["LK-ReLU"] < medians["BN+ReLU"],
            f"{medians['LK-ReLU']:.2f} vs {medians['BN+ReLU']:.2f} ms",
        ),
        (
            f"Our renorm <= {TARGET_RENORM_OVER_KERAS}x Keras renorm",
            renorm_ratio <= TARGET_RENORM_OVER_KERAS,
            f"{renorm_ratio:.2f}x",
        ),
    ]
    print()
    for label, passed, detail in checks:
        print(f"{'PASS' if passed else 'MISS'}  {label:<36} ({detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
