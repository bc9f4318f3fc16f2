"""What the article would conclude at other budgets, replayed from a build.

    python benchmarks/budget.py BUILD OUT --set depth/bn:epochs=100 --set 'resnet50*:epochs=40'

A run's first N epochs are the same whatever its budget: the same code
trains them to the same numbers (two builds of one commit matched run for
run, `benchmarks/compare_builds.py`), and each epoch's record in
metrics.json's history holds its validation and test accuracy, the test
images it got right and its seconds. So a run trained with fewer epochs, or
another early stopping, is its recorded history up to the epoch where the
trainer would have stopped it (`end_epoch` in
linked_neurons/experiments/progress.py: diverged, its epochs done, or its
validation accuracy plateaued). BUILD is a build's results directory
(`results/quick`); `--set PATTERN:KEY=VALUE` changes a budget of the runs
whose `experiment/variant` matches PATTERN (fnmatch; `depth` is `depth/*`):
`epochs`, `early_stopping` (a YAML mapping, or null) or one of its keys
`early_stopping.patience`, `.min_epochs`, `.min_delta`.

It writes, in OUT, the build as if trained so: each run's metrics.json and
config.json (`runs/`), the per-run tables extract.py writes (`tables/`),
`runs.csv`, and `claims.csv` judged by the pipeline's claims code. It then
prints each experiment's training seconds (the sum of its jobs' epochs'
seconds, a vmapped job's those of its longest run; as recorded, and as
replayed) and compare_builds's comparison of BUILD with
OUT: runs, cells and verdicts.

Refused, with the run and the reason: a budget that would train a run past
its recorded epochs, and other epochs where the learning-rate steps scale
with the epochs (All-CNN's step policies: another schedule, not a prefix).
Dead units are probed once, after the last epoch: a claim on dead units
whose runs were cut reads "not replayed". Times (Table 6) are the recorded
epochs' own. A report, not a test: exit 0 whatever changed, 2 on unusable
input.
"""

import argparse
import copy
import fnmatch
import json
import logging
import sys
import types
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "workflow" / "scripts"), str(ROOT / "benchmarks")]

import compare_builds  # noqa: E402
import extract  # noqa: E402

from linked_neurons_core import metrics as run_summary  # noqa: E402
from linked_neurons_core.analysis import claims as claims_code  # noqa: E402
from linked_neurons_core.analysis.names import use_table  # noqa: E402
from linked_neurons_core.analysis.published import published_runs  # noqa: E402
from linked_neurons_core.io import atomic_write_json  # noqa: E402
from linked_neurons_core.io import atomic_write_text  # noqa: E402
from linked_neurons_core.stopping import diverged_epoch  # noqa: E402
from linked_neurons_core.stopping import plateaued  # noqa: E402
from linked_neurons_core.table import config_digest  # noqa: E402

KEYS = ("epochs", "early_stopping", "early_stopping.patience", "early_stopping.min_epochs",
        "early_stopping.min_delta")


class BudgetError(ValueError):
    pass


def parse_set(text):
    """`PATTERN:KEY=VALUE` -> (pattern, key, value)."""
    pattern, sep, assignment = text.partition(":")
    key, eq, value = assignment.partition("=")
    if not sep or not eq or not pattern:
        raise BudgetError(f"--set {text!r}: write PATTERN:KEY=VALUE, e.g. depth/bn:epochs=100")
    if key not in KEYS:
        raise BudgetError(f"--set {text!r}: {key!r} cannot be replayed; one of {', '.join(KEYS)}")
    return (pattern if "/" in pattern else f"{pattern}/*"), key, yaml.safe_load(value)


def budgeted(config, changes, name):
    """`config` with the (key, value) `changes` applied."""
    config = copy.deepcopy(config)
    for key, value in changes:
        if key.startswith("early_stopping."):
            if not config.get("early_stopping"):
                raise BudgetError(f"{name} has no early stopping to change {key} of; set all of "
                                  "it: early_stopping='{patience: 8, min_delta: 0.01, min_epochs: 30}'")
            config["early_stopping"][key.split(".", 1)[1]] = value
        else:
            config[key] = value
    return config


def replay(history, config, name):
    """(the prefix of `history` a run of `config` trains, whether early
    stopping ended it): the trainer's rule, progress.end_epoch."""
    for n in range(1, len(history) + 1):
        prefix = history[:n]
        if diverged_epoch(prefix) is not None or n >= config["epochs"]:
            return prefix, False
        if plateaued(prefix, config.get("early_stopping")):
            return prefix, True
    raise BudgetError(f"{name}: this budget trains past the {len(history)} epochs the build "
                      "recorded; only budgets that stop a run sooner can be replayed")


