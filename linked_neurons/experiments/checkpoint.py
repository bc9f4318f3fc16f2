"""A run's checkpoints: the state it resumes from exactly.

A checkpoint is a pair of files in the run's `checkpoint/` directory, named by
the position it was taken at (`epoch-0003-step-00020`: after 3 finished
epochs and 20 batches of the 4th):

- `.npz`: the value of every variable of the model (weights, normalization
  statistics, the random layers' seed states) and of its optimizer, in the
  order of `state_variables(model)`;
- `.json`: where the run stands (its history, the position in the epoch,
  the running sums of the epoch so far) and the run's fingerprint.

Both are written atomically, the `.npz` first, so the `.json` names a
complete pair. The newest two pairs are kept. `load` verifies a pair (both
files read, every array's shape as the model's, the same fingerprint); a
damaged newest pair is reported with its path and the older one is used; with
none usable the run starts afresh, so no damaged file blocks a run for good.
Only files of these names are ever deleted: anything else a user keeps in
`checkpoint/` stays, and so does the directory then.
"""

import io
import logging
import re
from pathlib import Path

import numpy as np

from linked_neurons_core.io import atomic_write_bytes
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.io import read_json

log = logging.getLogger("linked_neurons.train")
KEEP = 2
_NAME = re.compile(r"epoch-(\d{4})-step-(\d{5})\.json$")
# A checkpoint's files, and the temporary files of their atomic writes
# (io.atomic_write_with: ".NAME.HEX.tmp"): what `clear` may delete.
_OWN = re.compile(r"(epoch-\d{4}-step-\d{5}\.(json|npz)"
                  r"|\.epoch-\d{4}-step-\d{5}\.(json|npz)\.[0-9a-f]{8}\.tmp)$")


def state_variables(model):
    """Every variable a run's state is made of, in a fixed order."""
    return [*model.trainable_variables, *model.non_trainable_variables,
            *model.optimizer.variables]


class Checkpoints:
    """The checkpoints of one run directory."""

    def __init__(self, run_dir):
        self.dir = Path(run_dir) / "checkpoint"

    def _pairs(self):
        """(epoch, step, json path), newest first."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in self.dir.glob("epoch-*-step-*.json"):
            match = _NAME.match(path.name)
            if match:
                found.append((int(match[1]), int(match[2]), path))
        return sorted(found, reverse=True)

    def save(self, values, state):
        """Write one checkpoint of `values` (arrays, in `state_variables`
        order) and `state` (JSON), then drop all but the newest two."""
        stem = f"epoch-{state['epoch']:04d}-step-{state['step']:05d}"
        buffer = io.BytesIO()
        np.savez(buffer, *[np.asarray(v) for v in values])
        atomic_write_bytes(self.dir / f"{stem}.npz", buffer.getvalue())
        atomic_write_json(self.dir / f"{stem}.json", state)
        for _, _, old in self._pairs()[KEEP:]:
            old.with_suffix(".npz").unlink(missing_ok=True)
            old.unlink(missing_ok=True)

    def load(self, shapes, fingerprint):
        """(values, state) of the newest usable checkpoint whose fingerprint is
        `fingerprint` and whose arrays have `shapes`, else None."""
        for _, _, path in self._pairs():
            try:
                state = read_json(path)
                if state.get("fingerprint") != fingerprint:
                    log.warning("%s was taken with another configuration or code; not resumed from",
                                path)
                    continue
                with np.load(path.with_suffix(".npz")) as archive:
                    values = [archive[f"arr_{i}"] for i in range(len(archive.files))]
                got = [tuple(v.shape) for v in values]
                if got != [tuple(s) for s in shapes]:
                    raise ValueError(f"{len(got)} arrays that do not match the model's "
                                     f"{len(shapes)} variables")
                return values, state
            except Exception as error:  # a damaged file of any kind: try the older one
                log.warning("checkpoint %s is damaged (%s); trying the previous one",
                            path.with_suffix(".npz"), error)
        return None

    def foreign(self):
        """The files of `checkpoint/` that no checkpoint wrote (a user's)."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if not _OWN.match(p.name))

    def clear(self):
        """Delete the checkpoints (and the temporary files of an interrupted
        save), nothing else: `checkpoint/` goes only if that leaves it empty."""
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            if _OWN.match(path.name) and not path.is_dir():
                path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:  # it holds files that are not ours: they stay
            log.info("%s kept: it holds files no checkpoint wrote (%s)", self.dir,
                     ", ".join(p.name for p in self.foreign()[:3]))
