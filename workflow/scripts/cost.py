"""The GPU cost of the paper scale, from the measurements of benchmarks/gpu.py.

Every paper-scale run belongs to a cost class (architecture, single or
linked, normalization, width): runs of a class have the same network size.
benchmarks/gpu.csv times one run of each class at one or more concurrencies
(K runs at once on one device); a run's GPU time per epoch at concurrency K
is its measured epoch time divided by K, since K runs share the device. Each
class takes the concurrency that makes it cheapest. GPU-hours of a run: its
epochs times that. A run shared by two experiments (Table 6's BN networks
are Table 5's) is counted once, under the experiment that trains it.

The paper gives no training times. The authors' column takes each
experiment's `authors_hours` from the table (their repository's README:
All-CNN and ResNet50 runs "take a day using a GTX 1080Ti", the covariate
shift, depth and width ones "are quite fast"), and none for runs beyond the
paper, which the authors never ran.
"""

import json
import logging
import math

import pandas as pd

log = logging.getLogger("cost")


def cost_class(config):
    """The cost class of a run configuration: what its network's size depends on."""
    parts = [config["architecture"], "linked" if config["linked"] else "single",
             config["normalization"], f"x{config['width_multiplier']:.2f}"]
    if config.get("filters") is not None:
        parts.append(f"{config['filters']} filters")
    return "/".join(parts)


def usable(bench):
    """The rows measured on the pipeline's own paper-scale configuration.
    Rows measured with `--set` (another loop, another network) explore; to
    price a faster loop, make it the table's and measure again."""
    keep = [not json.loads(o or "{}") for o in bench["overrides"].fillna("")]
    for _, row in bench[[not k for k in keep]].iterrows():
        log.warning("ignored %s/%s x%d: measured with --set %s", row["experiment"], row["variant"],
                    row["concurrency"], row["overrides"])
    return bench[keep]


def class_costs(bench, runs):
    """Per cost class: GPU-seconds per epoch at its cheapest concurrency."""
    classes = {(r["experiment"], r["variant"]): cost_class(r) for r in runs}
    bench = bench.assign(cost_class=[classes.get(key) for key in
                                     zip(bench["experiment"], bench["variant"])])
    bench = bench.dropna(subset=["cost_class"])
    bench = bench.assign(gpu_seconds=bench["seconds_per_epoch"] / bench["concurrency"])
    by = bench.groupby(["cost_class", "concurrency"])["gpu_seconds"].median().reset_index()
    best = by.loc[by.groupby("cost_class")["gpu_seconds"].idxmin()]
    alone = by[by["concurrency"] == 1].set_index("cost_class")["gpu_seconds"]
    shared = by.groupby("cost_class")["concurrency"].max() > 1  # measured sharing a device
    return best.set_index("cost_class").assign(alone=alone, shared_measured=shared)


def authors_hours(run):
    """The authors' GPU-hours for a run, or None: they give none for its
    experiment, or they never ran it."""
    return None if run["beyond"] else run.get("authors_hours")


