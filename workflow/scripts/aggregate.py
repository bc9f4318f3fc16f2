"""The article's tables, aggregated from the per-run tables as PROTOCOL.md says.

A table cell is a *unit*: a variant's runs, one per seed (for All-CNN, an
activation's runs under the learning-rate policy of the best validation
accuracy). `stats` summarizes a unit: the median of the runs' test accuracy
at the epoch validation chose, with its range over seeds (min to max), the
median of their best test accuracy over epochs (the paper's measure, which
chooses on the set it reports), the runs that diverged (they do not count:
their accuracy was computed with weights that are not numbers) and the runs
that had not converged. The claims (claims.py) judge the same units.

Each table is built by the function the registry TABLES names for its
experiment; it returns a grid of cells, each with the reproduced statistics
and, where the paper has one, the published value.
"""

import json
import math
from pathlib import Path

import pandas as pd

from linked_neurons.analysis import intervals
from linked_neurons.analysis import runs as run_rows
from linked_neurons_core.vocabulary import Vocabulary

#: The activations' labels, links and order: the experiment table's
#: `activations` (`use_table` reads another table's).
VOCAB = Vocabulary.from_table()


def use_table(path):
    """Name activations as the table at `path` does (the pipeline's `table`)."""
    global VOCAB
    VOCAB = Vocabulary.from_table(path)


def columns(runs):
    """The activations of a table's runs, in the experiment table's order:
    the columns of a table by activation."""
    return VOCAB.ordered(runs["activation"].dropna().unique()) if len(runs) else []

NOBN = ["lkrelu_batchnorm", "lkrelu_none", "selu_batchnorm", "selu_none", "lkselu_batchnorm",
        "lkselu_none"]
NOBN_BEYOND = ["lkselu_nobnall"]  # beyond the paper


class MissingRunError(RuntimeError):
    pass


def check_complete(runs, expected):
    """Raise naming the first (experiment, variant, seed) of `expected` absent from `runs`."""
    have = set(zip(runs["variant"], runs["seed"].astype(int)))
    for experiment, variant, seed in expected:
        if (variant, int(seed)) not in have:
            raise MissingRunError(
                f"{experiment}: run {variant} seed {seed} is missing from the results; "
                f"train it: snakemake --cores all {experiment}"
            )


def stats(rows, key="test_accuracy"):
    """A unit's summary over its runs (one per seed)."""
    rows = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    diverged = rows[rows["diverged"].map(run_rows.flag)] if len(rows) else rows
    counted = rows.drop(diverged.index)
    values = counted[key].dropna().astype(float) if len(counted) else pd.Series(dtype=float)
    converged = pd.Series([run_rows.converged(r) for _, r in rows.iterrows()], index=rows.index, dtype=bool) \
        if "converged" in rows or "status" in rows else pd.Series(True, index=rows.index)
    best = counted["best_test_accuracy"].dropna().astype(float) \
        if key == "test_accuracy" and "best_test_accuracy" in counted and len(counted) \
        else pd.Series(dtype=float)
    return {
        "median": float(values.median()) if len(values) else None,
        "low": float(values.min()) if len(values) else None,
        "high": float(values.max()) if len(values) else None,
        "values": [float(v) for v in values],
        # The paper's measure: the best test accuracy over the epochs.
        "best_over_epochs": float(best.median()) if len(best) else None,
        "n": int(len(rows)),
        "seeds": [int(s) for s in rows["seed"]] if "seed" in rows else [],
        "diverged": [{"seed": int(r["seed"]), "epoch": None if pd.isna(r.get("diverged_epoch"))
                      else int(r["diverged_epoch"])} for _, r in diverged.iterrows()],
        "not_converged": [int(r["seed"]) for i, r in rows.iterrows()
                          if i not in diverged.index and not converged[i]],
        "runs": sorted(set(rows["run"])) if "run" in rows else [],
    }


def units(experiment, runs):
    """{unit: its runs} of an experiment's per-run table."""
    if experiment != "allcnn":
        return {variant: group for variant, group in runs.groupby("variant", sort=False)}
    out = {}
    for activation, group in runs.groupby("activation", sort=False):
        policies = {v: g for v, g in group.groupby("variant", sort=False)}
        # Chosen on validation, as everything that chooses.
        best = max(policies, key=lambda v: _median_or(policies[v], -1.0, "best_val_accuracy"))
        out[activation] = policies[best]
    return out


def _median_or(rows, default, key="test_accuracy"):
    value = stats(rows, key)["median"]
    return default if value is None else value


class PublishedValueError(ValueError):
    """A cell of paper/published/*.csv that cannot be read; `str()` is one
    line naming the file, the line, the column and the fix."""


