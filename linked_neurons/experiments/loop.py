"""The training loop of one epoch.

`train_loop: fit` (the default) trains the epoch with `model.fit` on the
epoch's batches, compiled (`jit_compile=True`).

`train_loop: scan` (jax only) puts the training set on the device once and
makes an epoch one jitted `lax.scan` of Keras's own `train_step` over its
batches, taken from the device-resident data in the epoch's order: no Python
and no host transfer between steps. It gives the same losses as `fit` (the
tests check it), and is meant for accelerators, where a small network's step
is shorter than Python's dispatch of it; on the CPU it measured slower than
`fit` (XLA's CPU loops), so it is not the default.
"""

import keras
import numpy as np


class EpochRunner:
    """Runs training epochs of `model` on (x, y) in batches of `batch`."""

    def __init__(self, model, x, y, batch, scan=False):
        self.model = model
        self.batch = batch
        self.steps = len(x) // batch
        self.x, self.y = x, y
        self.fast = scan and keras.backend.backend() == "jax"
        if self.fast:
            self._build_jax()

    def _build_jax(self):
        import jax
        import jax.numpy as jnp

        model, batch, steps = self.model, self.batch, self.steps
        # Builds the optimizer and metrics without training (what fit does
        # on its first batch).
        model._symbolic_build(data_batch=(self.x[:batch], self.y[:batch]))
        self.x, self.y = jax.device_put(self.x), jax.device_put(self.y)

        def epoch(state, x, y, order):
            def batches(a):
                a = jnp.take(a, order[: steps * batch], axis=0)
                return a.reshape(steps, batch, *a.shape[1:])

            def body(state, data):
                logs, state = model.train_step(state, data)
                return state, logs

            state, logs = jax.lax.scan(body, state, (batches(x), batches(y)))
            return state, jax.tree_util.tree_map(lambda v: v[-1], logs)

        self._epoch = jax.jit(epoch, donate_argnums=0)

    def _variables(self):
        m = self.model
        return (m.trainable_variables, m.non_trainable_variables,
                m.optimizer.variables, m.metrics_variables)

    def run(self, order):
        """Train one epoch visiting the samples in `order`; returns its logs."""
        if not self.fast:
            order = order[: self.steps * self.batch]
            history = self.model.fit(self.x[order], self.y[order], batch_size=self.batch,
                                     epochs=1, shuffle=False, verbose=0).history
            return {key: float(values[-1]) for key, values in history.items()}
        self.model.reset_metrics()
        state = tuple([v.value for v in group] for group in self._variables())
        state, logs = self._epoch(state, self.x, self.y, np.asarray(order, dtype=np.int32))
        for group, values in zip(self._variables(), state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return {key: float(value) for key, value in logs.items()}
