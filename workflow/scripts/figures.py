"""The depth experiment's figures: validation accuracy per epoch, dead units."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from logs import setup as setup_logging  # noqa: E402

sm = snakemake  # noqa: F821
setup_logging(sm)
epochs = pd.read_csv(sm.input.epochs)
runs = pd.read_csv(sm.input.runs)

fig, ax = plt.subplots(figsize=(6.4, 3.6))
for variant, group in epochs.groupby("variant", sort=False):
    curve = group.groupby("epoch")["val_accuracy"].median()
    style = "-" if variant.startswith("lk") else ("--" if variant in ("bn", "brn") else ":")
    ax.plot(curve.index, curve.values, style, label=variant)
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy (median over seeds)")
ax.legend(ncol=4, fontsize=7)
fig.tight_layout()
fig.savefig(sm.output.curves, dpi=150)

fig, ax = plt.subplots(figsize=(6.4, 3.6))
for variant, group in runs.groupby("variant", sort=False):
    per_seed = [json.loads(d) for d in group["dead_per_layer"] if json.loads(d)]  # diverged: []
    if not per_seed:
        continue
    fractions = pd.DataFrame(per_seed).median()
    if fractions.any() or variant in ("relu", "lkrelu"):
        ax.plot(range(1, len(fractions) + 1), fractions, marker=".", label=variant)
ax.set_xlabel("layer")
ax.set_ylabel("dead units (fraction, median over seeds)")
ax.legend(ncol=4, fontsize=7)
fig.tight_layout()
fig.savefig(sm.output.dead, dpi=150)
