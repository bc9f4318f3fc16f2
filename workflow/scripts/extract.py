"""Extract an experiment's event files into tidy pandas tables.

Each run's events are read with tbparse (TensorBoard's own event reader) and
checked against its metrics.json. A run whose events are unreadable, truncated
or disagree with metrics.json falls back to the per-epoch history that
metrics.json holds, with a warning; a run with neither fails, naming it.

Outputs: EXPERIMENT.csv, one row per run and epoch; EXPERIMENT_runs.csv, one
row per run: its labels, the configuration it was trained with, its summary
(best accuracy, divergence, convergence, times, dead units: constant on every
sample, and exactly zero on every sample).
"""

import json
import logging
import math
import sys
import types
from pathlib import Path

import pandas as pd

from linked_neurons_core import metrics as run_summary
from linked_neurons_core.analysis import runs as run_rows
from linked_neurons_core.io import DamagedFileError
from linked_neurons_core.io import atomic_write_text
from linked_neurons_core.io import read_json
from linked_neurons_core.metrics import TAGS
from linked_neurons_core.table import config_digest

#: What a table says of the configuration its runs were trained with.
CONFIG_KEYS = ("activation", "normalization", "width_multiplier", "width_scale", "filters",
               "input_offset", "optimizer.name", "optimizer.learning_rate", "lr_boundaries",
               "epochs", "batch_size", "dataset", "image_size", "augment", "architecture",
               "protocol", "early_stopping", "selection")
SUMMARY_KEYS = ("test_accuracy", "best_test_accuracy", "test_correct",
                "best_val_accuracy", "final_val_accuracy", "best_epoch", "epochs_run",
                "median_epoch_seconds", "train_seconds", "wall_seconds", "params", "diverged",
                "diverged_epoch", "stopped_early", "device", "device_exclusive", "group_mode")

log = logging.getLogger("extract")


class ExtractionError(RuntimeError):
    pass


def _events(run_dir):
    from tbparse import SummaryReader

    df = SummaryReader(str(run_dir)).scalars
    if df.empty:
        raise ExtractionError("no scalar events")
    df = df[df["tag"].str.startswith("epoch/")].copy()
    df["tag"] = df["tag"].str.removeprefix("epoch/")
    wide = df.pivot_table(index="step", columns="tag", values="value", aggfunc="last")
    wide = wide.reset_index().rename(columns={"step": "epoch"}).rename_axis(columns=None)
    missing = set(TAGS) - set(wide.columns)
    if missing:
        raise ExtractionError(f"missing tags {sorted(missing)}")
    return wide[["epoch", *TAGS]]


def _agrees(events, history):
    if len(events) != len(history):
        return False
    for (_, row), record in zip(events.iterrows(), history):
        for tag in ("loss", "val_accuracy"):
            a, b = row[tag], record[tag]
            if not (math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7) or (math.isnan(a) and math.isnan(b))):
                return False
    return True


def _rerun(metrics_file):
    return f"rerun it: snakemake --cores all --forcerun {metrics_file}"


def extract_run(metrics_file, ids=None):
    """(epochs DataFrame, run summary dict) of one run directory, labelled
    with `ids` (experiment, variant, seed), by default the run's own."""
    run_dir = Path(metrics_file).parent
    name = f"run {run_dir}"
    try:
        metrics = read_json(metrics_file, name)
        history = metrics["history"]
        problem = None
    except (OSError, ValueError, KeyError) as error:
        metrics, history = None, None
        problem = str(error) if isinstance(error, DamagedFileError) else \
            f"{name}: {metrics_file} is unreadable ({error})"
    try:
        epochs = _events(run_dir)
        if history is not None and not _agrees(epochs, history):
            raise ExtractionError("its events disagree with metrics.json (truncated?)")
    except Exception as error:  # tbparse and TensorBoard raise many kinds
        if history is None:
            raise ExtractionError(
                f"{problem}; its event files are unreadable too ({error}); {_rerun(metrics_file)}"
            ) from None
        log.warning("%s: event files unusable (%s); using metrics.json's history", name, error)
        epochs = pd.DataFrame(history)[["epoch", *TAGS]]
    if metrics is None:
        raise ExtractionError(f"{problem}; {_rerun(metrics_file)}")
    try:
        config = read_json(run_dir / "config.json", name)
    except (OSError, ValueError) as error:
        raise ExtractionError(f"{error}; {_rerun(metrics_file)}") from None
    ids = dict(zip(("experiment", "variant", "seed"),
                   ids or (metrics["experiment"], metrics["variant"], metrics["seed"])))
    epochs = epochs.assign(**ids)[["experiment", "variant", "seed", "epoch", *TAGS]]
    summary = {**ids, "run": str(run_dir), "config_digest": config_digest(config)}
    for key in CONFIG_KEYS:
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        summary[key] = json.dumps(node) if isinstance(node, (list, dict)) else node
    for key in SUMMARY_KEYS:
        summary[key] = metrics.get(key)
    # The status by today's criterion code, from the run's history and its
    # criterion: an edit of metrics.convergence re-extracts (the rule's
    # ANALYSIS_DIGEST) and never retrains. A metrics.json without a history
    # keeps the status it was written with.
    if metrics.get("history") and config.get("convergence"):
        convergence = run_summary.convergence(metrics["history"], config["convergence"])
    else:
        convergence = metrics.get("convergence") or {}
    summary["converged"] = convergence.get("converged")
    summary["convergence"] = convergence.get("reason")
    summary["status"] = convergence.get("status") or run_rows.status(
        {"diverged": metrics.get("diverged"), "converged": convergence.get("converged")})
    # Per layer, the fraction of its units that are dead (constant on every
    # sample, `dead`) and exactly zero on every sample (`zero`). A metrics.json
    # from before the zero count (its `dead` counted exact zeros; the pipeline
    # retrains such runs, their code changed) leaves the zero columns empty.
    dead = metrics.get("dead_units") or {}
    summary["dead_units"] = sum(d["dead"] for d in dead.values())
    summary["dead_layers"] = sum(d["dead"] > 0 for d in dead.values())
    summary["dead_per_layer"] = json.dumps([d["dead"] / d["units"] for d in dead.values()])
    counted = all("zero" in d for d in dead.values())
    summary["zero_units"] = sum(d["zero"] for d in dead.values()) if counted else None
    summary["zero_layers"] = sum(d["zero"] > 0 for d in dead.values()) if counted else None
    summary["zero_per_layer"] = json.dumps([d["zero"] / d["units"] for d in dead.values()]
                                           if counted else None)
    return epochs, summary


def extract(metrics_files, epochs_csv, runs_csv, ids=None):
    ids = ids or [None] * len(metrics_files)
    epochs, runs = zip(*(extract_run(f, i) for f, i in zip(metrics_files, ids)))
    atomic_write_text(epochs_csv, pd.concat(epochs, ignore_index=True).to_csv(index=False))
    atomic_write_text(runs_csv, pd.DataFrame(runs).to_csv(index=False))


if __name__ == "__main__" and "snakemake" in globals():
    # Reading scalars needs no TensorFlow; tbparse and TensorBoard import it
    # whenever installed (1.6 s) unless it is marked absent, and TensorBoard
    # has its own switch to its stub.
    sys.modules.setdefault("tensorflow", None)
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
    import logs

    logs.setup(snakemake)  # noqa: F821
    try:
        extract(snakemake.input.metrics, snakemake.output.epochs, snakemake.output.runs,  # noqa: F821
                snakemake.params.ids)  # noqa: F821
    except ExtractionError as error:
        log.error("%s", error)
        sys.exit(1)
