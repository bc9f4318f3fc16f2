"""One model builder for every architecture and variant of the article.

A variant is data: its activation, normalization and width multiplier come
from the run configuration; nothing here is written per activation.
"""

import keras
from keras import layers
from keras import ops

import linked_neurons as ln
from linked_neurons.experiments import optimizers  # noqa: F401 (registers Keras2RMSprop for checkpoints)
from linked_neurons.layers.matmul_conv import MatmulConv2D
from linked_neurons_core import vocabulary


def activation_layer(config, activation, **kwargs):
    """A new layer of `activation`, built from the entry the run carries (its
    `activations`, the table's entry: linked_neurons_core/vocabulary.py)."""
    entry = config["activations"][activation]
    what = f"activation {activation!r}"
    arguments = {arg: config[key] for arg, key in entry.get("arguments", {}).items()}
    if "layer" in entry:
        return vocabulary.resolve_object(entry["layer"], what)(**arguments, **kwargs)
    if entry.get("base") is not None:  # linked, from its base's function
        base = config["activations"][entry["base"]]
        return ln.Linked(_function(base["function"], what), policy=entry.get("policy", "mirror"),
                         **arguments, **kwargs)
    return layers.Activation(_function(entry["function"], what), **arguments, **kwargs)


def _function(reference, what):
    """A Keras activation name as it is (Keras resolves it), or module:callable."""
    return vocabulary.resolve_object(reference, what) if ":" in reference else reference


ACT_PREFIX = "act_"


class _Builder:
    def __init__(self, config, num_classes):
        self.config = config
        self.num_classes = num_classes
        self.n_act = 0
        self.n_norm = 0

    def units(self, n):
        """A layer's unit count, scaled and rounded down (at least 1)."""
        c = self.config
        return max(1, int(int(n * c["width_scale"]) * c["width_multiplier"]))

    def conv(self, x, filters, kernel, strides=1, padding="same", scaled=True):
        # conv_impl matmul: the same layer, as patches and one matmul (CPUs, few channels).
        conv2d = MatmulConv2D if self.config.get("conv_impl") == "matmul" else layers.Conv2D
        return conv2d(
            self.units(filters) if scaled else filters,
            kernel,
            strides=strides,
            padding=padding,
            kernel_initializer=self.config["kernel_initializer"],
        )(x)

    def dense(self, x, units, activation=None, dtype=None):
        return layers.Dense(
            units,
            activation=activation,
            kernel_initializer=self.config["kernel_initializer"],
            dtype=dtype,
        )(x)

    def classifier(self, x):
        """The softmax output, in float32 whatever the precision policy."""
        return self.dense(x, self.num_classes, activation="softmax", dtype="float32")

    def act(self, x, kind=None):
        """The variant's activation (or `kind`), named so it can be probed."""
        self.n_act += 1
        kind = kind or self.config["activation"]
        return activation_layer(self.config, kind, name=f"{ACT_PREFIX}{self.n_act:02d}")(x)

    def residual_act(self, x):
        """ResNet50's stem and post-add activation: `residual_activation`, by
        default the variant's single base activation (ReLU for LK-ReLU, ...)."""
        c = self.config
        base = c["activations"][c["activation"]].get("base") or c["activation"]
        return self.act(x, kind=c.get("residual_activation") or base)

    def norm(self, x, kind=None):
        """The variant's normalization (or `kind`); "none" is the identity."""
        kind = kind or self.config["normalization"]
        if kind == "none":
            return x
        self.n_norm += 1
        momentum = self.config["bn_momentum"]
        if kind == "batchnorm":
            return layers.BatchNormalization(momentum=momentum, name=f"bn_{self.n_norm:02d}")(x)
        return ln.BatchRenormalization(
            **self.config["renorm"],
            momentum=momentum,
            renorm_momentum=momentum,
            name=f"brn_{self.n_norm:02d}",
        )(x)

    def conv_block(self, x, filters, kernel, strides=1, padding="same"):
        """Conv -> [normalization] -> activation."""
        return self.act(self.norm(self.conv(x, filters, kernel, strides, padding)))

    def head(self, x):
        return self.classifier(layers.Flatten()(x))

    # The architectures of ../shared/PROTOCOL.md.

    def width(self, x):
        return self.head(self.conv_block(x, self.config["filters"], 3, padding="valid"))

    def depth(self, x):
        f = self.config["filters"]
        x = self.conv_block(x, f, 7, strides=2)
        for _ in range(self.config["depth"]):
            x = self.conv_block(x, f, 3)
        return self.head(x)

    def mnist_cnn(self, x):
        x = self.conv_block(x, 32, 3, padding="valid")
        x = self.conv_block(x, 64, 3, padding="valid")
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = self.act(self.dense(x, self.units(128)))
        return self.classifier(x)

    def extended(self, x):
        for filters in (32, 64):
            x = self.conv_block(x, filters, 3, padding="same")
            x = self.conv_block(x, filters, 3, padding="valid")
            x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = self.act(self.dense(x, self.units(512)))
        return self.classifier(x)

    def allcnn(self, x):
        rate = self.config["dropout"]
        for filters in (96, 192):
            x = self.conv_block(x, filters, 3)
            x = self.conv_block(x, filters, 3)
            # The stride-2 convolution has no activation (the authors' scripts).
            x = layers.Dropout(rate)(self.conv(x, filters, 3, strides=2))
        x = self.conv_block(x, 192, 3)
        x = self.conv_block(x, 192, 1, padding="valid")
        x = self.conv(x, self.num_classes, 1, padding="valid", scaled=False)
        x = layers.GlobalAveragePooling2D()(x)
        return layers.Activation("softmax", dtype="float32")(x)

    def _bottleneck(self, x, filters, strides, project):
        f1, f2, f3 = filters
        shortcut = x
        if project:
            shortcut = self.norm(self.conv(x, f3, 1, strides=strides))
        h = self.act(self.norm(self.conv(x, f1, 1, strides=strides)))
        h = self.act(self.norm(self.conv(h, f2, 3)))
        h = self.norm(self.conv(h, f3, 1))
        return self.residual_act(layers.Add()([h, shortcut]))

    def resnet50(self, x):
        # The authors' LK-SELU "without BN" kept its stem's BN: stem_normalization.
        stem_norm = self.config.get("stem_normalization") or self.config["normalization"]
        x = self.residual_act(self.norm(self.conv(x, 8, 3), kind=stem_norm))
        stages = [
            ((16, 16, 64), 3, 1),
            ((16, 16, 64), 4, 2),
            ((32, 32, 128), 6, 2),
            ((32, 32, 128), 3, 2),
        ]
        for filters, blocks, strides in stages:
            for block in range(blocks):
                first = block == 0
                x = self._bottleneck(x, filters, strides if first else 1, first)
        return self.head(x)


