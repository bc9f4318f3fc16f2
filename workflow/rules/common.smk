import csv
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import yaml

# The checkout's (Snakemake puts the Snakefile's folder first on sys.path);
# Keras-free, as the DAG needs no Keras: importing it would cost seconds at every start.
import linked_neurons_core.table
import linked_neurons_core.threads
from snakemake.utils import validate

# `--config 'seeds=[1, 2]'` gives strings (Snakemake reads the values of a
# YAML list or mapping as text): numbers they are.
config["seeds"] = [int(s) if isinstance(s, str) and s.isdigit() else s for s in config.get("seeds", [])]
# `--config exclusive_timing=false` gives the text "false": each key the
# schema types boolean is read as one.
CONFIG_SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
for _key, _spec in yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"].items():
    if _spec.get("type") == "boolean" and str(config.get(_key)).lower() in ("true", "false"):
        config[_key] = str(config[_key]).lower() == "true"
validate(config, str(CONFIG_SCHEMA))


# The training jobs run `python` from PATH: the conda environment's under
# --sdm conda (Snakemake puts it first), else the one running Snakemake.
os.environ.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]))
# What every job's environment holds, whatever runs it (a local job, or a
# SLURM job, whose snakemake reads this file again): the checkout whose code it
# runs (first on PYTHONPATH: the scripts import linked_neurons_core and
# linked_neurons from it, not from an installed copy, which may be an older
# one), the Keras backend, jax's persistent compilation cache. In the
# environment rather than in the rule's command or params, so that changing
# them (or moving the project) reruns nothing.
os.environ.update(
    LINKED_NEURONS_WORKFLOW=workflow.basedir,
    PYTHONPATH=os.pathsep.join(
        [workflow.basedir]
        + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != workflow.basedir]
    ),
    KERAS_BACKEND=config["backend"],
    JAX_COMPILATION_CACHE_DIR=config["jax_cache"],
)

T = linked_neurons_core.table
# A training job's thread environment, for its `threads` (one definition).
THREAD_ENV = linked_neurons_core.threads.shell_words("{threads}")
SCALE = config["scale"]
EXPERIMENTS = config["experiments"]
RESULTS = f"results/{SCALE}"


def _groups():
    """The training groups of the selected runs.

    A group is the runs of one trained variant, one per seed, trained by one
    job in one process: `GROUPS["experiment/directory"]`. A run that trains
    exactly like a run of another experiment is that run's (Table 6's BN
    networks are Table 5's). A variant trained as the table says lives in
    `runs/EXPERIMENT/VARIANT/`; one that overrides or a protocol change
    lives in `VARIANT+DIGEST/`, DIGEST naming its configuration, so it never
    mixes with the default runs. Returns (GROUPS, RUNS): RUNS[experiment] is
    a list of (variant, seed, group key)."""
    overrides = OVERRIDES
    groups, runs = {}, {}
    for experiment in config["variants"]:  # a typo is named with the table's experiments
        TABLE.variants(experiment)
    for experiment in EXPERIMENTS:
        runs[experiment] = []
        for variant in config["variants"].get(experiment) or TABLE.variants(experiment):
            run = TABLE.resolve(experiment, variant, SCALE, overrides)
            owner = TABLE.trained_as(experiment, variant, SCALE, overrides)
            trained = TABLE.resolve(*owner, SCALE, overrides)
            digest = T.config_digest(trained)
            directory = owner[1]
            if digest != T.config_digest(TABLE.resolve(*owner, SCALE)):
                directory = f"{owner[1]}+{digest[:8]}"
            key = f"{owner[0]}/{directory}"
            seeds = config["seeds"] or run["seeds"]
            group = groups.setdefault(
                key,
                {
                    "experiment": owner[0],
                    "variant": owner[1],
                    "seeds": [],
                    "timed": False,
                    "config": T.training_config(trained),
                    "resources": trained["resources"],
                    "overrides": overrides,
                },
            )
            group["seeds"] = sorted({*group["seeds"], *map(int, seeds)})
            group["timed"] = group["timed"] or run["timed"]
            runs[experiment] += [(variant, int(seed), key) for seed in seeds]
    return groups, runs


try:
    TABLE = T.Table(config["table"])
    # Every run's overrides: the protocol, then `set` (typed as the run schema says).
    OVERRIDES = {"protocol": config["protocol"], **T.coerce_overrides(config["set"])}
    GROUPS, RUNS = _groups()
except T.ConfigError as error:
    raise WorkflowError(f"configuration error: {error}") from None
