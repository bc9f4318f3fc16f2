"""Extract an experiment's TensorBoard event files into tidy pandas tables.

Each run's events are read with tbparse (TensorBoard's own event reader) and
checked against its metrics.json. A run whose events are unreadable, truncated
or disagree with metrics.json falls back to the per-epoch history that
metrics.json holds, with a warning; a run with neither fails, naming it.
"""

import json
import logging
import math
import sys
import types
from pathlib import Path

import pandas as pd

TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")
CONFIG_KEYS = ("activation", "normalization", "width_multiplier", "filters", "input_offset",
               "optimizer.learning_rate", "lr_boundaries", "epochs", "dataset", "architecture")

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


def extract_run(metrics_file, ids=None):
    """(epochs DataFrame, run summary dict) of one run directory, labelled
    with `ids` (experiment, variant, seed), by default the run's own."""
    run_dir = Path(metrics_file).parent
    try:
        metrics = json.loads(Path(metrics_file).read_text())
        history = metrics["history"]
    except (OSError, ValueError, KeyError) as error:
        metrics, history = None, None
        metrics_problem = f"{metrics_file} is unreadable ({error})"
    try:
        epochs = _events(run_dir)
        if history is not None and not _agrees(epochs, history):
            raise ExtractionError("its events disagree with metrics.json (truncated?)")
    except Exception as error:  # tbparse and TensorBoard raise many kinds
        if history is None:
            raise ExtractionError(
                f"run {run_dir}: event files unreadable ({error}) and {metrics_problem}; "
                f"rerun it: snakemake --cores all --forcerun {metrics_file}"
            ) from None
        log.warning("run %s: event files unusable (%s); using metrics.json's history", run_dir, error)
        epochs = pd.DataFrame(history)[["epoch", *TAGS]]
    if metrics is None:
        raise ExtractionError(
            f"run {run_dir}: {metrics_problem}; rerun it: "
            f"snakemake --cores all --forcerun {metrics_file}"
        )
    config = json.loads((run_dir / "config.json").read_text())
    ids = dict(zip(("experiment", "variant", "seed"),
                   ids or (metrics["experiment"], metrics["variant"], metrics["seed"])))
    epochs = epochs.assign(**ids)[["experiment", "variant", "seed", "epoch", *TAGS]]
    summary = {**ids, "run": str(run_dir)}  # a run shared by two experiments: one directory
    for key in CONFIG_KEYS:
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        summary[key] = json.dumps(node) if isinstance(node, list) else node
    for key in ("best_val_accuracy", "final_val_accuracy", "best_epoch", "epochs_run",
                "median_epoch_seconds", "train_seconds", "params", "diverged"):
        summary[key] = metrics[key]
    dead = metrics.get("dead_units") or {}
    summary["dead_units"] = sum(d["dead"] for d in dead.values())
    summary["dead_layers"] = sum(d["dead"] > 0 for d in dead.values())
    summary["dead_per_layer"] = json.dumps([d["dead"] / d["units"] for d in dead.values()])
    return epochs, summary


def extract(metrics_files, epochs_csv, runs_csv, ids=None):
    ids = ids or [None] * len(metrics_files)
    epochs, runs = zip(*(extract_run(f, i) for f, i in zip(metrics_files, ids)))
    Path(epochs_csv).parent.mkdir(parents=True, exist_ok=True)
    for frame, path in ((pd.concat(epochs, ignore_index=True), epochs_csv),
                        (pd.DataFrame(runs), runs_csv)):
        tmp = Path(path).with_suffix(".tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)


if __name__ == "__main__" and "snakemake" in globals():
    # Reading scalars needs no TensorFlow; tbparse and TensorBoard import it
    # whenever installed (1.6 s) unless it is marked absent, and TensorBoard
    # has its own switch to its stub.
    sys.modules.setdefault("tensorflow", None)
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    try:
        extract(snakemake.input.metrics, snakemake.output.epochs, snakemake.output.runs,  # noqa: F821
                snakemake.params.ids)  # noqa: F821
    except ExtractionError as error:
        log.error("%s", error)
        sys.exit(1)
