"""The article's tables, aggregated from the per-run tables as PROTOCOL.md says.

Each table is built by the function its experiment's layout names (`kind`,
linked_neurons_core/analysis/names.py); it returns a grid of cells, each with the
reproduced statistics of a unit (units.py) and, where the paper has one, the
published value.
"""

import math
from pathlib import Path

import pandas as pd

from linked_neurons_core.analysis import intervals
from linked_neurons_core.analysis import names as naming
from linked_neurons_core.analysis import runs as run_rows
from linked_neurons_core.analysis.units import cell
from linked_neurons_core.analysis.units import stats
from linked_neurons_core.analysis.units import times
from linked_neurons_core.analysis.units import units


class LayoutError(ValueError):
    """An experiment's runs do not fit its layout's table."""


def _pub(published, experiment, unit):
    if published is None or not len(published):
        return None
    sel = published[(published["experiment"] == experiment) & (published["variant"] == unit)]
    return float(sel["best_val_accuracy"].iloc[0]) if len(sel) else None


def _select(runs, **where):
    sel = runs
    for key, value in where.items():
        sel = sel[sel[key] == value]
    return sel


def _row_label(layout, key, value):
    return layout.get("row_label", f"{{{key}}}").format(**{key: naming.whole(value)})


def table_grid(experiment, runs, published):
    """One column an activation; one row a value of `rows` (or one row)."""
    names = naming.names()
    layout = names.layout(experiment)
    key = layout.get("rows")
    columns = names.columns(runs)

    def cells(rows):
        # A cell: the runs of its row and activation, one variant's.
        out = []
        for a in columns:
            sel = _select(rows, activation=a)
            variants = list(dict.fromkeys(sel["variant"]))
            if len(variants) > 1:  # pooled, their seeds would read as one unit's
                where = "" if key is None else f" {key}={naming.whole(sel[key].iloc[0])}"
                raise LayoutError(
                    f"{experiment}: the grid's cell{where} activation={a} holds variants "
                    f"{', '.join(variants)}: a grid cell is one variant; give the layout a `rows` "
                    f"key that tells them apart, or use `layout: {{kind: variants}}`")
            out.append(cell(sel, _pub(published, experiment, variants[0] if variants else None)))
        return out

    if key is None:
        table_rows = [{"label": layout.get("row_label", "Accuracy"), "cells": cells(runs)}]
    else:
        table_rows = [{"label": _row_label(layout, key, value), "cells": cells(_select(runs, **{key: value}))}
                      for value in sorted(runs[key].dropna().unique())]
    return {"columns": [names.label(a) for a in columns], "corner": layout.get("corner", ""),
            "rows": table_rows}


def table_max_median(experiment, runs, published):
    """One row a variant: its best run and its median."""
    names = naming.names()
    rows = []
    for variant, group in units(experiment, runs).items():
        median = cell(group, _pub(published, experiment, variant))
        best = dict(median, median=median["high"], low=None, high=None, published=None,
                    best_over_epochs=None)
        rows.append({"label": names.variant_label(experiment, variant, latex=True),
                     "cells": [best, median]})
    return {"columns": ["Max", "Median"], "corner": "Variant", "rows": rows}


def _linking_units(base):
    linked = naming.names().linked_of(base)
    return (("single", base), ("sqrt2", f"{base}_sqrt2"), ("linked", linked))


def table_linking(experiment, runs, published):
    """One row a single activation: single, sqrt2-wide, linked; and their parameters."""
    names = naming.names()
    found = units(experiment, runs)
    empty = runs.iloc[0:0]
    bases = [b for b in names.vocab.bases() if any(u in found for _, u in _linking_units(b))]
    return {
        "columns": ["Single", r"$\sqrt{2}$", "Linked"], "corner": "Activation",
        "rows": [{"label": names.label(b), "cells": [
            cell(found.get(u, empty), _pub(published, experiment, u)) for _, u in _linking_units(b)]}
            for b in bases],
        "params": [{"label": names.label(b), "cells": [
            int(found[u]["params"].iloc[0]) if u in found else None for _, u in _linking_units(b)]}
            for b in bases],
    }


def table_best_policy(experiment, runs, published):
    """One column an activation: its best policy's cell, then one row a policy."""
    names = naming.names()
    best = units(experiment, runs)
    empty = runs.iloc[0:0]
    columns = names.columns(runs)
    table = {"columns": [names.label(a) for a in columns], "corner": "", "rows": [
        {"label": "Best policy", "cells": [cell(best.get(a, empty), _pub(published, experiment, a))
                                           for a in columns]}]}
    for policy in sorted({v.rpartition("_")[2] for v in runs["variant"]}):
        table["rows"].append({"label": policy.replace("_", r"\_"), "cells": [
            cell(_select(runs, variant=f"{a}_{policy}")) for a in columns]})
    return table


