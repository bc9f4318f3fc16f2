"""The depth experiment's figures: validation accuracy per epoch, dead units
per layer (constant on every sample, and exactly zero on every sample)."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from logs import setup as setup_logging  # noqa: E402

from linked_neurons_core.analysis.names import use_table  # noqa: E402
from linked_neurons_core.io import atomic_write_with  # noqa: E402

sm = snakemake  # noqa: F821
setup_logging(sm)
names = use_table(sm.config["table"])
epochs = pd.read_csv(sm.input.epochs)
runs = pd.read_csv(sm.input.runs)
# Linked variants are drawn solid (the table's `activations` says which are).
linked = {variant: names.vocab.is_linked(activation)
          for variant, activation in zip(runs["variant"], runs["activation"])}

fig, ax = plt.subplots(figsize=(6.4, 3.6))
for variant, group in epochs.groupby("variant", sort=False):
    curve = group.groupby("epoch")["val_accuracy"].median()
    # Solid: linked; dashed: a variant that is no activation's (normalized); dotted: single.
    own = variant.partition("_")[0] in names.vocab.activations
    style = "-" if linked.get(variant) else (":" if own else "--")
    ax.plot(curve.index, curve.values, style, label=variant)
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy (median over seeds)")
ax.legend(ncol=4, fontsize=7)
fig.tight_layout()
atomic_write_with(sm.output.curves, lambda f: fig.savefig(f, dpi=150, format="png"))

# Dead units per layer, two panels sharing the layer axis: constant on every
# sample (the paper's definition, `dead_per_layer`) and exactly zero on every
# sample (`zero_per_layer`). A variant is drawn where it has any, and so is
# the linked one of each activation that has some; each in one colour.
PANELS = (("dead_per_layer", "constant on every sample"),
          ("zero_per_layer", "exactly zero on every sample"))


def per_layer(group, column):
    """The median over seeds of a per-layer column, or None (diverged runs
    have no layers, runs from before the zero count no zero column)."""
    if column not in group:
        return None
    per_seed = [json.loads(d) for d in group[column] if isinstance(d, str)]
    per_seed = [p for p in per_seed if p]
    return pd.DataFrame(per_seed).median() if per_seed else None


fig, axes = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True, sharey=True)
colours = plt.get_cmap("tab20").colors  # depth has 14 variants
shown = []
per_variant = {variant: [per_layer(group, column) for column, _ in PANELS]
               for variant, group in runs.groupby("variant", sort=False)}
activation = dict(zip(runs["variant"], runs["activation"]))
dying = {activation[v] for v, series in per_variant.items()
         if any(f is not None and f.any() for f in series)}
for variant, series in per_variant.items():
    # A variant with dead units, and each linked one whose base has them
    # (it shows that linking keeps them alive).
    base = names.vocab.base(activation[variant]) if linked.get(variant) else None
    if activation[variant] not in dying and base not in dying:
        continue
    colour = colours[len(shown) % len(colours)]
    style = "-" if linked.get(variant) else ":"
    shown.append(variant)
    for ax, fractions in zip(axes, series):
        if fractions is not None:
            ax.plot(range(1, len(fractions) + 1), fractions, style, marker=".", color=colour,
                    label=variant)
for ax, (_, title) in zip(axes, PANELS):
    ax.set_title(f"dead units: {title}", fontsize=9)
    ax.set_ylabel("fraction (median over seeds)", fontsize=8)
    ax.set_ylim(-0.05, 1.05)
axes[-1].set_xlabel("layer")
handles, labels = axes[0].get_legend_handles_labels()
if handles:
    axes[0].legend(handles, labels, ncol=4, fontsize=7)
fig.tight_layout()
atomic_write_with(sm.output.dead, lambda f: fig.savefig(f, dpi=150, format="png"))
