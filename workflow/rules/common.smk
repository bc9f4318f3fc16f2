import importlib.util
import json
import shlex
import shutil
import sys

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")


def _load_table_module():
    # Loaded by path: importing the linked_neurons package would import Keras,
    # which the DAG does not need and which costs seconds at every start.
    path = Path(workflow.basedir) / "linked_neurons" / "experiments" / "table.py"
    spec = importlib.util.spec_from_file_location("linked_neurons_table", path)
    table_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table_module)
    return table_module


_table_module = _load_table_module()
try:
    TABLE = _table_module.Table(config["table"])
    SCALE = config["scale"]
    EXPERIMENTS = config["experiments"]
    OVERRIDES = config["set"]
    for _experiment, _variants in config["variants"].items():
        for _variant in _variants:
            TABLE.resolve(_experiment, _variant, SCALE, OVERRIDES)  # names checked
    RUNS = {
        experiment: [
            (variant, seed)
            for variant in config["variants"].get(experiment) or TABLE.variants(experiment)
            for seed in (
                config["seeds"]
                or TABLE.resolve(experiment, variant, SCALE, OVERRIDES)["seeds"]
            )
        ]
        for experiment in EXPERIMENTS
    }
except _table_module.ConfigError as error:
    raise WorkflowError(f"configuration error: {error}") from None

RESULTS = f"results/{SCALE}"
GPU_BENCHMARK = "benchmarks/gpu.csv"  # benchmarks/gpu.py, run on a GPU
HAVE_LATEXMK = shutil.which("latexmk") is not None
PDF_HINT = (
    "paper/paper.pdf was not built: latexmk is missing. Install it "
    "(Debian: apt-get install latexmk texlive-latex-recommended "
    "texlive-latex-extra) and run snakemake again."
)


def run_metrics(experiment):
    """The metrics.json of each of the experiment's runs (RUNS order). A run
    that trains exactly like an earlier one of the table is that run's."""
    paths = []
    for variant, seed in RUNS[experiment]:
        owner, trained = TABLE.trained_as(experiment, variant, SCALE, OVERRIDES)
        paths.append(f"{RESULTS}/runs/{owner}/{trained}/{seed}/metrics.json")
    return paths


def run_ids(experiment):
    """(experiment, variant, seed) of each of the experiment's runs (RUNS order)."""
    return [(experiment, variant, int(seed)) for variant, seed in RUNS[experiment]]


def paper_runs():
    """Every run of the paper scale (the published protocol: no overrides),
    with what its GPU cost depends on (the appendix, workflow/scripts/cost.py)."""
    keys = ("architecture", "activation", "normalization", "width_multiplier", "filters")
    runs = []
    for experiment in TABLE.experiments:
        for variant in TABLE.variants(experiment):
            config = TABLE.resolve(experiment, variant, "paper")
            shared = TABLE.trained_as(experiment, variant, "paper") != (experiment, variant)
            for seed in config["seeds"]:
                runs.append({"experiment": experiment, "variant": variant, "seed": seed,
                             "epochs": config["epochs"], "shared": shared,
                             **{key: config.get(key) for key in keys}})
    return runs


def table_info(wildcards):
    """What a table's caption says of its runs."""
    first = TABLE.variants(wildcards.experiment)[0]
    resolved = TABLE.resolve(wildcards.experiment, first, SCALE, OVERRIDES)
    keys = ("title", "dataset", "epochs", "scale", "width_scale", "augment")
    return {key: resolved[key] for key in keys}


def run_resources(wildcards):
    return TABLE.resolve(wildcards.experiment, wildcards.variant, SCALE, OVERRIDES)[
        "resources"
    ]


def set_arguments():
    """config["set"] as --set KEY=VALUE arguments (nested keys dotted)."""

    def flat(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}={json.dumps(value)}"

    return " ".join(f"--set {shlex.quote(pair)}" for pair in flat(OVERRIDES))


FIGURES = ["paper/figures/depth_curves.png", "paper/figures/depth_dead_units.png"]
ALL_OUTPUTS = ["paper/paper.tex"] + (["paper/paper.pdf"] if HAVE_LATEXMK else [])


wildcard_constraints:
    scale=SCALE,
    experiment="|".join(TABLE.experiments),
    variant="[a-z0-9_]+",
    seed=r"\d+",


localrules:
    all,
    cost,
    extract,
    table,
    figures,
    paper,
    pdf,


onsuccess:
    if not HAVE_LATEXMK:
        print(PDF_HINT)