def time_ratios(experiment, runs):
    """Each unit's whole training wall time over the layout's `reference`'s,
    paired by seed (intervals.ratio, the figure the claims judge): the
    estimate with its 95% interval (none from fewer than two pairs), and
    whether every run had its device to itself."""
    found = units(experiment, runs)
    ref = found.get(naming.names().layout(experiment).get("reference"))
    reference = times(ref) if ref is not None else None
    out = {}
    for unit, rows in found.items():
        # The unit's runs (seeds, diverged, not converged) with the ratio as its value.
        own = stats(rows, "wall_seconds")
        judged = intervals.ratio(times(rows), reference) if reference is not None else None
        if judged is None:
            continue
        estimate, low, high = (None if pd.isna(v) else v for v in judged)
        exclusive = bool(pd.concat([rows, ref])["device_exclusive"].map(run_rows.flag).all())
        out[unit] = {**own, "median": estimate, "low": low, "high": high, "values": [estimate],
                     "exclusive": exclusive, "published": None}
    return out


def table_timed(experiment, runs, published):
    """One column a variant: its accuracy and its time over the reference's."""
    names = naming.names()
    found = units(experiment, runs)
    variants = list(found)
    ratios = time_ratios(experiment, runs)
    pub = published[published["experiment"] == experiment] if published is not None and \
        len(published) else None
    if pub is not None:  # a variant the paper has and this build does not: an empty column
        variants += [v for v in pub["variant"] if v not in found]
    empty = runs.iloc[0:0]
    ratio_cells = []
    for variant in variants:
        ratio = ratios.get(variant) or cell(empty)
        if pub is not None and variant in set(pub["variant"]):
            ratio = dict(ratio, published=float(pub.set_index("variant").loc[variant, "wall_seconds"]))
        ratio_cells.append(ratio)
    devices = sorted(set(runs["device"].dropna())) if "device" in runs else []
    return {
        "columns": [names.variant_label(experiment, v) for v in variants], "corner": "",
        "beyond": [names.beyond(experiment, v) for v in variants],
        "rows": [
            {"label": "Accuracy", "cells": [cell(found.get(v, empty), _pub(published, experiment, v))
                                            for v in variants]},
            {"label": "Time ratio", "ratio": True, "cells": ratio_cells},
        ],
        "devices": devices,
        "shared_device": not all(r.get("exclusive", True) for r in ratios.values()),
    }


def table_variants(experiment, runs, published):
    """One row a variant, in the experiment table's order (a user's experiment)."""
    return {"columns": ["Accuracy"], "corner": "Variant",
            "rows": [{"label": variant.replace("_", r"\_"), "cells": [cell(rows)]}
                     for variant, rows in units(experiment, runs).items()]}


#: layout kind -> the function that builds its table.
TABLES = {
    "variants": table_variants,
    "grid": table_grid,
    "max_median": table_max_median,
    "linking": table_linking,
    "best_policy": table_best_policy,
    "timed": table_timed,
}


def table_builder(experiment):
    """The function that builds an experiment's table (by its layout's kind)."""
    return TABLES[naming.names().kind(experiment)]


def trained_with(runs):
    """What the table's caption says of the runs' configuration: each key's
    values over the runs, as trained (from their config.json)."""
    out = {}
    for key in ("dataset", "epochs", "image_size", "width_scale", "batch_size", "augment",
                "early_stopping", "protocol", "selection"):
        if key in runs:
            values = sorted({v for v in runs[key] if not (isinstance(v, float) and math.isnan(v))},
                            key=str)
            out[key] = values
    out["seeds"] = sorted({int(s) for s in runs["seed"]})
    out["epochs_run"] = [int(runs["epochs_run"].min()), int(runs["epochs_run"].max())]
    out["stopped_early"] = int(runs["stopped_early"].map(run_rows.flag).sum()) \
        if "stopped_early" in runs else 0
    return out


def aggregate(experiment, runs, published):
    table = table_builder(experiment)(experiment, runs, published)
    cells = [c for row in table["rows"] for c in row["cells"]]
    table["diverged"] = [
        f"{r['variant']} seed {int(r['seed'])}"
        + ("" if pd.isna(r.get("diverged_epoch")) else f" (epoch {int(r['diverged_epoch'])})")
        for _, r in runs[runs["diverged"].map(run_rows.flag)].iterrows()]
    # Runs, not cells: a run is in two cells of some layouts (Max and Median,
    # Accuracy and Time ratio, a best policy and its own row).
    table["not_converged"] = len(stats(runs)["not_converged"])
    table["published"] = any(c.get("published") is not None for c in cells)
    table["trained_with"] = trained_with(runs)
    return table


def load_runs(tables_dir, experiments):
    """{experiment: per-run table} of the experiments whose tables exist."""
    out = {}
    for experiment in experiments:
        path = Path(tables_dir) / f"{experiment}_runs.csv"
        if path.exists():
            out[experiment] = pd.read_csv(path)
    return out
