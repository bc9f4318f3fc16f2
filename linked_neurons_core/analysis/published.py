"""The paper's published values (paper/published/*.csv), as per-run rows.

Each experiment of the table with a `published` file is read by its layout's
kind, and its values become a per-run table of one 'seed' each (seed -1):
the same units as this build's, so that one piece of code judges both. A bad
cell raises PublishedValueError naming its file, line, column and the fix.
"""

from pathlib import Path

import pandas as pd

from linked_neurons_core.analysis import names as naming


class PublishedValueError(ValueError):
    """A cell of paper/published/*.csv that cannot be read; `str()` is one
    line naming the file, the line, the column and the fix."""


class Published:
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


def _grid(experiment, pub, add, names):
    """One column an activation's label; one row a value of the layout's
    `rows` key, in the file's first column (no `rows`: one row)."""
    rows_key = names.layout(experiment).get("rows")
    by_label = names.by_label()
    first = pub.frame.columns[0] if rows_key else None
    for line, row in pub.rows():
        keys = {}
        if rows_key:
            value = pub.number(line, row, first, empty_ok=False)
            keys[rows_key] = naming.whole(value)
        for label, activation in pub.activation_columns(by_label, fixed=(first,)).items():
            unit = names.variant_name(experiment, activation=activation, **keys) or activation
            add(unit, pub.number(line, row, label), activation=activation, **keys)
        if not rows_key:
            break


def _best_policy(experiment, pub, add, names):
    """One row: one column an activation's label (its best policy's value)."""
    by_label = names.by_label()
    line, row = pub.rows()[0]
    for label, activation in pub.activation_columns(by_label).items():
        add(activation, pub.number(line, row, label))


def _max_median(experiment, pub, add, names):
    """One row a variant's label (column `variant`), its median in `median`."""
    by_label = names.variants_by_label(experiment)
    for line, row in pub.rows():
        unit = pub.label(line, "variant", pub.cell(line, row, "variant").strip(), by_label)
        add(unit, pub.number(line, row, "median"))


def _linking(experiment, pub, add, names):
    """One row a single activation's label (column `activation`), its single,
    sqrt2-wide and linked values in those columns."""
    by_label = names.by_label()
    for line, row in pub.rows():
        base = pub.label(line, "activation", pub.cell(line, row, "activation").strip(), by_label)
        linked = names.linked_of(base)
        add(base, pub.number(line, row, "single"))
        add(f"{base}_sqrt2", pub.number(line, row, "sqrt2"))
        if linked is not None:
            add(linked, pub.number(line, row, "linked"))


def _timed(experiment, pub, add, names):
    """One column a variant's label; the rows `accuracy` and `time_ratio`
    (over the layout's reference) in column `row`."""
    by_row = {}
    for line, row in pub.rows():
        by_row.setdefault(pub.cell(line, row, "row").strip(), (line, row))
    for needed in ("accuracy", "time_ratio"):
        if needed not in by_row:
            raise PublishedValueError(f"{pub.path}: no row {needed!r} in column 'row': "
                                      "restore the published table's rows")
    by_label = names.variants_by_label(experiment)
    for label in pub.frame.columns:
        if label == "row":
            continue
        variant = pub.label(1, label, label, by_label)
        add(variant, pub.number(*by_row["accuracy"], label),
            wall_seconds=pub.number(*by_row["time_ratio"], label), device_exclusive=True)


READERS = {"grid": _grid, "best_policy": _best_policy, "max_median": _max_median,
           "linking": _linking, "timed": _timed}


def published_runs(published_dir):
    """The published values of every experiment of the table that has them
    (its `published` file in `published_dir`), as a per-run table."""
    names = naming.names()
    rows = []
    for experiment, name in names.published.items():
        path = Path(published_dir) / f"{name}.csv"
        if not name or not path.exists() or names.kind(experiment) not in READERS:
            continue

        def add(unit, accuracy, experiment=experiment, **more):
            if accuracy is not None and not pd.isna(accuracy):
                rows.append({"experiment": experiment, "variant": unit, "activation": unit, "seed": -1,
                             "best_val_accuracy": float(accuracy), "diverged": False,
                             "converged": True, "run": f"published/{experiment}", **more})
        READERS[names.kind(experiment)](experiment, Published(path), add, names)
    return pd.DataFrame(rows)


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
