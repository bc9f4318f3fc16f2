"""The epoch loop of a group: one loop for both ways of training its seeds.

`train_runs` trains a group's runs in cohorts, runs that stand at the same
epoch and batch: spans of batches short enough to answer a stop signal
within `signals.STOP_SECONDS`, then evaluation, then each run's end of epoch
(`progress.py`), until every run of the cohort is done. How a cohort's
batches are trained and evaluated is its strategy's:

- `Sequential`: one compiled model, one run at a time (a cohort of one); the
  model's variables hold the run's state (`loop.EpochRunner`);
- `Vmapped` (jax): the runs at once, their states stacked and one program
  vmapped over them (`loop.SeedsRunner`); a resumed group whose runs stand
  at different places trains in several cohorts.

Either way a run draws its batches (`data.epoch_order`) and its random
layers' seeds (`seeding.epoch_seed_values`) from (seed, epoch) alone, so it
trains as it would alone and as it would uninterrupted.
"""

import time

import numpy as np

from linked_neurons.experiments.build import assign
from linked_neurons.experiments.build import build
from linked_neurons.experiments.build import fresh_values
from linked_neurons.experiments.build import read_values
from linked_neurons.experiments.checkpoint import state_variables
from linked_neurons.experiments.data import epoch_order
from linked_neurons.experiments.progress import end_epoch
from linked_neurons.experiments.progress import epoch_record
from linked_neurons.experiments.progress import finish_run
from linked_neurons.experiments.progress import save
from linked_neurons.experiments.progress import start_run
from linked_neurons.experiments.progress import test_outcome
from linked_neurons.experiments.seeding import epoch_seed_values
from linked_neurons.experiments.seeding import seed_states
from linked_neurons.experiments.signals import interrupt
from linked_neurons.experiments.signals import span


class Pace:
    """Seconds per batch of the last span: the next span's length."""

    def __init__(self):
        self.step_seconds = None


def train_runs(strategy, runs, signals):
    """Train `runs` to the end with `strategy`; a stop signal saves the
    unfinished runs where they stand and raises `signals.Interrupted`."""
    for cohort, pace in strategy.cohorts(runs):
        _train_cohort(strategy, cohort, pace, signals)
        if signals.received:
            later = [run for run in runs if not run.done]
            if later:
                raise interrupt(later[0], signals)


def _active(cohort):
    return any(not run.done and run.epoch < run.config["epochs"] for run in cohort)


def _stop(strategy, cohort, signals):
    """Save the cohort's unfinished runs; the Interrupted to raise."""
    for k, run in enumerate(cohort):
        if not run.done:
            save(run, strategy.values(k))
    return interrupt(next(run for run in cohort if not run.done), signals)


def _train_cohort(strategy, cohort, pace, signals):
    steps = strategy.steps
    epoch, step = cohort[0].epoch, cohort[0].step
    while _active(cohort):
        orders = [epoch_order(run.config, epoch, strategy.samples) for run in cohort]
        while step < steps:
            length = steps - step if strategy.whole_epochs else span(steps - step,
                                                                      pace.step_seconds)
            start = time.perf_counter()
            logs = strategy.train(orders, step, step + length)
            took = time.perf_counter() - start
            pace.step_seconds, step = took / length, step + length
            for k, run in enumerate(cohort):
                if not run.done:
                    run.seconds += took
                    run.step = step
                    for key in ("loss", "accuracy"):
                        run.sums[key] = run.sums.get(key, 0.0) + float(logs[key][k]) * length
            if signals.received and step < steps:
                raise _stop(strategy, cohort, signals)
        start = time.perf_counter()
        val_logs, outputs = strategy.evaluate()
        took = time.perf_counter() - start
        # Keras evaluates the schedule at the optimizer's step: the next rate.
        rates = strategy.learning_rates()
        for k, run in enumerate(cohort):
            if run.done:
                continue
            result = epoch_record(run.sums, steps, run.seconds + took,
                                  {key: v[k] for key, v in val_logs.items()}, rates[k], epoch + 1,
                                  test_outcome(outputs[k], strategy.yt))
            end_epoch(run, result, lambda k=k: strategy.values(k))
            if run.done:
                strategy.finish(k, run)
        epoch, step = epoch + 1, 0
        if _active(cohort):
            strategy.reseed(cohort, epoch)
            if signals.received:
                raise _stop(strategy, cohort, signals)


class _Strategy:
    """What both strategies share: the group's model, data and probe."""

    def __init__(self, runs, data, val, steps, num_classes, common):
        (self.x, self.y), (self.xv, self.yv, self.xt, self.yt) = data, val
        self.shape = self.x.shape[1:]
        self.samples, self.steps, self.num_classes = len(self.x), steps, num_classes
        self.common = common
        self.val_batch = min(len(self.xv), 1024)
        self.model, self.initial = build(runs[0].config, self.shape, num_classes, steps)
        self.variables = state_variables(self.model)
        self.probe = None

    def start(self, run):
        """Start `run` (`progress.start_run`): its (trainable, non_trainable, optimizer) arrays."""
        return start_run(run, self.model,
                         lambda r: fresh_values(r, self.shape, self.num_classes, self.initial))

    def finish(self, k, run):
        """Finish the cohort's `k`-th run, whose state the model holds."""
        _, self.probe = finish_run(run, self.model, self.xv, self.common, self.probe)


