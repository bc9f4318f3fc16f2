"""`linked-neurons`: list the experiments of the article, train one run.

    linked-neurons list [EXPERIMENT] [--scale quick|paper] [--protocol text|scripts]
    linked-neurons train EXPERIMENT VARIANT [--seed N [N ...]] [--scale quick|paper]
                         [--out DIR] [--set KEY=VALUE ...] [--group-mode MODE]
                         [--exclusive] [--replace]

The Keras backend is KERAS_BACKEND's (the pipeline sets jax).
"""

import argparse
import importlib.metadata
import logging
import sys

# The command line's own packages, the `cli` extra's: module -> distribution.
CLI_EXTRA = {
    "yaml": "pyyaml",
    "jsonschema": "jsonschema",
    "tensorboard": "tensorboard",
    "sklearn": "scikit-learn",
}
NEEDS = {"list": ("yaml", "jsonschema"), "train": tuple(CLI_EXTRA)}


def _parser():
    parser = argparse.ArgumentParser(prog="linked-neurons", description=__doc__.split("\n")[0])
    parser.add_argument("--table", help="experiment table (default: config/experiments.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    lister = sub.add_parser("list", help="print the experiments and their variants")
    lister.add_argument("experiment", nargs="?")
    lister.add_argument("--scale", default="quick", choices=("quick", "paper"))
    lister.add_argument(
        "--protocol",
        help="resolve the runs under this protocol (default: the table's, text); either way "
        "the values where the authors' scripts differ from the paper's text are listed",
    )
    trainer = sub.add_parser("train", help="train one run, or one run per seed in one process")
    trainer.add_argument("experiment")
    trainer.add_argument("variant")
    trainer.add_argument("--seed", type=int, nargs="+",
                         help="one or more seeds, trained as a group (default: the experiment's first)")
    trainer.add_argument("--scale", default="quick", choices=("quick", "paper"))
    trainer.add_argument(
        "--out",
        help="the run's directory; with several seeds, {seed} marks where they differ "
        "(default: results/SCALE/runs/EXPERIMENT/VARIANT/{seed})",
    )
    trainer.add_argument(
        "--group-mode", default="auto", choices=("auto", "sequential", "vmap"),
        help="several seeds: one after another on one compiled model, or at once, vmapped "
        "(jax); auto: vmap on a GPU or TPU, sequential elsewhere",
    )
    trainer.add_argument("--exclusive", action="store_true",
                         help="record that this job has its device to itself (timed runs)")
    trainer.add_argument("--replace", action="store_true",
                         help="retrain a directory that holds a run of another configuration or code")
    trainer.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration key, e.g. --set epochs=3 --set optimizer.learning_rate=0.1",
    )
    return parser


def _list(table, experiment, scale, protocol=None):
    """Each experiment, its variants, and the values that protocol `scripts`
    changes (`key: text value -> scripts value`, with the variants concerned
    where not all)."""
    import json

    names = [experiment] if experiment else list(table.experiments)
    differences = []
    if "scripts" in table.protocols:
        differences = table.protocol_differences(scale, names, protocol)
    for name in names:
        variants = table.variants(name)
        config = table.resolve(name, variants[0], scale, protocol=protocol)
        print(
            f"{name}: {config['architecture']} on {config['dataset']}, "
            f"{config['epochs']} epochs, seeds {config['seeds']} "
            f"({len(variants)} variants, protocol {config['protocol']})"
        )
        if experiment:
            for variant in variants:
                owner = table.trained_as(name, variant, scale, protocol=protocol)
                shared = f"  (trained as {'/'.join(owner)})" if owner != (name, variant) else ""
                print(f"  {variant}{shared}")
        else:
            print("  " + " ".join(variants))
        for row in (r for r in differences if r["experiment"] == name):
            which = "" if row["all_variants"] else f"  [{' '.join(row['variants'])}]"
            print(f"  text -> scripts: {row['key']}: {json.dumps(row['text'])} -> "
                  f"{json.dumps(row['scripts'])}{which}")


def missing_packages(command):
    """The distributions of the `cli` extra that `command` needs and lacks
    (by their installed metadata: the pipeline's lean entry hides modules a
    run does not import, such as scikit-learn, from `import`)."""
    missing = []
    for module in NEEDS[command]:
        try:
            importlib.metadata.distribution(CLI_EXTRA[module])
        except importlib.metadata.PackageNotFoundError:
            missing.append(CLI_EXTRA[module])
    return missing


def main(argv=None):
    args = _parser().parse_args(argv)
    missing = missing_packages(args.command)
    if missing:  # installed without the extra: say which, not a traceback
        names = ", ".join(missing[:-1]) + " and " * (len(missing) > 1) + missing[-1]
        print(
            f'linked-neurons: error: the command line needs {names}: '
            'pip install "linked-neurons[cli]"',
            file=sys.stderr,
        )
        return 2
    from linked_neurons_core.table import ConfigError
    from linked_neurons_core.table import Table
    from linked_neurons_core.table import parse_overrides

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("jax").setLevel(logging.WARNING)  # not "Unable to initialize backend 'tpu'"
    try:
        table = Table(args.table)
        if args.command == "list":
            _list(table, args.experiment, args.scale, args.protocol)
            return 0
        overrides = parse_overrides(args.set)
        from linked_neurons.experiments.train import Interrupted
        from linked_neurons.experiments.train import describe
        from linked_neurons.experiments.train import train_group
        from linked_neurons_core.datasets import DatasetUnavailableError
        from linked_neurons_core.io import DamagedFileError
        from linked_neurons_core.io import OutputError
        from linked_neurons_core.lock import RunLockedError

        seeds = args.seed or [table.resolve(args.experiment, args.variant, args.scale,
                                            overrides)["seeds"][0]]
        try:
            results = train_group(args.experiment, args.variant, seeds, scale=args.scale,
                                  out=args.out, overrides=overrides, table=table,
                                  mode=args.group_mode, exclusive=args.exclusive,
                                  replace=args.replace)
        except Interrupted as stop:
            print(f"linked-neurons: interrupted: {stop}", file=sys.stderr)
            return 128 + int(stop.signum)
        except (DatasetUnavailableError, DamagedFileError, OutputError, RunLockedError) as error:
            print(f"linked-neurons: error: {error}", file=sys.stderr)
            return 1
    except ConfigError as error:
        print(f"linked-neurons: error: {error}", file=sys.stderr)
        return 2
    for metrics in results:
        print(describe(metrics))
    return 0

if __name__ == "__main__":
    sys.exit(main())