def replay_run(run_dir, metrics, changes):
    """`run_dir`'s run (`metrics`: its metrics.json) as trained with
    `changes`: (config.json, metrics.json, epochs recorded, epochs replayed,
    seconds recorded, seconds replayed)."""
    name = f"{metrics['experiment']}/{metrics['variant']} seed {metrics['seed']}"
    config = json.loads((run_dir / "config.json").read_text())
    history = metrics["history"]
    new_config = budgeted(config, changes, name)
    if new_config["epochs"] != config["epochs"] and config.get("lr_boundaries"):
        raise BudgetError(f"{name}: its learning-rate steps scale with its epochs, so a run of "
                          f"{new_config['epochs']} epochs is not a prefix of this one")
    prefix, stopped_early = replay(history, new_config, name)
    if not changes and (len(prefix), stopped_early) != (len(history), bool(metrics["stopped_early"])):
        raise BudgetError(f"{name}: its own budget replays to {len(prefix)} epochs (stopped early: "
                          f"{stopped_early}), where it trained {len(history)} "
                          f"({metrics['stopped_early']}): the replay's stop rule is not the "
                          "trainer's (linked_neurons/experiments/progress.py end_epoch)")
    summary = run_summary.summarize(new_config, prefix)
    extra = {k: v for k, v in metrics.items() if k not in summary}
    extra["stopped_early"] = stopped_early
    extra["fingerprint"] = {**metrics.get("fingerprint", {}), "config": config_digest(new_config)}
    seconds = lambda h: sum(r["seconds"] for r in h)  # noqa: E731
    return (new_config, {**summary, **extra}, len(history), len(prefix), seconds(history),
            seconds(prefix))


def group_seconds(runs):
    """A training job's seconds from its runs' (group_mode, seconds): the sum
    of runs trained one after another; a vmapped group's longest run's (each
    of its runs records the group's time while it trains)."""
    values = [seconds for _, seconds in runs]
    return max(values) if any(mode == "vmap" for mode, _ in runs) else sum(values)


def tables_of(build):
    """{experiment: its per-run table} of a build (tables/EXPERIMENT_runs.csv,
    one row per run the experiment reads, some of them another's runs)."""
    tables = {path.name.removesuffix("_runs.csv"): pd.read_csv(path)
              for path in sorted(Path(build, "tables").glob("*_runs.csv"))}
    if not tables:
        raise BudgetError(f"{build}: no tables/EXPERIMENT_runs.csv; give a build's results "
                          "directory (results/quick)")
    return tables


def run_dir(build, row):
    """A table row's run directory in `build` (its `run` column holds the
    path it was trained at: results/SCALE/runs/EXPERIMENT/VARIANT/SEED)."""
    parts = Path(row["run"]).parts
    return Path(build, "runs", *parts[len(parts) - 3:])


