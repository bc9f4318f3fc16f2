"""The article's tables, aggregated from the per-run tables as PROTOCOL.md says.

Each `table_<experiment>(runs, published_dir)` returns a grid: a caption,
column labels and rows of cells, each cell holding the reproduced value and,
where the paper has one, the published value. Metric: a run's best
validation accuracy; over seeds the median (and the max for depth);
allcnn takes the best learning-rate policy.
"""

import json
from pathlib import Path

import pandas as pd

ACTIVATIONS = ["relu", "lkrelu", "prelu", "lkprelu", "selu", "lkselu", "swish", "lkswish"]
LABELS = {
    "relu": "ReLU", "lkrelu": "LK-ReLU", "prelu": "PReLU", "lkprelu": "LK-PReLU",
    "selu": "SELU", "lkselu": "LK-SELU", "swish": "Swish", "lkswish": "LK-Swish",
}
BASES = ["relu", "prelu", "selu", "swish"]


class MissingRunError(RuntimeError):
    pass


def check_complete(runs, expected):
    """Raise naming the first (variant, seed) of `expected` absent from `runs`."""
    have = set(zip(runs["variant"], runs["seed"].astype(int)))
    for variant, seed in expected:
        if (variant, int(seed)) not in have:
            experiment = runs["experiment"].iloc[0] if len(runs) else "?"
            raise MissingRunError(
                f"{experiment}: run {variant} seed {seed} is missing from the results; "
                f"train it: snakemake --cores all {experiment}"
            )


def cell(value, published=None):
    return {"value": None if pd.isna(value) else float(value),
            "published": None if published is None or pd.isna(published) else float(published)}


def _median(runs, **where):
    sel = runs
    for key, value in where.items():
        sel = sel[sel[key] == value]
    return sel["best_val_accuracy"].median() if len(sel) else float("nan")


def _published(published_dir, name):
    path = Path(published_dir) / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None


def table_width(runs, published_dir):
    pub = _published(published_dir, "width")
    rows = []
    for width in sorted(runs["filters"].dropna().unique()):
        p = pub[pub["width"] == width] if pub is not None else None
        rows.append({
            "label": f"W = {int(width)}",
            "cells": [cell(_median(runs, filters=width, activation=a),
                           p[LABELS[a]].iloc[0] if p is not None and len(p) else None)
                      for a in ACTIVATIONS],
        })
    return {"columns": [LABELS[a] for a in ACTIVATIONS], "corner": "Width", "rows": rows}


def _depth_label(variant):
    if variant == "bn":
        return "BN"
    if variant == "brn":
        return "BRN"
    base, _, suffix = variant.partition("_")
    return LABELS[base] + (" sqrt2" if suffix == "sqrt2" else "")


def table_depth(runs, published_dir):
    pub = _published(published_dir, "depth")
    pub = pub.set_index("variant") if pub is not None else None
    rows = []
    for variant in runs["variant"].unique():
        acc = runs[runs["variant"] == variant]["best_val_accuracy"]
        label = _depth_label(variant)
        p = pub.loc[label] if pub is not None and label in pub.index else None
        rows.append({
            "label": label.replace("sqrt2", r"$\sqrt{2}$"),
            "cells": [cell(acc.max(), None if p is None else p["max"]),
                      cell(acc.median(), None if p is None else p["median"])],
        })
    return {"columns": ["Max", "Median"], "corner": "Variant", "rows": rows}


def _extended_grid(runs, value):
    grid = {}
    for base in BASES:
        for column, variant in (("single", base), ("sqrt2", f"{base}_sqrt2"), ("linked", f"lk{base}")):
            sel = runs[runs["variant"] == variant]
            grid[base, column] = value(sel) if len(sel) else float("nan")
    return grid


def table_extended(runs, published_dir):
    pub = _published(published_dir, "extended")
    pub = pub.set_index("activation") if pub is not None else None
    acc = _extended_grid(runs, lambda s: s["best_val_accuracy"].median())
    params = _extended_grid(runs, lambda s: s["params"].iloc[0])
    columns = ["single", "sqrt2", "linked"]
    return {
        "columns": ["Single", r"$\sqrt{2}$", "Linked"], "corner": "Activation",
        "rows": [{"label": LABELS[b], "cells": [
            cell(acc[b, c], None if pub is None else pub.loc[LABELS[b], c]) for c in columns]}
            for b in BASES],
        "params": [{"label": LABELS[b], "cells": [int(params[b, c]) if params[b, c] == params[b, c] else None
                                                  for c in columns]} for b in BASES],
    }


def _one_row(runs, published_dir, name, select):
    pub = _published(published_dir, name)
    return {
        "columns": [LABELS[a] for a in ACTIVATIONS], "corner": "",
        "rows": [{"label": "Accuracy", "cells": [
            cell(select(runs, a), None if pub is None else pub[LABELS[a]].iloc[0])
            for a in ACTIVATIONS]}],
    }


def table_allcnn(runs, published_dir):
    policies = sorted({v.rpartition("_")[2] for v in runs["variant"]})
    table = _one_row(runs, published_dir, "allcnn",
                     lambda r, a: max(_median(r, variant=f"{a}_{p}") for p in policies))
    table["rows"][0]["label"] = "Best policy"
    for policy in policies:
        table["rows"].append({"label": policy, "cells": [
            cell(_median(runs, variant=f"{a}_{policy}")) for a in ACTIVATIONS]})
    return table