class Sequential(_Strategy):
    """The runs one after another on one compiled model: each starts from its
    own initial (or restored) state, so it trains as it would alone."""

    def __init__(self, runs, data, val, steps, num_classes, common, alone=False):
        from linked_neurons.experiments.loop import EpochRunner

        super().__init__(runs, data, val, steps, num_classes, common)
        config = runs[0].config
        # Alone on its device (a timed group), a job has no neighbour that
        # fit's dispatching thread would slow, and fit's step compiles sooner.
        self.runner = EpochRunner(self.model, self.x, self.y, config["batch_size"],
                                  scan=config["train_loop"] == "scan", packed=not alone)
        self.whole_epochs = self.runner.fast
        self.pace = Pace()  # one model: one pace for all its runs

    def cohorts(self, runs):
        for run in runs:
            groups = self.start(run)
            assign(self.variables, [v for g in groups for v in g])
            if run.step == 0:
                self.reseed([run], run.epoch)
            yield [run], self.pace

    def train(self, orders, start, stop):
        logs = self.runner.run(orders[0], start, stop)
        return {key: [value] for key, value in logs.items()}

    def evaluate(self):
        val_logs = self.model.evaluate(self.xv, self.yv, batch_size=self.val_batch,
                                       return_dict=True, verbose=0)
        outputs = self.model.predict(self.xt, batch_size=self.val_batch, verbose=0)
        return {key: [value] for key, value in val_logs.items()}, [outputs]

    def learning_rates(self):
        return [float(self.model.optimizer.learning_rate)]

    def values(self, k):
        return read_values(self.variables)

    def reseed(self, cohort, epoch):
        for i, value in epoch_seed_values(self.model, cohort[0].seed, epoch).items():
            self.model.non_trainable_variables[i].assign(value)


class Vmapped(_Strategy):
    """The runs at once (jax): one program vmapped over their stacked states.
    Runs that stand at different places (a resumed group) train in cohorts."""

    whole_epochs = False

    def __init__(self, runs, data, val, steps, num_classes, common):
        from linked_neurons.experiments import blockdiag
        from linked_neurons.experiments.loop import SeedsRunner

        super().__init__(runs, data, val, steps, num_classes, common)
        self.runner = SeedsRunner(self.model, self.x, self.y, self.xv, self.yv,
                                  runs[0].config["batch_size"], self.val_batch,
                                  block_diagonal=blockdiag.wanted(runs[0].config))
        self.state = None

    def cohorts(self, runs):
        from linked_neurons.experiments.loop import SeedsRunner

        starts = [self.start(run) for run in runs]
        for epoch, step in sorted({(run.epoch, run.step) for run in runs}):
            here = [i for i, run in enumerate(runs) if (run.epoch, run.step) == (epoch, step)]
            cohort = [runs[i] for i in here]
            self.state = SeedsRunner.stack([starts[i] for i in here])
            if step == 0:
                self.reseed(cohort, epoch)
            yield cohort, Pace()  # a pace per cohort: its own number of seeds

    def train(self, orders, start, stop):
        self.state, logs = self.runner.run(self.state, np.stack(orders), start, stop)
        return logs

    def evaluate(self):
        return self.runner.evaluate(self.state), self.runner.predict(self.state, self.xt)

    def learning_rates(self):
        """Each seed's learning rate at its optimizer's step, as Keras reports
        it: the optimizer's `learning_rate` with its `iterations` set to the
        seed's (and put back)."""
        optimizer = self.model.optimizer
        index = next((i for i, v in enumerate(optimizer.variables) if v is optimizer.iterations),
                     None)
        if index is None:
            return [float(optimizer.learning_rate)] * len(self.state[0][0])
        before = optimizer.iterations.value
        rates = []
        for step in np.asarray(self.state[2][index]):
            optimizer.iterations.assign(step)
            rates.append(float(optimizer.learning_rate))
        optimizer.iterations.assign(before)
        return rates

    def values(self, k):
        """The `k`-th seed's arrays of the stacked state, in `state_variables` order."""
        from linked_neurons.experiments.loop import SeedsRunner

        return [v for group in SeedsRunner.unstack(self.state, k) for v in group]

    def finish(self, k, run):
        assign(self.variables, self.values(k))
        super().finish(k, run)

    def reseed(self, cohort, epoch):
        """Each run's random layers seeded for `epoch`."""
        non_trainable = list(self.state[1])
        for i in seed_states(self.model):
            non_trainable[i] = non_trainable[i].at[:].set(
                np.stack([epoch_seed_values(self.model, run.seed, epoch)[i] for run in cohort]))
        self.state = (self.state[0], non_trainable, self.state[2])
