"""Every number the article's prose states, each with the runs it comes from
(paper/numbers.json): {name: {"value": v, "runs": [run directories]}}.

Named by experiment, from its layout, never by a list in code:

- `runs`, `diverged`, `not_converged`, `train_minutes`: the whole build;
- `EXPERIMENT.UNIT`: a unit's median test accuracy, its range and its runs;
- `EXPERIMENT.layers`, `.filters`, `EXPERIMENT.VARIANT.dead_layers`,
  `.first_dead` (the first layer with a dead unit) and `.dead_from` (the
  earliest and latest run's layer from which every layer has one): where the
  runs probed their units per layer;
- `EXPERIMENT.last_row` (a grid's largest `rows` value) and
  `EXPERIMENT.last_row.single` / `.linked`: that row's single and linked
  activations' runs, pooled.
"""

import json

import pandas as pd

from linked_neurons_core.analysis import names as naming
from linked_neurons_core.analysis import runs as run_rows
from linked_neurons_core.analysis.units import dead_from
from linked_neurons_core.analysis.units import stats
from linked_neurons_core.analysis.units import units


def _put(n, name, unit_stats):
    n[name] = {"value": unit_stats["median"], "low": unit_stats["low"],
               "high": unit_stats["high"], "diverged": len(unit_stats["diverged"]),
               "not_converged": len(unit_stats["not_converged"]),
               "runs": unit_stats["runs"], "seeds": unit_stats["seeds"]}


def _build(n, runs_by_experiment):
    all_runs = pd.concat(runs_by_experiment.values()).drop_duplicates("run") \
        if runs_by_experiment else pd.DataFrame()
    n["runs"] = {"value": len(all_runs), "runs": sorted(all_runs["run"]) if len(all_runs) else []}
    diverged = all_runs[all_runs["diverged"].map(run_rows.flag)] if len(all_runs) else all_runs
    n["diverged"] = {"value": len(diverged), "runs": sorted(diverged["run"]) if len(diverged) else []}
    n["train_minutes"] = {"value": float(all_runs["train_seconds"].sum() / 60) if len(all_runs) else 0.0,
                          "runs": n["runs"]["runs"]}
    if len(all_runs) and ("converged" in all_runs or "status" in all_runs):
        unconverged = all_runs[~pd.Series([run_rows.converged(r) for _, r in all_runs.iterrows()],
                                          index=all_runs.index, dtype=bool)
                               & ~all_runs["diverged"].map(run_rows.flag)]
        n["not_converged"] = {"value": len(unconverged), "runs": sorted(unconverged["run"])}


def _dead_units(n, experiment, runs):
    probed = runs["dead_per_layer"].map(lambda d: isinstance(d, str)) if "dead_per_layer" in runs \
        else pd.Series(False, index=runs.index)
    if not len(runs) or not probed.all():
        return
    n[f"{experiment}.layers"] = {"value": max(len(json.loads(d)) for d in runs["dead_per_layer"]),
                                 "runs": []}
    if "filters" in runs and not pd.isna(runs["filters"].iloc[0]):
        n[f"{experiment}.filters"] = {"value": int(runs["filters"].iloc[0]), "runs": []}
    for variant in runs["variant"].unique():
        rows = runs[runs["variant"] == variant]
        firsts = [next((i + 1 for i, f in enumerate(json.loads(d)) if f > 0), None)
                  for d in rows["dead_per_layer"]]
        found = [f for f in firsts if f is not None]
        n[f"{experiment}.{variant}.dead_layers"] = {
            "value": float(rows["dead_layers"].median()), "runs": sorted(rows["run"])}
        n[f"{experiment}.{variant}.first_dead"] = {"value": min(found) if found else None,
                                                   "runs": sorted(rows["run"])}
        # From which layer on every layer has dead units, the earliest and the
        # latest over the runs (None unless every run has such a layer).
        onsets = [dead_from(json.loads(d)) for d in rows["dead_per_layer"]]
        n[f"{experiment}.{variant}.dead_from"] = {
            "value": [min(onsets), max(onsets)] if onsets and None not in onsets else None,
            "runs": sorted(rows["run"])}


def _last_row(n, experiment, runs):
    names = naming.names()
    key = names.layout(experiment).get("rows")
    if names.kind(experiment) != "grid" or not key or key not in runs or not len(runs):
        return
    last = runs[runs[key] == runs[key].max()]
    linked = last["activation"].map(names.vocab.is_linked).astype(bool)
    n[f"{experiment}.last_row"] = {"value": float(runs[key].max()), "runs": []}
    _put(n, f"{experiment}.last_row.single", stats(last[~linked]))
    _put(n, f"{experiment}.last_row.linked", stats(last[linked]))


def numbers(runs_by_experiment):
    """{name: {"value": v, "runs": [...], ...}} of the build's runs."""
    n = {}
    _build(n, runs_by_experiment)
    for experiment, runs in runs_by_experiment.items():
        for unit, rows in units(experiment, runs).items():
            _put(n, f"{experiment}.{unit}", stats(rows))
        _dead_units(n, experiment, runs)
        _last_row(n, experiment, runs)
    return n
