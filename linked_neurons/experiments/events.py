"""A run's TensorBoard event file, and the record of the event files this
project wrote in a run directory (the only ones it ever deletes)."""

import os
import sys
import time
import types
from pathlib import Path

from linked_neurons_core.io import OutputError
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.io import read_json
from linked_neurons_core.metrics import TAGS
from linked_neurons_core.table import flatten

#: Where a run directory lists the event files its runs wrote: the only
#: event files the runner ever deletes (a user's own are left in place).
EVENTS_RECORD = ".events.json"


def recorded_events(out):
    """The event files of `out` that this project wrote (EVENTS_RECORD)."""
    try:
        names = read_json(Path(out) / EVENTS_RECORD)
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str) and "/" not in n] if isinstance(names, list) else []


def record_events(out, names):
    atomic_write_json(Path(out) / EVENTS_RECORD, sorted(set(names)))


def delete_recorded_events(run):
    """Delete the event files recorded as this project's, and the record."""
    for name in recorded_events(run.out):
        (run.out / name).unlink(missing_ok=True)
    (run.out / EVENTS_RECORD).unlink(missing_ok=True)


class Events:
    """The run's TensorBoard event file, written with TensorBoard's own record
    writer and protos: no TensorFlow (nor torch) needed, every Keras backend
    works. Written synchronously (not TensorBoard's writer thread), so that a
    failed write (a full disk) is an OutputError naming the file and the run,
    raised here; the failed file is deleted, so no empty or partial event file
    is left. Its name is recorded (EVENTS_RECORD) before it is made."""

    _serial = 0

    def __init__(self, run):
        import socket

        import keras

        if keras.backend.backend() != "tensorflow":
            # TensorBoard's own switch to its TensorFlow stub: otherwise it
            # imports TensorFlow whenever installed (1.6 s here) for a file
            # writer that the stub provides as well.
            sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        Events._serial += 1
        host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
        self.run = run
        self.path = run.out / (f"events.out.tfevents.{int(time.time()):010d}.{host}."
                               f"{os.getpid()}.{Events._serial}")
        self.writer = self._file = None
        try:
            record_events(run.out, [*recorded_events(run.out), self.path.name])
        except OutputError as error:
            raise error.within(run.name) from error
        try:
            self._file = open(self.path, "xb")  # noqa: SIM115 (closed in close)
            self.writer = RecordWriter(self._file)
        except OSError as error:
            raise self._failed(error) from error
        self._add(Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _failed(self, error):
        """The OutputError for `error`; the file goes (it is ours and incomplete)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self.writer = self._file = None
        self.path.unlink(missing_ok=True)
        try:
            record_events(self.run.out, [n for n in recorded_events(self.run.out)
                                          if n != self.path.name])
        except OSError:  # the disk is full: a stale name in the record is harmless
            pass
        message = error.strerror or str(error) or type(error).__name__
        return OutputError(error.errno, message, str(self.path)).within(self.run.name)

    def _add(self, event):
        try:
            self.writer.write(event.SerializeToString())
        except OSError as error:
            raise self._failed(error) from error

    def _write(self, summary, step):
        from tensorboard.compat.proto.event_pb2 import Event

        self._add(Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self):
        try:
            self.writer.flush()
        except OSError as error:
            raise self._failed(error) from error

    def hparams(self, config):
        from tensorboard.plugins.hparams import summary_v2 as hp

        flat = {
            key: value
            for key, value in flatten(config).items()
            if isinstance(value, (str, bool, int, float)) and key != "title"
        }
        metrics = [hp.Metric(f"epoch/{tag}") for tag in ("val_accuracy", "val_loss")]
        self._write(hp.hparams_config_pb([hp.HParam(k) for k in flat], metrics), 0)
        self._write(hp.hparams_pb(flat), 0)
        self.flush()

    def epoch(self, record):
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=f"epoch/{t}", simple_value=record[t]) for t in TAGS]
        self._write(Summary(value=values), record["epoch"])
        self.flush()

    def close(self):
        if self.writer is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as error:
            raise self._failed(error) from error
        self.writer = self._file = None