class _Published:
    """One published CSV, read as text, whose cells are converted where they
    are used, so that a bad one is named by file, line and column."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.frame = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
            message = " ".join(str(error).split())[:200]
            raise PublishedValueError(f"{self.path}: not a CSV table ({message}): compare it "
                                      "with the repository's copy") from None

    def rows(self):
        """(line in the file, row) of each data row (the header is line 1)."""
        return [(index + 2, row) for index, row in self.frame.iterrows()]

    def cell(self, line, row, column):
        if column not in row.index:
            raise PublishedValueError(
                f"{self.path}: no column {column!r} (it has {', '.join(self.frame.columns)}): "
                "restore the published table's header")
        return row[column]

    def number(self, line, row, column, empty_ok=True):
        """The cell as a float; None if empty (a value the paper does not give)."""
        text = self.cell(line, row, column).strip()
        if not text and empty_ok:
            return None
        try:
            return float(text)
        except ValueError:
            raise PublishedValueError(
                f"{self.path}, line {line}, column {column!r}: {text[:60]!r} is not a number: "
                "write the published value as a decimal, e.g. 0.9301, or leave it empty"
            ) from None

    def activation_columns(self, names, fixed=()):
        """{label: activation} of the header's columns but `fixed`: each must
        be the label of one of the table's activations. An activation the
        paper did not run has no column."""
        out = {}
        for column in self.frame.columns:
            if column in fixed:
                continue
            if column not in names:
                raise PublishedValueError(
                    f"{self.path}: column {column!r} is no activation's label (the table's: "
                    f"{', '.join(names)}): restore the published table's header")
            out[column] = names[column]
        return out

    def label(self, line, column, text, names):
        """`text`, of the cell at `line` and `column`, as one of `names`' keys
        (a published label), mapped."""
        if text not in names:
            raise PublishedValueError(
                f"{self.path}, line {line}, column {column!r}: unknown label {text[:60]!r}: "
                f"use one of {', '.join(names)}")
        return names[text]


def read_published(published_dir):
    """`published_runs` for a rule's script: a bad cell is one error line in
    the rule's log (file, line, column and the fix) and exit status 1."""
    import logging
    import sys

    try:
        return published_runs(published_dir)
    except PublishedValueError as error:
        logging.getLogger("published").error("%s", error)
        sys.exit(1)


def published_runs(published_dir):
    """The published values as a per-run table of one 'seed' each (seed -1):
    the same units as this build's, so that one piece of code judges both.
    A bad cell raises PublishedValueError naming its file, line and column."""
    published_dir = Path(published_dir)
    rows = []

    def add(experiment, unit, accuracy, **more):
        if accuracy is not None and not pd.isna(accuracy):
            rows.append({"experiment": experiment, "variant": unit, "activation": unit, "seed": -1,
                         "best_val_accuracy": float(accuracy), "diverged": False,
                         "converged": True, "run": f"published/{experiment}", **more})

    def read(name):
        path = published_dir / f"{name}.csv"
        return _Published(path) if path.exists() else None

    names = {label: key for key, label in VOCAB.labels().items()}
    if (pub := read("width")) is not None:
        for line, row in pub.rows():
            width = pub.number(line, row, "width", empty_ok=False)
            for label, key in pub.activation_columns(names, fixed=("width",)).items():
                add("width", f"w{int(width)}_{key}", pub.number(line, row, label))
    if (pub := read("depth")) is not None:
        units = {**names, "BN": "bn"}
        for line, row in pub.rows():
            base, _, suffix = pub.cell(line, row, "variant").strip().partition(" ")
            unit = pub.label(line, "variant", base, units)
            if suffix and unit != "bn":
                unit += "_sqrt2"
            add("depth", unit, pub.number(line, row, "median"))
    if (pub := read("extended")) is not None:
        for line, row in pub.rows():
            key = pub.label(line, "activation", pub.cell(line, row, "activation").strip(), names)
            add("extended", key, pub.number(line, row, "single"))
            add("extended", f"{key}_sqrt2", pub.number(line, row, "sqrt2"))
            add("extended", f"lk{key}", pub.number(line, row, "linked"))
    for experiment in ("allcnn", "resnet50"):
        if (pub := read(experiment)) is not None:
            line, row = pub.rows()[0]
            for label, key in pub.activation_columns(names).items():
                add(experiment, key, pub.number(line, row, label))
    if (pub := read("resnet50_nobatchnorm")) is not None:
        by_row = {}
        for line, row in pub.rows():
            by_row.setdefault(pub.cell(line, row, "row").strip(), (line, row))
        for needed in ("accuracy", "time_ratio"):
            if needed not in by_row:
                raise PublishedValueError(f"{pub.path}: no row {needed!r} in column 'row': "
                                          "restore the published table's rows")
        for variant, label in zip(NOBN, _nobn_labels(NOBN)):
            ratio = pub.number(*by_row["time_ratio"], label)
            add("resnet50_nobn", variant, pub.number(*by_row["accuracy"], label),
                wall_seconds=ratio, device_exclusive=True)
    return pd.DataFrame(rows)