def rebuild(build, out, sets, table, claims_file, published_dir):
    """Write OUT (see the module doc); return (per-experiment seconds, claims)."""
    build, out = Path(build), Path(out)
    tables = tables_of(build)
    # Each run once, by its own experiment/variant (its directory): a run
    # that two experiments read (Table 5's, in Table 6) has one budget.
    dirs = sorted({run_dir(build, row) for frame in tables.values() for _, row in frame.iterrows()})
    recorded = {d: json.loads((d / "metrics.json").read_text()) for d in dirs}
    # experiment/variant as metrics.json names it (a directory may carry a
    # digest of overrides: VARIANT+DIGEST)
    group = {d: f"{m['experiment']}/{m['variant']}" for d, m in recorded.items()}
    groups = set(group.values())
    for pattern, _, _ in sets:
        if not fnmatch.filter(groups, pattern):
            raise BudgetError(f"--set {pattern}: no run of {build} matches; its groups are "
                              f"{', '.join(sorted(groups))}")
    # Every run replayed before anything is written: a refused one leaves no OUT.
    runs = {d: replay_run(d, recorded[d], [(k, v) for p, k, v in sets if fnmatch.fnmatch(group[d], p)])
            for d in dirs}
    replayed, seconds, cut, jobs = {}, {}, set(), {}
    for d, (config, metrics, n_before, n_after, s_before, s_after) in runs.items():
        replayed[d] = out / "runs" / d.relative_to(build / "runs")
        replayed[d].mkdir(parents=True)
        atomic_write_json(replayed[d] / "config.json", config)
        atomic_write_json(replayed[d] / "metrics.json", metrics)
        experiment = group[d].split("/")[0]
        totals = seconds.setdefault(experiment, [0, 0, 0.0, 0.0])
        totals[0] += 1
        totals[1] += n_after < n_before
        jobs.setdefault((experiment, d.parent), []).append((metrics.get("group_mode"), s_before, s_after))
        if n_after < n_before:
            cut.add(d)
    for (experiment, _), members in jobs.items():
        totals = seconds[experiment]
        totals[2] += group_seconds([(m, s) for m, s, _ in members])
        totals[3] += group_seconds([(m, s) for m, _, s in members])
    new_tables = {}
    for experiment, frame in tables.items():
        rows = [extract.extract_run(replayed[run_dir(build, row)] / "metrics.json",
                                    (row["experiment"], row["variant"], row["seed"]))[1]
                for _, row in frame.iterrows()]
        atomic_write_text(out / "tables" / f"{experiment}_runs.csv", pd.DataFrame(rows).to_csv(index=False))
        # Read back as the claims rule reads them (load_runs): the same types.
        new_tables[experiment] = pd.read_csv(out / "tables" / f"{experiment}_runs.csv")
    atomic_write_text(out / "runs.csv",
                      pd.concat(new_tables.values(), ignore_index=True).to_csv(index=False))
    use_table(table)
    spec = claims_code.load(claims_file)
    results = claims_code.evaluate(spec, new_tables, published_runs(published_dir))
    cut_units = {(row["experiment"], row["variant"]) for frame in tables.values()
                 for _, row in frame.iterrows() if run_dir(build, row) in cut}
    by_id = {s["id"]: s for s in spec["claims"]}
    for result in results:
        probed = {(c["experiment"], unit) for check in by_id[result["id"]]["checks"]
                  for c in [check.get("dead_units")] if c
                  for unit in c.get("dead", []) + c.get("alive", []) + c.get("reported", [])}
        if probed & cut_units:
            result["verdict"] = "not replayed"
            result["evidence"] = "dead units are probed after a run's last epoch, not replayable"
    columns = ["id", "verdict", "evidence"]
    atomic_write_text(out / "claims.csv", pd.DataFrame(
        [{k: r[k] for k in columns} for r in results], columns=columns).to_csv(index=False))
    return seconds, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", help="a build's results directory, e.g. results/quick")
    parser.add_argument("out", help="where to write the replayed build (a new directory)")
    parser.add_argument("--set", action="append", default=[], metavar="PATTERN:KEY=VALUE")
    parser.add_argument("--table", default=str(ROOT / "config" / "experiments.yaml"))
    parser.add_argument("--claims", default=str(ROOT / "config" / "claims.yaml"))
    parser.add_argument("--published", default=str(ROOT / "paper" / "published"))
    args = parser.parse_args(argv)
    quiet = logging.getLogger("extract")  # no events in OUT: the history is read
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        if Path(args.out).exists():
            raise BudgetError(f"{args.out} exists: give a new directory (nothing is overwritten)")
        sets = [parse_set(s) for s in args.set]
        seconds, _ = rebuild(args.build, args.out, sets, args.table, args.claims, args.published)
    except BudgetError as error:
        print(f"budget: {error}", file=sys.stderr)
        return 2
    finally:
        quiet.setLevel(level)  # as it was: main() runs in other processes' tests too
    print("| experiment | runs | cut | training seconds, recorded | replayed | saved |\n"
          "|---|---|---|---|---|---|")
    total = [0, 0, 0.0, 0.0]
    for experiment, (n, cut, before, after) in seconds.items():
        total = [a + b for a, b in zip(total, (n, cut, before, after))]
        print(f"| {experiment} | {n} | {cut} | {before:,.0f} | {after:,.0f} | {before - after:,.0f} |")
    print(f"| all | {total[0]} | {total[1]} | {total[2]:,.0f} | {total[3]:,.0f} | "
          f"{total[2] - total[3]:,.0f} ({1 - total[3] / total[2]:.0%}) |\n")
    compare_builds.report(args.build, args.out)
    return 0


if __name__ == "__main__":
    # extract.py's event reader (tbparse) needs no TensorFlow: as in its rule.
    sys.modules.setdefault("tensorflow", None)
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
    sys.exit(main())
