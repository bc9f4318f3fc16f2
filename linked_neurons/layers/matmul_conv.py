"""`MatmulConv2D`: Keras's `Conv2D`, computed as patches and one matrix product.

The same layer as `keras.layers.Conv2D` (a subclass: the same arguments,
variables, initial values and configuration), whose convolution is written
as im2col: the input padded as Conv2D pads it, the `kh * kw` shifted (and
strided) views concatenated on the channel axis, and one matmul with the
kernel reshaped to `(kh * kw * in, out)`. The sums are the convolution's, in
another order: outputs and gradients equal Conv2D's within float rounding
(tests/test_conv_matmul.py).

Why: XLA's CPU convolution kernels are slow at a few channels (the quick
scale's 4-channel depth network: 9-30 GFLOP/s), where one matmul of the
patches runs 1.3-2x faster a layer. On accelerators, or at larger widths,
keep Conv2D. The experiment table's `conv_impl: matmul` selects it.

Channels-last 2D convolutions without dilation or groups only; anything
else falls back to Conv2D's own convolution.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="linked_neurons")
class MatmulConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` computed as patches times one matmul (im2col)."""

    def _im2col_applies(self):
        return (self.data_format == "channels_last" and tuple(self.dilation_rate) == (1, 1)
                and self.groups == 1 and self.padding in ("same", "valid"))

    def convolution_op(self, inputs, kernel):
        if not self._im2col_applies():
            return super().convolution_op(inputs, kernel)
        kh, kw, cin, cout = kernel.shape
        sh, sw = self.strides
        height, width = inputs.shape[1], inputs.shape[2]
        if self.padding == "same":
            oh, ow = -(-height // sh), -(-width // sw)
            ph = max((oh - 1) * sh + kh - height, 0)
            pw = max((ow - 1) * sw + kw - width, 0)
            if ph or pw:
                inputs = ops.pad(inputs, ((0, 0), (ph // 2, ph - ph // 2),
                                          (pw // 2, pw - pw // 2), (0, 0)))
        else:
            oh, ow = (height - kh) // sh + 1, (width - kw) // sw + 1
        views = [inputs[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
                 for i in range(kh) for j in range(kw)]
        patches = views[0] if len(views) == 1 else ops.concatenate(views, axis=-1)
        return ops.matmul(patches, ops.reshape(kernel, (kh * kw * cin, cout)))