def nobn_label(variant):
    """A variant of Table 6 as the paper's header names it ("LK-ReLU No BN"),
    in the table, its published CSV and the claims alike."""
    activation, _, normalization = variant.partition("_")
    return (f"{VOCAB.label(activation)} "
            + {"batchnorm": "BN", "none": "No BN", "nobnall": "no BN at all"}[normalization])


def _nobn_labels(variants):
    return [nobn_label(variant) for variant in variants]


def cell(rows, published=None, key="test_accuracy"):
    """One table cell: a unit's statistics and the published value."""
    return {**stats(rows, key), "published": published}


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


def table_width(runs, published):
    rows = []
    for width in sorted(runs["filters"].dropna().unique()):
        rows.append({"label": f"W = {int(width)}", "cells": [
            cell(_select(runs, filters=width, activation=a), _pub(published, "width", f"w{int(width)}_{a}"))
            for a in columns(runs)]})
    return {"columns": [VOCAB.label(a) for a in columns(runs)], "corner": "Width", "rows": rows}


def depth_label(variant):
    if variant in ("bn", "brn"):
        return variant.upper() + (" (beyond the paper)" if variant == "brn" else "")
    base, _, suffix = variant.partition("_")
    return VOCAB.label(base) + (r" $\sqrt{2}$" if suffix == "sqrt2" else "")


def table_depth(runs, published):
    rows = []
    for variant, group in units("depth", runs).items():
        median = cell(group, _pub(published, "depth", variant))
        best = dict(median, median=median["high"], low=None, high=None, published=None,
                    best_over_epochs=None)
        rows.append({"label": depth_label(variant), "cells": [best, median]})
    return {"columns": ["Max", "Median"], "corner": "Variant", "rows": rows}


def _extended_units(base):
    linked = next(a for a in VOCAB.names if VOCAB.is_linked(a) and VOCAB.base(a) == base)
    return (("single", base), ("sqrt2", f"{base}_sqrt2"), ("linked", linked))


def table_extended(runs, published):
    found = units("extended", runs)
    empty = runs.iloc[0:0]
    bases = [b for b in VOCAB.bases() if any(u in found for _, u in _extended_units(b))]
    return {
        "columns": ["Single", r"$\sqrt{2}$", "Linked"], "corner": "Activation",
        "rows": [{"label": VOCAB.label(b), "cells": [
            cell(found.get(u, empty), _pub(published, "extended", u)) for _, u in _extended_units(b)]}
            for b in bases],
        "params": [{"label": VOCAB.label(b), "cells": [
            int(found[u]["params"].iloc[0]) if u in found else None for _, u in _extended_units(b)]}
            for b in bases],
    }


def table_allcnn(runs, published):
    best = units("allcnn", runs)
    empty = runs.iloc[0:0]
    table = {"columns": [VOCAB.label(a) for a in columns(runs)], "corner": "", "rows": [
        {"label": "Best policy", "cells": [cell(best.get(a, empty), _pub(published, "allcnn", a))
                                           for a in columns(runs)]}]}
    for policy in sorted({v.rpartition("_")[2] for v in runs["variant"]}):
        table["rows"].append({"label": policy.replace("_", r"\_"), "cells": [
            cell(_select(runs, variant=f"{a}_{policy}")) for a in columns(runs)]})
    return table


def table_resnet50(runs, published):
    found = units("resnet50", runs)
    empty = runs.iloc[0:0]
    return {"columns": [VOCAB.label(a) for a in columns(runs)], "corner": "",
            "rows": [{"label": "Accuracy", "cells": [
                cell(found.get(a, empty), _pub(published, "resnet50", a)) for a in columns(runs)]}]}


def time_ratios(runs, reference="lkrelu_none"):
    """Each unit's whole training wall time over the reference's: the ratio of
    their mean times with its 95% interval (intervals.ratio, the figure the
    claims judge), and whether every run had its device to itself."""
    found = units("resnet50_nobn", runs)
    ref = found.get(reference)
    out = {}
    for unit, rows in found.items():
        if ref is None:
            continue
        a, b = stats(rows, "wall_seconds"), stats(ref, "wall_seconds")
        if not a["values"] or not b["values"]:
            continue
        estimate, low, high = intervals.ratio(a["values"], b["values"])
        exclusive = bool(pd.concat([rows, ref])["device_exclusive"].map(run_rows.flag).all())
        out[unit] = {**a, "median": estimate, "low": low, "high": high, "values": [estimate],
                     "exclusive": exclusive, "published": None}
    return out


