"""A run's initial values for another seed, without building its model again.

A group's runs differ only in their seed, and a seed only changes the initial
values: Keras draws one integer from Python's `random` (seeded by the run's
seed) for each unseeded initializer and random layer as the model is built,
and an initializer called with that integer gives the same values every time.
So `Initial` watches the one build of a group: it replays Python's generator
from its state before the build to its state after, which gives the draws in
order, and finds which initializer or seed generator took each draw and which
variable each initializer filled. For another seed it draws that seed's
integers, calls the same initializers with them and returns every variable's
value as a model built alone with that seed has it, bit for bit
(tests/test_reinit.py), and leaves Python's generator where that build would.

It applies only where every draw of the build is accounted for and NumPy's
generator was not used; otherwise (`exact` is False) the caller builds a model
per seed, as before.
"""

import random

import numpy as np

#: Replay at most this many draws looking for the state after the build.
MAX_DRAWS = 100_000


def _draws(state_before, state_after):
    """The randint(1, 1e9) draws that took Python's generator from one state
    to the other, or None if no such run of draws does it."""
    generator = random.Random()
    generator.setstate(state_before)
    draws = []
    while generator.getstate() != state_after:
        if len(draws) == MAX_DRAWS:
            return None
        draws.append(generator.randint(1, int(1e9)))
    return draws


def _same_numpy_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


class Initial:
    """The initial values of a group's runs (see the module doc).

    Make it right after the group's model is built and compiled, with the
    seed it was built with and Python's and NumPy's generator states from
    just before the build (after seeding).
    """

    def __init__(self, model, variables, seed, python_state, numpy_state):
        import keras

        self.seed = seed
        self.variables = variables
        self.values = _numpy(variables)
        self.exact = False
        self.reason = None
        self._plan = []  # (variable index, draw index, initializer or None: a seed state)
        draws = _draws(python_state, random.getstate())
        if draws is None:
            self.reason = "Python's generator was used for more than the initializers' seeds"
            return
        if not _same_numpy_state(numpy_state, np.random.get_state()):
            self.reason = "the build drew from NumPy's generator"
            return
        self.count = len(draws)
        where = {}
        for k, draw in enumerate(draws):
            where.setdefault(draw, []).append(k)
        if any(len(ks) > 1 for ks in where.values()):
            self.reason = "two draws of the build are equal"
            return
        index = {id(v): i for i, v in enumerate(variables)}
        taken = set()
        for layer in model._flatten_layers(include_self=True, recursive=True):
            objects = list(vars(layer).values())
            initializers = [o for o in objects if isinstance(o, keras.initializers.Initializer)
                            and getattr(o, "_init_seed", 0) is None and isinstance(o.seed, int)]
            for generator in (o for o in objects if isinstance(o, keras.random.SeedGenerator)):
                i = index.get(id(generator.state))
                if generator._initial_seed is not None or i is None:
                    continue
                k = where.get(int(self.values[i][0]), [None])[0]
                if k is None:
                    self.reason = f"{layer.name}: its seed generator's seed is not a draw"
                    return
                self._plan.append((i, k, None))
                taken.add(k)
            for initializer in initializers:
                k = where.get(initializer.seed, [None])[0]
                if k is None:
                    self.reason = f"{layer.name}: an initializer's seed is not a draw"
                    return
                taken.add(k)
                for variable in layer.weights:
                    i = index.get(id(variable))
                    if i is None or any(i == p[0] for p in self._plan):
                        continue
                    value = keras.ops.convert_to_numpy(initializer(variable.shape,
                                                                   dtype=variable.dtype))
                    if value.shape == self.values[i].shape and np.array_equal(
                            _bits(value), _bits(self.values[i])):
                        self._plan.append((i, k, initializer))
        if taken != set(range(self.count)):
            self.reason = "a draw of the build is not a known initializer's or seed generator's"
            return
        self.exact = True

    def __call__(self, seed):
        """Every variable's initial value for `seed`, as NumPy arrays, with
        Python's generator left as that seed's build leaves it (the caller
        seeds the generators first, as for a build)."""
        if not self.exact:
            raise ValueError(f"no exact re-initialization: {self.reason}")
        generator = random.Random(seed)
        draws = [generator.randint(1, int(1e9)) for _ in range(self.count)]
        values = [v.copy() for v in self.values]
        if seed != self.seed:
            import keras

            for i, k, initializer in self._plan:
                variable = self.variables[i]
                if initializer is None:
                    values[i] = np.array([draws[k], 0], dtype=values[i].dtype)
                    continue
                built_with = initializer.seed
                initializer.seed = draws[k]
                try:
                    values[i] = keras.ops.convert_to_numpy(
                        initializer(variable.shape, dtype=variable.dtype))
                finally:
                    initializer.seed = built_with
        random.setstate(generator.getstate())
        return values


def _bits(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _numpy(variables):
    from keras import ops

    return [ops.convert_to_numpy(v.value).copy() for v in variables]
