"""The training loops: batches of an epoch, one model or several seeds at once.

`EpochRunner` trains one compiled Keras model:

- `train_loop: fit` (the default) trains a span of the epoch's batches as
  `model.fit` does, compiled (`jit_compile=True`). The runner calls it for
  spans short enough that a stop signal is answered within seconds, at a
  batch boundary, and for the whole epoch where that is quick. On jax it
  calls Keras's own jitted `train_step` a batch at a time, as `fit` does, with
  the model's state packed into one buffer per dtype across each call (packed
  and unpacked on the host between spans). `fit` passes every variable (753
  arrays for the quick ResNet50) to and from each step, and its dispatching
  thread then needs most of a core of its own beside XLA's: a one-thread
  ResNet50 job used 1.4 cores, and a job on the other core slowed it 1.5-2.1x
  (benchmarks/cores.py --networks); packed, 1.0 core and 1.03-1.06x. The cost
  is compilation: slicing 753 arrays out of the buffer makes the step's
  program take about 15 s more to compile (ResNet50; once a group, the
  persistent cache serves its other seeds). It is the same computation, but
  another XLA program: the tests find it bit for bit equal to `fit` for BN,
  ResNet50 (with and without BN) and All-CNN with LK-ReLU, and 1 ulp apart in
  a weight for All-CNN with PReLU (tests/test_runner.py). A job that has its
  device alone (`packed=False`: the timed groups of Table 6, all ResNet50s)
  has no neighbour to slow and calls `model.fit`: alone, a ResNet50 epoch took
  the same time either way (0.23-0.25 s) and `fit`'s first span compiled in
  5.5-6.4 s against 19.3 s, with the same weights to the bit. Other backends
  call `model.fit`.
- `train_loop: scan` (jax only) puts the training set on the device once and
  makes an epoch one jitted `lax.scan` of Keras's own `train_step` over its
  batches: no Python and no host transfer between steps. It gives the same
  losses as `fit` (the tests check it), and is meant for accelerators, where a
  small network's step is shorter than Python's dispatch of it; on the CPU it
  measured slower than `fit` (XLA's CPU loops). An epoch is its smallest span.

`SeedsRunner` (jax only) trains the seeds of one variant at once: their
states stacked on a leading axis and Keras's own `train_step`, `jax.vmap`-ed
over it, one compiled program and one batched step per batch. Each seed keeps
its own weights, optimizer state, batch order, dropout and augmentation
randomness and normalization statistics. A span is a Python loop over the
jitted, vmapped step (asynchronous on accelerators): any span length, one
compilation. Meant for accelerators: on a CPU,
XLA runs a convolution vmapped over its weights as a grouped convolution,
slower than the seeds one after another (../../benchmarks/groups.py), unless
`block_diagonal` traces it as one block-diagonal convolution (`blockdiag.py`),
which at a few channels is faster than the seeds in turn.

Both return a span's mean training loss and accuracy over its batches.
"""

import contextlib
import math

import keras
import numpy as np


