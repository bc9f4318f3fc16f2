"""A table cell's runs (a *unit*) and their summary.

A unit is a variant's runs, one per seed; in a `best_policy` layout (All-CNN),
an activation's runs under the variant (learning-rate policy) of the best
validation accuracy. `stats` summarizes a unit: the median of the runs' test
accuracy at the epoch validation chose, with its range over seeds (min to
max), the median of their best test accuracy over epochs (the paper's
measure, which chooses on the set it reports), the runs that diverged (they
do not count: their accuracy was computed with weights that are not numbers)
and the runs that had not converged. The claims judge the same units.
"""

import pandas as pd

from linked_neurons_core.analysis import names as naming
from linked_neurons_core.analysis import runs as run_rows


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


def times(rows, key="wall_seconds"):
    """{seed: the run's training seconds} of a unit's runs, as a Series (the
    pairs of `intervals.ratio`): diverged runs and runs without a time left out."""
    if not len(rows) or key not in rows:
        return pd.Series(dtype=float)
    counted = rows[~rows["diverged"].map(run_rows.flag)] if "diverged" in rows else rows
    return pd.Series(counted[key].astype(float).to_numpy(), index=counted["seed"].astype(int)).dropna()


def dead_from(fractions):
    """The layer (1-based) from which every layer has dead units, or None."""
    first = None
    for i, fraction in enumerate(fractions):
        if fraction > 0 and first is None:
            first = i + 1
        elif fraction == 0:
            first = None
    return first


def units(experiment, runs):
    """{unit: its runs} of an experiment's per-run table."""
    if naming.names().kind(experiment) != "best_policy":
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


def cell(rows, published=None, key="test_accuracy"):
    """One table cell: a unit's statistics and the published value."""
    return {**stats(rows, key), "published": published}