# What the analysis jobs (extract, tables, figures, claims, the report and the
# paper) compute with beyond their inputs and their own script: the
# activations' labels (the table's `activations`) and the code they import
# (every workflow script, the analysis package, the run summary). Snakemake
# reruns a job when its script changes, not a module it imports: with this
# digest in their params, an edited tables.py or intervals.py reruns them.
ANALYSIS_CODE = (
    "workflow/scripts/*.py",
    "linked_neurons_core/analysis/*.py",
    "linked_neurons_core/metrics.py",
    "linked_neurons_core/stopping.py",
)
ANALYSIS_DIGEST = T.digest(
    {
        "labels": {name: entry["label"] for name, entry in TABLE.activations.items()},
        "code": {
            str(path.relative_to(workflow.basedir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for pattern in ANALYSIS_CODE
            for path in sorted(Path(workflow.basedir).glob(pattern))
        },
    }
)
CODE_DIGEST = T.code_digest(Path(workflow.basedir))
# What a training job rebuilds its command line from, beside its group key and
# outputs (workflow/scripts/train.py): in the environment, not in its params,
# so that labels (a title, the table's path, naming keys) rerun no job.
os.environ.update(
    LINKED_NEURONS_PIPELINE=json.dumps({"table": config["table"], "scale": SCALE, "overrides": OVERRIDES})
)
GPU_BENCHMARK = "benchmarks/gpu.csv"  # benchmarks/gpu.py, run on a GPU
HAVE_LATEXMK = shutil.which("latexmk") is not None
PDF_HINT = (
    "paper/paper.pdf was not built: latexmk is missing. Install it "
    "(Debian: apt-get install latexmk texlive-latex-recommended "
    "texlive-latex-extra) and run snakemake again."
)


def published(experiment):
    """The published values of an experiment's table, if the paper has them
    (the table's `published`: paper/published/NAME.csv)."""
    name = resolved(experiment)["published"]
    path = f"paper/published/{name}.csv"
    return [path] if name and os.path.exists(path) else []


def run_metrics(experiment):
    """The metrics.json of each of the experiment's runs (RUNS order)."""
    return [f"{RESULTS}/runs/{key}/{seed}/metrics.json" for _, seed, key in RUNS[experiment]]


def run_ids(experiment):
    """(experiment, variant, seed) of each of the experiment's runs (RUNS order)."""
    return [(experiment, variant, seed) for variant, seed, _ in RUNS[experiment]]


def resolved(experiment, variant=None):
    """The configuration of an experiment's variant (default: its first) as
    this build trains it."""
    variant = variant or TABLE.variants(experiment)[0]
    return TABLE.resolve(experiment, variant, SCALE, OVERRIDES)


def exclusive(group):
    """Whether a group's runs are timed and compared (Table 6): they train
    alone on their device."""
    return GROUPS[group]["timed"] and config["exclusive_timing"]


def _timed_order():
    """The timed runs, (group, seed), in the order they train: in rounds, a
    seed of every timed group, then the next seed, each run a job (and a
    process) of its own, each round's groups rotated by one from the last's
    (no group always follows the same one). A time varies by a tenth or more
    from one moment of the machine, and one process, to another: the runs of
    a round share their moment, so a time ratio pairs them by seed
    (linked_neurons_core/analysis/intervals.py, `ratio`), and the rounds, at
    different moments, are its repeats. The seeds of one job would share a
    moment, and their spread understate what a ratio varies by."""
    timed = [key for key in GROUPS if exclusive(key)]
    rounds = max((len(GROUPS[key]["seeds"]) for key in timed), default=0)
    order = []
    for i in range(rounds):
        for j in range(len(timed)):
            key = timed[(i + j) % len(timed)]
            if i < len(GROUPS[key]["seeds"]):
                order.append((key, GROUPS[key]["seeds"][i]))
    return order


TIMED_ORDER = _timed_order()
# The training rules: `train_timed`, one job a timed run (TIMED_ORDER), and
# one rule per distinct list of seeds of the other groups, a job a group (its
# outputs are the seeds' metrics.json): usually one, `train`.
SEED_LISTS = {}
for _key, _group in GROUPS.items():
    if not exclusive(_key):
        SEED_LISTS.setdefault(tuple(_group["seeds"]), []).append(_key)


# Each training group's wall seconds in a measured build, by scale
# (benchmarks/train_seconds.py wrote it): what orders the training jobs.
TRAIN_SECONDS_FILE = Path(workflow.basedir) / "benchmarks" / "train_seconds.csv"
TIMED_PRIORITY = 10**6


def _train_seconds():
    try:
        with TRAIN_SECONDS_FILE.open() as rows:
            return {
                row["group"]: float(row["seconds"]) for row in csv.DictReader(rows) if row["scale"] == SCALE
            }
    except FileNotFoundError:
        return {}
    except (KeyError, TypeError, ValueError) as error:
        raise WorkflowError(
            f"{TRAIN_SECONDS_FILE} is damaged ({error!r}): write it again with "
            "benchmarks/train_seconds.py, or delete it (jobs then start in Snakemake's order)"
        ) from None


TRAIN_SECONDS = _train_seconds()


def train_priority(wildcards):
    """Timed runs first, alone while every core is free, in TIMED_ORDER's
    rounds; then the other groups longest first, by their seconds in
    benchmarks/train_seconds.csv (0 for a group it lacks; a group with
    overrides takes its variant's), so that no long group starts last and
    holds one core while the others idle. It orders jobs only: no run's
    numbers depend on it, and no job reruns."""
    if exclusive(wildcards.group):
        return TIMED_PRIORITY + len(TIMED_ORDER) - TIMED_ORDER.index((wildcards.group, int(wildcards.seed)))
    group = GROUPS[wildcards.group]
    seconds = TRAIN_SECONDS.get(f"{group['experiment']}/{group['variant']}", 0)
    return min(int(seconds), TIMED_PRIORITY // 4)


def train_threads(wildcards):
    """A timed group takes every core of a local run, so that no other job
    runs beside it; on a cluster it asks for a node of its own instead."""
    threads = GROUPS[wildcards.group]["resources"]["threads"]
    if exclusive(wildcards.group) and workflow.local_exec:
        try:
            return max(threads, workflow.cores)
        except WorkflowError:  # no --cores (a dry run): the group's own
            return threads
    return threads


def train_mode(wildcards):
    """How the group's runs train together (a param: it changes their numbers
    within tolerance): a timed run alone."""
    return "sequential" if exclusive(wildcards.group) else config["group_mode"]


def train_exclusive(wildcards):
    """`--exclusive` for a timed group (a param: it changes what its runs record)."""
    return "--exclusive" if exclusive(wildcards.group) else ""


def trains(wildcards):
    """What the group's runs train (their configuration and code): Snakemake
    reruns the group when it changes, and only then."""
    return f"config {T.digest(GROUPS[wildcards.group]['config'])}, code {CODE_DIGEST}"


def slurm_extra(wildcards):
    """The training job's extra sbatch options (the SLURM profile).

    `--signal=TERM@N`: SIGTERM to the job's steps N = stop_signal_seconds
    before the time limit (up to 30 s earlier: SLURM looks every 30 s). The
    executor plugin runs the rule in a step (`srun ... snakemake`), so the
    training process gets it, saves and exits 143; the profile's retries
    submit the group again and it resumes. The rule's shell must `exec` the
    training process: a shell killed by the signal ends the step before the
    save, and SLURM kills what the step left. Not `B:TERM@N`: that signals only
    the batch shell, which the plugin writes without a trap; it dies, and the
    job's processes are killed KillWait later, saved or not
    (tests/slurm/README.md). 0: no warning signal. A timed group (Table 6)
    asks for a node of its own (`--exclusive`)."""
    extra = []
    if config["stop_signal_seconds"]:
        extra.append(f"--signal=TERM@{config['stop_signal_seconds']}")
    if exclusive(wildcards.group):
        extra.append("--exclusive")
    return " ".join(extra)


def paper_scale_digest():
    """What the appendix's GPU cost depends on: the paper scale's runs, and
    what the authors' column reads (their hours, the paper's table, `beyond`)."""
    keys = (
        "architecture",
        "activation",
        "normalization",
        "width_multiplier",
        "filters",
        "epochs",
        "authors_hours",
        "paper_table",
        "layout",
    )
    return T.digest(
        {
            f"{e}/{v}": [
                TABLE.trained_as(e, v, "paper"),
                TABLE.resolve(e, v, "paper")["seeds"],
                {k: TABLE.resolve(e, v, "paper").get(k) for k in keys},
            ]
            for e in TABLE.experiments
            for v in TABLE.variants(e)
        }
    )


FIGURES = ["paper/figures/depth_curves.png", "paper/figures/depth_dead_units.png"]
ALL_OUTPUTS = ["paper/paper.tex"] + (["paper/paper.pdf"] if HAVE_LATEXMK else [])


wildcard_constraints:
    scale=SCALE,
    experiment="|".join(TABLE.experiments),


localrules:
    all,
    claims,
    cost,
    extract,
    table,
    figures,
    paper,
    pdf,


onsuccess:
    if not HAVE_LATEXMK:
        print(PDF_HINT)