def gpu_hours(bench, runs):
    """(rows per experiment, totals) of the paper scale's GPU-hours. `runs`:
    every run of the paper scale, as workflow/rules/common.smk lists them."""
    runs = [{**r, "cost_class": cost_class(r)} for r in runs]
    costs = class_costs(bench, runs)
    rows = []
    for experiment in dict.fromkeys(r["experiment"] for r in runs):
        own = [r for r in runs if r["experiment"] == experiment and not r["shared"]]
        best = sum(r["epochs"] * costs["gpu_seconds"].get(r["cost_class"], math.nan) for r in own)
        alone = sum(r["epochs"] * costs["alone"].get(r["cost_class"], math.nan) for r in own)
        unmeasured = sorted({r["cost_class"] for r in own} - set(costs.index))
        authors = [h for h in map(authors_hours, own) if h is not None]
        rows.append({
            "experiment": experiment,
            "runs": len(own),
            "epochs": sum(r["epochs"] for r in own),
            "hours_alone": alone / 3600,
            "hours": best / 3600,
            "concurrency": "/".join(str(int(k)) for k in sorted(
                {costs["concurrency"].get(r["cost_class"]) for r in own} - {None})),
            # None: no figure for any of its runs (not zero hours).
            "authors_hours": sum(authors) if authors else None,
            "authors_runs": len(authors),
            "unmeasured": ", ".join(unmeasured),
            # Every measured class of it timed only alone: its "shared" is
            # its "alone" for want of a measurement, not because K=1 won.
            "alone_only": bool(own) and not unmeasured and not any(
                costs["shared_measured"].get(r["cost_class"], False) for r in own),
        })
    table = pd.DataFrame(rows)
    # An unmeasured experiment leaves the total unknown, not smaller.
    totals = table[["runs", "epochs", "hours_alone", "hours"]].sum(skipna=False).to_dict()
    # The authors' total covers only the runs they give a figure for.
    totals["authors_runs"] = int(table["authors_runs"].sum())
    totals["authors_hours"] = int(table["authors_hours"].sum()) if totals["authors_runs"] else None
    return table, totals


def time_ratios(bench, timed):
    """The timed tables' time ratios on the benchmark's device (concurrency
    1): `timed` maps each experiment of a `timed` layout to its reference."""
    out = {}
    for experiment, reference in timed.items():
        alone = bench[(bench["experiment"] == experiment) & (bench["concurrency"] == 1)]
        seconds = alone.groupby("variant")["seconds_per_epoch"].median()
        if reference in seconds:
            out.update((seconds / seconds[reference]).to_dict())
    return out


def paper_runs(table, names):
    """Every run of the paper scale (the published protocol: no overrides),
    with what its GPU cost depends on. A run shared by two experiments is
    marked `shared` under the one that does not train it; a run beyond the
    paper (its experiment reproduces no paper table, or `names` marks it
    beyond) is marked `beyond`."""
    keys = ("architecture", "activation", "normalization", "width_multiplier", "filters",
            "authors_hours")
    runs = []
    for experiment in table.experiments:
        for variant in table.variants(experiment):
            config = table.resolve(experiment, variant, "paper")
            shared = table.trained_as(experiment, variant, "paper") != (experiment, variant)
            linked = table.is_linked(config["activation"])
            beyond = config.get("paper_table") is None or names.beyond(experiment, variant)
            for seed in config["seeds"]:
                runs.append({"experiment": experiment, "variant": variant, "seed": seed,
                             "epochs": config["epochs"], "shared": shared, "linked": linked, "beyond": beyond,
                             **{key: config.get(key) for key in keys}})
    return runs


def render(bench_csv, runs, template, output, timed=None):
    from latex import template as load_template

    from linked_neurons_core.io import atomic_write_text

    context = {"measured": False}
    if bench_csv:
        bench = usable(pd.read_csv(bench_csv, dtype={"overrides": str}))
        table, totals = gpu_hours(bench, runs)
        devices = sorted(bench["device"].unique())
        context = {"measured": True, "rows": table.to_dict("records"), "totals": totals,
                   "devices": ", ".join(devices), "ratios": time_ratios(bench, timed or {})}
        logging.info("GPU-hours of the paper scale: %.1f (%s)", totals["hours"], context["devices"])
    atomic_write_text(output, load_template(template).render(**context))


if __name__ == "__main__" and "snakemake" in globals():
    sm = snakemake  # noqa: F821
    import logs

    logs.setup(sm)

    from linked_neurons_core.analysis.names import Names
    from linked_neurons_core.table import Table

    names = Names(sm.params.table)
    timed = {e: layout.get("reference") for e, layout in names.layouts.items() if layout["kind"] == "timed"}
    render(sm.input.bench[0] if sm.input.bench else None, paper_runs(Table(sm.params.table), names),
           sm.input.template, sm.output[0], timed)