def table_resnet50_nobn(runs, published):
    found = units("resnet50_nobn", runs)
    variants = [v for v in NOBN + NOBN_BEYOND if v in found or v in NOBN]
    ratios = time_ratios(runs)
    pub = published[published["experiment"] == "resnet50_nobn"] if published is not None and \
        len(published) else None
    empty = runs.iloc[0:0]
    ratio_cells = []
    for variant in variants:
        ratio = ratios.get(variant) or cell(empty)
        if pub is not None and variant in set(pub["variant"]):
            ratio = dict(ratio, published=float(pub.set_index("variant").loc[variant, "wall_seconds"]))
        ratio_cells.append(ratio)
    devices = sorted(set(runs["device"].dropna())) if "device" in runs else []
    return {
        "columns": _nobn_labels(variants), "corner": "",
        "beyond": [v in NOBN_BEYOND for v in variants],
        "rows": [
            {"label": "Accuracy", "cells": [cell(found.get(v, empty), _pub(published, "resnet50_nobn", v))
                                            for v in variants]},
            {"label": "Time ratio", "ratio": True, "cells": ratio_cells},
        ],
        "devices": devices,
        "shared_device": not all(r.get("exclusive", True) for r in ratios.values()),
    }


def table_input_shift(runs, published):
    return {
        "columns": [VOCAB.label(a) for a in columns(runs)], "corner": "Offset",
        "rows": [{"label": f"+{int(o)}" if o == int(o) else f"+{o}",
                  "cells": [cell(_select(runs, activation=a, input_offset=o)) for a in columns(runs)]}
                 for o in sorted(runs["input_offset"].unique())],
    }


def table_variants(runs, published):
    """The table of an experiment the paper does not have (a user's): one row
    a variant, in the experiment table's order."""
    return {"columns": ["Accuracy"], "corner": "Variant",
            "rows": [{"label": variant.replace("_", r"\_"), "cells": [cell(rows)]}
                     for variant, rows in units(None, runs).items()]}


def table_builder(experiment):
    """The function that builds an experiment's table (TABLES, else table_variants)."""
    return TABLES.get(experiment, table_variants)


#: experiment -> the function that builds its table.
TABLES = {
    "width": table_width,
    "depth": table_depth,
    "extended": table_extended,
    "allcnn": table_allcnn,
    "resnet50": table_resnet50,
    "resnet50_nobn": table_resnet50_nobn,
    "input_shift": table_input_shift,
}


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
    table = table_builder(experiment)(runs, published)
    cells = [c for row in table["rows"] for c in row["cells"]]
    table["diverged"] = [
        f"{r['variant']} seed {int(r['seed'])}"
        + ("" if pd.isna(r.get("diverged_epoch")) else f" (epoch {int(r['diverged_epoch'])})")
        for _, r in runs[runs["diverged"].map(run_rows.flag)].iterrows()]
    table["not_converged"] = int(sum(len(c.get("not_converged", [])) for c in cells))
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


def numbers(runs_by_experiment):
    """Every number the article's prose states, each with the runs it comes
    from: {name: {"value": v, "runs": [run directories]}} (numbers.json)."""
    n = {}

    def put(name, unit_stats):
        n[name] = {"value": unit_stats["median"], "low": unit_stats["low"],
                   "high": unit_stats["high"], "diverged": len(unit_stats["diverged"]),
                   "not_converged": len(unit_stats["not_converged"]),
                   "runs": unit_stats["runs"], "seeds": unit_stats["seeds"]}

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
    if "depth" in runs_by_experiment:
        depth = runs_by_experiment["depth"]
        for variant, rows in units("depth", depth).items():
            put(f"depth.{variant}", stats(rows))
        layers = max(len(json.loads(d)) for d in depth["dead_per_layer"])  # a diverged run: none
        n["depth.layers"] = {"value": layers, "runs": []}
        n["depth.filters"] = {"value": int(depth["filters"].iloc[0]), "runs": []}
        for variant in depth["variant"].unique():
            rows = depth[depth["variant"] == variant]
            if len(rows):
                firsts = [next((i + 1 for i, f in enumerate(json.loads(d)) if f > 0), None)
                          for d in rows["dead_per_layer"]]
                n[f"depth.{variant}.dead_layers"] = {
                    "value": float(rows["dead_layers"].median()), "runs": sorted(rows["run"])}
                found = [f for f in firsts if f is not None]
                n[f"depth.{variant}.first_dead"] = {"value": min(found) if found else None,
                                                    "runs": sorted(rows["run"])}
    if "input_shift" in runs_by_experiment:
        shift = runs_by_experiment["input_shift"]
        worst = shift[shift["input_offset"] == shift["input_offset"].max()]
        linked = worst["activation"].map(VOCAB.is_linked).astype(bool)
        n["shift.offset"] = {"value": float(shift["input_offset"].max()), "runs": []}
        put("shift.single", stats(worst[~linked]))
        put("shift.linked", stats(worst[linked]))
    return n