def table_resnet50(runs, published_dir):
    return _one_row(runs, published_dir, "resnet50", lambda r, a: _median(r, activation=a))


NOBN = [(a, n) for a in ("lkrelu", "selu", "lkselu") for n in ("batchnorm", "none")]


def nobn_times(runs):
    """Median training time (median epoch seconds x epochs) per variant."""
    time = runs["median_epoch_seconds"] * runs["epochs_run"]
    return runs.assign(time=time).groupby("variant")["time"].median()


def table_resnet50_nobn(runs, published_dir):
    pub = _published(published_dir, "resnet50_nobatchnorm")
    pub = pub.set_index("row") if pub is not None else None
    times = nobn_times(runs)
    reference = times.get("lkrelu_none", float("nan"))
    labels = [f"{LABELS[a]} {'BN' if n == 'batchnorm' else 'No BN'}" for a, n in NOBN]
    return {
        "columns": labels, "corner": "",
        "rows": [
            {"label": "Accuracy", "cells": [
                cell(_median(runs, variant=f"{a}_{n}"), None if pub is None else pub.loc["accuracy", lab])
                for (a, n), lab in zip(NOBN, labels)]},
            {"label": "Time ratio", "cells": [
                cell(times.get(f"{a}_{n}", float("nan")) / reference,
                     None if pub is None else pub.loc["time_ratio", lab])
                for (a, n), lab in zip(NOBN, labels)]},
        ],
    }


def table_input_shift(runs, published_dir):
    return {
        "columns": [LABELS[a] for a in ACTIVATIONS], "corner": "Offset",
        "rows": [{"label": f"+{int(o)}" if o == int(o) else f"+{o}",
                  "cells": [cell(_median(runs, activation=a, input_offset=o)) for a in ACTIVATIONS]}
                 for o in sorted(runs["input_offset"].unique())],
    }


def aggregate(experiment, runs, published_dir):
    table = globals()[f"table_{experiment}"](runs, published_dir)
    table["diverged"] = sorted(set(runs.loc[runs["diverged"].astype(bool), "variant"]))
    table["published"] = any(c["published"] is not None for row in table["rows"] for c in row["cells"])
    return table


def numbers(tables_dir, published_dir):
    """Every number the article's prose states, from the results and the
    published tables (paper/published)."""
    tables_dir = Path(tables_dir)
    n = {}
    published = _published(published_dir, "resnet50_nobatchnorm").set_index("row")

    def runs(name):
        path = tables_dir / f"{name}_runs.csv"
        return pd.read_csv(path) if path.exists() else None

    depth = runs("depth")
    if depth is not None:
        med = depth.groupby("variant")["best_val_accuracy"].median()
        dead = depth.groupby("variant")["dead_layers"].median()
        first_dead = {}
        for variant, group in depth.groupby("variant"):
            fractions = json.loads(group.iloc[0]["dead_per_layer"])
            first_dead[variant] = next((i + 1 for i, f in enumerate(fractions) if f > 0), None)
        n["depth"] = {
            "relu": med.get("relu"), "lkrelu": med.get("lkrelu"), "selu": med.get("selu"),
            "bn": med.get("bn"), "brn": med.get("brn"),
            "linked_learn": [LABELS[a] for a in ACTIVATIONS if a.startswith("lk") and med.get(a, 0) > 0.2],
            "failing": [_depth_label(v) for v, m in med.items() if m < 0.2],
            "relu_dead_layers": dead.get("relu"), "lkrelu_dead_layers": dead.get("lkrelu"),
            "relu_first_dead": first_dead.get("relu"),
            "layers": len(json.loads(depth.iloc[0]["dead_per_layer"])),
            "filters": int(depth["filters"].iloc[0]),
        }
    nobn = runs("resnet50_nobn")
    if nobn is not None:
        times = nobn_times(nobn)
        time = {v: times.get(v, float("nan")) for v in ("lkrelu_batchnorm", "lkrelu_none", "selu_none")}
        n["nobn"] = {
            "speedup": time["lkrelu_batchnorm"] / time["lkrelu_none"],
            "selu_ratio": time["selu_none"] / time["lkrelu_none"],
            "lkrelu_bn": _median(nobn, variant="lkrelu_batchnorm"),
            "lkrelu_none": _median(nobn, variant="lkrelu_none"),
            "paper_speedup": published.loc["time_ratio", "LK-ReLU BN"],
            "paper_selu_ratio": published.loc["time_ratio", "SELU No BN"],
        }
    shift = runs("input_shift")
    if shift is not None:
        worst = shift[shift["input_offset"] == shift["input_offset"].max()]
        n["shift"] = {
            "offset": shift["input_offset"].max(),
            "single": worst[~worst["activation"].str.startswith("lk")]["best_val_accuracy"].median(),
            "linked": worst[worst["activation"].str.startswith("lk")]["best_val_accuracy"].median(),
        }
    total = [runs(name) for name in ("width", "depth", "extended", "allcnn", "resnet50",
                                    "resnet50_nobn", "input_shift")]
    total = pd.concat([t for t in total if t is not None]).drop_duplicates("run")
    n["runs"] = len(total)
    n["diverged"] = int(total["diverged"].astype(bool).sum())
    n["train_minutes"] = total["train_seconds"].sum() / 60
    return n
