"""A run's row in a per-run table (results/<scale>/tables/<experiment>_runs.csv)
or a published value's row: its flags and its status. One definition for the
article's tables (tables.py) and the claims (claims.py).
"""

import math

from linked_neurons_core.metrics import STATUSES


def flag(value):
    """A boolean column's value as a bool: True, a non-zero number or the text
    "True" (how a CSV may hold it) is set; False, 0, "False", None and NaN
    (a missing value) are not."""
    if isinstance(value, str):
        return value == "True"
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def status(row):
    """One of metrics.STATUSES: the row's `status` (extract.py writes it for
    every run), or for a row without one (a published value) "diverged" when
    its `diverged` flag is set, "converged" when its `converged` flag is, else
    "still improving"."""
    value = row.get("status")
    if isinstance(value, str):
        if value not in STATUSES:
            raise ValueError(f"run {row.get('run', '?')}: unknown status {value!r}; "
                             f"expected one of {', '.join(STATUSES)} (re-extract it)")
        return value
    if flag(row.get("diverged")):
        return "diverged"
    return "converged" if flag(row.get("converged")) else "still improving"


def converged(row):
    """Whether the run converged (status "converged")."""
    return status(row) == "converged"
