"""Stop signals: SIGTERM (as SLURM sends at a time limit) and SIGINT are
answered at the next batch boundary, `STOP_SECONDS` of training apart at most;
the loop saves where each run stands and raises `Interrupted`."""

import logging
import os
import signal

log = logging.getLogger("linked_neurons.train")

#: A stop signal is answered within about this many seconds of training
#: (LINKED_NEURONS_STOP_SECONDS); SLURM waits 30 s after SIGTERM (KillWait).
STOP_SECONDS = float(os.environ.get("LINKED_NEURONS_STOP_SECONDS", 5.0))


class Interrupted(RuntimeError):
    """A stop signal ended training; the runs stand saved where they were."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """SIGTERM and SIGINT set a flag that the loops read at batch boundaries;
    a second SIGINT (Ctrl-C twice) stops at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        log.warning("%s received: saving at the next batch boundary",
                    signal.Signals(signum).name)

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handlers, no stops
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def span(steps_left, step_seconds):
    """Batches to train before looking for a stop signal again."""
    if step_seconds is None:
        return min(steps_left, 16)
    return max(1, min(steps_left, int(STOP_SECONDS / max(step_seconds, 1e-6))))


def interrupt(run, signals):
    name = signal.Signals(signals.received).name
    where = (f"saved after epoch {run.epoch}, batch {run.step}" if run.events
             else "not started")
    return Interrupted(
        f"{name}: {run.name} {where} ({run.out}); run the same command again to "
        "resume it", signals.received,
    )