class EpochRunner:
    """Runs spans of training epochs of `model` on (x, y) in batches of `batch`.

    Args:
        scan: one jitted `lax.scan` an epoch (`train_loop: scan`, jax only).
        packed: on jax, Keras's `train_step` with the state packed (above),
            for a job that shares its device; False calls `model.fit`.
    """

    def __init__(self, model, x, y, batch, scan=False, packed=True):
        self.model = model
        self.batch = batch
        self.steps = len(x) // batch
        self.x, self.y = x, y
        jax = keras.backend.backend() == "jax"
        self.fast = scan and jax
        self.min_span = self.steps if self.fast else 1
        self.packed = jax and not scan and packed
        if self.fast:
            self._build_jax()
        elif self.packed:
            self._build_packed()

    def _build_packed(self):
        """A step of Keras's `train_step` whose state is one buffer per dtype."""
        import jax
        import jax.numpy as jnp

        model = self.model
        # Builds the optimizer and metrics without training (what fit does
        # on its first batch).
        model._symbolic_build(data_batch=(self.x[:self.batch], self.y[:self.batch]))
        groups = [len(group) for group in self._variables()]
        self._layout = [(v.value.shape, str(v.value.dtype)) for group in self._variables() for v in group]
        self._dtypes = sorted({dtype for _, dtype in self._layout})

        # The optimization barriers keep XLA from fusing the packing into the
        # step's own computations: it compiles the step faster (resnet50:
        # 15.5 s against 21.1 s) and runs it faster (0.159 s an epoch against
        # 0.183 s; fit: 7.4 s and 0.247 s).
        def step(buffers, x, y):
            values, state = jax.lax.optimization_barrier(self._unpack(buffers)), []
            for n in groups:
                state.append(values[:n])
                values = values[n:]
            logs, state = model.train_step(tuple(state), (x, y))
            return logs, self._pack(jax.lax.optimization_barrier([v for group in state for v in group]), jnp)

        self._step = jax.jit(step, donate_argnums=0)
        self._device_put = jax.device_put

    def _pack(self, values, xp):
        """The values of `_layout`'s variables as one flat buffer per dtype
        (`xp`: numpy or jax.numpy)."""
        return tuple(xp.concatenate([xp.ravel(v) for v, (_, d) in zip(values, self._layout) if d == dtype])
                     for dtype in self._dtypes)

    def _unpack(self, buffers):
        """`_pack`'s inverse: the buffers' slices, in `_layout`'s order."""
        at, values = dict.fromkeys(self._dtypes, 0), []
        for shape, dtype in self._layout:
            size = math.prod(shape)
            buffer = buffers[self._dtypes.index(dtype)]
            values.append(buffer[at[dtype]:at[dtype] + size].reshape(shape))
            at[dtype] += size
        return values

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

    def run(self, order, start=0, stop=None):
        """Train on the batches `start` to `stop` of the epoch whose samples
        come in `order`; returns their mean loss and accuracy."""
        stop = self.steps if stop is None else stop
        if self.packed:
            return self._run_packed(order, start, stop)
        if not self.fast:
            index = order[start * self.batch: stop * self.batch]
            history = self.model.fit(self.x[index], self.y[index], batch_size=self.batch,
                                     epochs=1, shuffle=False, verbose=0).history
            return {key: float(values[-1]) for key, values in history.items()}
        if (start, stop) != (0, self.steps):
            raise ValueError("the scan loop trains whole epochs")
        self.model.reset_metrics()
        state = tuple([v.value for v in group] for group in self._variables())
        state, logs = self._epoch(state, self.x, self.y, np.asarray(order, dtype=np.int32))
        for group, values in zip(self._variables(), state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return {key: float(value) for key, value in logs.items()}

    def _run_packed(self, order, start, stop):
        # What fit does for one epoch of these batches: metrics reset, then
        # train_step per batch; the last step's logs are the span's means.
        self.model.reset_metrics()
        variables = [v for group in self._variables() for v in group]
        # Packed and unpacked on the host, between spans: no program to compile.
        buffers = self._device_put(self._pack([np.asarray(v.value) for v in variables], np))
        logs = {}
        for step in range(start, stop):
            index = order[step * self.batch: (step + 1) * self.batch]
            logs, buffers = self._step(buffers, self.x[index], self.y[index])
        for variable, value in zip(variables, self._unpack([np.asarray(b) for b in buffers])):
            variable.assign(value)
        return {key: float(value) for key, value in logs.items()}


class SeedsRunner:
    """Trains S states of one compiled model at once (jax): `state` is
    (trainable, non_trainable, optimizer) lists of arrays stacked over seeds."""

    def __init__(self, model, x, y, xv, yv, batch, val_batch, block_diagonal=False):
        import jax
        import jax.numpy as jnp

        from linked_neurons.experiments.blockdiag import block_diagonal_convolutions

        # The compiled programs are traced (at their first call, and again for
        # a new shape) within it: every call is.
        self.tracing = block_diagonal_convolutions if block_diagonal else contextlib.nullcontext
        self.model = model
        self.batch, self.val_batch = batch, val_batch
        self.steps = len(x) // batch
        model._symbolic_build(data_batch=(x[:batch], y[:batch]))
        self.metrics_init = [np.asarray(v.value) for v in model.metrics_variables]
        self.x, self.y = jax.device_put(x), jax.device_put(y)
        self.xv, self.yv = xv, yv

        def train(state, metrics, x, y, index):
            logs, (trainable, non_trainable, optimizer, metrics) = model.train_step(
                (*state, metrics), (jnp.take(x, index, axis=0), jnp.take(y, index, axis=0)))
            return (trainable, non_trainable, optimizer), metrics, logs

        def evaluate(state, metrics, x, y):
            trainable, non_trainable, _ = state
            logs, (_, _, metrics) = model.test_step((trainable, non_trainable, metrics), (x, y))
            return metrics, logs

        def predict(state, x):
            trainable, non_trainable, _ = state
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        def programs():
            # One compiled program, one batched step per batch for all seeds.
            return (jax.jit(jax.vmap(train, in_axes=(0, 0, None, None, 0)), donate_argnums=(0, 1)),
                    jax.jit(jax.vmap(evaluate, in_axes=(0, 0, None, None))),
                    jax.jit(jax.vmap(predict, in_axes=(0, None))))

        self._train, self._evaluate, self._predict = programs()
        # Block-diagonal: a seed's inf or NaN meets its siblings' zeros in
        # each convolution (0 * inf is NaN) and would make them NaN too. A
        # span, an evaluation or a prediction in which any seed is not finite
        # is computed again by programs traced with jax's own convolutions,
        # each seed apart: a diverging seed diverges alone.
        self._apart = programs() if block_diagonal else None

    def _fresh_metrics(self, seeds):
        import jax.numpy as jnp

        return [jnp.stack([jnp.asarray(m)] * seeds) for m in self.metrics_init]

    @staticmethod
    def stack(states):
        """Per-seed (trainable, non_trainable, optimizer) lists -> one stacked state."""
        import jax.numpy as jnp

        return tuple([jnp.stack([s[g][i] for s in states]) for i in range(len(states[0][g]))]
                     for g in range(3))

    @staticmethod
    def unstack(state, seed):
        """The (trainable, non_trainable, optimizer) arrays of the `seed`-th state."""
        return tuple([np.asarray(v[seed]) for v in group] for group in state)

    def run(self, state, orders, start=0, stop=None):
        """Train every seed on batches `start` to `stop` of its own `orders`
        row; returns (state, {key: per-seed array of the span's means})."""
        import jax
        import jax.numpy as jnp

        stop = self.steps if stop is None else stop
        orders = np.asarray(orders, dtype=np.int32)

        def span(train, state, tracing):
            metrics = self._fresh_metrics(len(orders))
            logs = None
            with tracing():
                for step in range(start, stop):
                    index = orders[:, step * self.batch: (step + 1) * self.batch]
                    state, metrics, logs = train(state, metrics, self.x, self.y, index)
            return state, {key: np.asarray(value) for key, value in logs.items()}

        saved = jax.tree.map(jnp.copy, state) if self._apart else None  # `state` is donated
        state, logs = span(self._train, state, self.tracing)
        if saved is not None and not np.isfinite(logs["loss"]).all():
            state, logs = span(self._apart[0], saved, contextlib.nullcontext)
        return state, logs

    def evaluate(self, state):
        """Validation loss and accuracy of every seed: {key: per-seed array}."""
        def evaluate(program, tracing):
            metrics = self._fresh_metrics(state[0][0].shape[0])
            logs = None
            with tracing():
                for start in range(0, len(self.xv), self.val_batch):
                    stop = start + self.val_batch
                    metrics, logs = program(state, metrics, self.xv[start:stop], self.yv[start:stop])
            return {key: np.asarray(value) for key, value in logs.items()}

        logs = evaluate(self._evaluate, self.tracing)
        if self._apart and not np.isfinite(logs["loss"]).all():
            logs = evaluate(self._apart[1], contextlib.nullcontext)
        return logs

    def predict(self, state, x):
        """Every seed's outputs on `x`: an array (seeds, samples, ...)."""
        def predict(program, tracing):
            with tracing():
                return np.concatenate([np.asarray(program(state, x[start:start + self.val_batch]))
                                       for start in range(0, len(x), self.val_batch)], axis=1)

        outputs = predict(self._predict, self.tracing)
        if self._apart and not np.isfinite(outputs).all():
            outputs = predict(self._apart[2], contextlib.nullcontext)
        return outputs
