"""The training loss of a run, with its numerics named (`loss` in the table).

Every network of the paper ends in a softmax and trains on the cross-entropy
of its output with the integer labels. How that cross-entropy is computed
decides what a saturated softmax does:

- `keras2_clipped` (the default, the authors'): the cross-entropy of the
  softmax's *probabilities*, each clipped to [1e-7, 1 - 1e-7] first, as the
  authors' Keras 2 computed it (`categorical_crossentropy` of its backends:
  normalize, clip, `-sum(target * log(p))`). A sample whose softmax is
  saturated on a wrong class (its label's probability below 1e-7) then has a
  constant loss, -log(1e-7) = 16.118, and exactly zero gradient: the network
  can stop learning altogether. Keras 3's own
  `sparse_categorical_crossentropy` computes this on jax and torch, but on
  tensorflow it finds the logits the softmax left on its output
  (`_keras_logits`) and computes the next option instead, so that the same
  run trained differently by backend. This function is written with
  `keras.ops` on the probabilities, so every backend computes the same.
- `logits`: the cross-entropy of the logits, `-log_softmax(z)[label]`, whose
  gradient `softmax(z) - onehot(label)` never vanishes on a wrong answer. The
  network's output layer then outputs the logits (its softmax is dropped,
  `use_logits`): the accuracy, which compares the largest outputs, is the
  same, and the outputs are no longer probabilities.
"""

import keras
from keras import ops

LOSSES = ("keras2_clipped", "logits")
#: Keras 2's `K.epsilon()`, the clipping bound of its cross-entropy.
EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="linked_neurons")
def keras2_clipped(y_true, y_pred):
    """Per-sample cross-entropy of softmax probabilities `y_pred` with integer
    labels `y_true`, the probabilities clipped to [1e-7, 1 - 1e-7] (Keras 2)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    target = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1], dtype=p.dtype)
    return -ops.sum(target * ops.log(p), axis=-1)


@keras.saving.register_keras_serializable(package="linked_neurons")
def logits(y_true, y_pred):
    """Per-sample cross-entropy of logits `y_pred` with integer labels."""
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)


def use_logits(model):
    """Make `model`'s output layer (a softmax: `Dense(activation="softmax")` or
    `Activation("softmax")`) output its logits instead; it raises ValueError
    for any other output layer."""
    layer = model.layers[-1]
    if getattr(layer, "_outputs_logits", False):
        return  # compiled before
    if getattr(layer, "activation", None) is not keras.activations.softmax:
        raise ValueError(f"loss: logits needs a softmax output layer; {model.name} ends in "
                         f"{layer.name} ({type(layer).__name__})")
    layer.activation = keras.activations.linear
    layer._outputs_logits = True


def loss_function(model, config):
    """The loss `compile` gets for a run of `config` (its `loss`, by default
    `keras2_clipped`); `logits` also makes `model` output its logits."""
    name = config.get("loss", "keras2_clipped")
    if name == "keras2_clipped":
        return keras2_clipped
    if name == "logits":
        use_logits(model)
        return logits
    raise ValueError(f"loss {name!r}: one of {', '.join(LOSSES)}")