@keras.saving.register_keras_serializable(package="linked_neurons")
class FlipShift(layers.Layer):
    """Random horizontal flips and shifts of up to `shift` of the image size,
    edges repeated (Keras 2's ImageDataGenerator with fill_mode="nearest"),
    in training only. Written with keras.ops so that the training step stays
    compiled (Keras's RandomTranslation disables jit_compile).
    """

    def __init__(self, shift=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.shift = shift
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training:
            return x
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        flip = keras.random.uniform((batch, 1, 1, 1), seed=self.generator) < 0.5
        x = ops.where(flip, ops.flip(x, axis=2), x)
        for axis, size in ((1, height), (2, width)):
            pad = int(round(self.shift * size))
            if pad == 0:
                continue
            widths = [(0, 0)] * 4
            widths[axis] = (pad, pad)
            padded = ops.pad(x, widths, mode="edge")
            offset = keras.random.randint((batch, 1), 0, 2 * pad + 1, seed=self.generator)
            index = offset + ops.arange(size)[None, :]
            index = ops.reshape(index, (batch, size, 1, 1) if axis == 1 else (batch, 1, size, 1))
            x = ops.take_along_axis(padded, index, axis=axis)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "seed": self.seed}


def build_model(config, input_shape, num_classes):
    """The Keras model of one run configuration (not compiled)."""
    builder = _Builder(config, num_classes)
    inputs = keras.Input(input_shape)
    x = inputs
    if config["augment"]:
        x = FlipShift(0.1)(x)
    outputs = getattr(builder, config["architecture"])(x)
    return keras.Model(inputs, outputs, name=f"{config['experiment']}_{config['variant']}")


def activation_layers(model):
    """The activation layers whose units are probed for dead ones."""
    return [layer for layer in model.layers if layer.name.startswith(ACT_PREFIX)]
