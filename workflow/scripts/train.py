"""The training job's entry point: `linked-neurons train`, started lean.

Keras imports scikit-learn, matplotlib and pandas at `import keras` whenever
they are installed (for its scikit-learn wrappers, image plotting and pandas
inputs), and the pipeline's environment has all three. A training run uses
none of them, and they cost about 0.9 of the 2 s that a job spends starting,
for each of the article's hundred runs. Marking them absent in `sys.modules`
makes their `import` raise ImportError, which Keras handles as "not
installed". (The digits loader finds scikit-learn's data file without
importing it.)

Usage: the same arguments as `python -m linked_neurons`, or, as the pipeline's
training rule runs it,

    train.py --pipeline-group EXPERIMENT/DIRECTORY --group-mode MODE [--exclusive] METRICS...

The rule's params hold only what identifies the group (what its runs train,
how they are grouped and timed), so that a change of a label (a title, the
table's path, a naming key) reruns no job; the rest of the command line is
rebuilt here from the group key, the job's outputs (one metrics.json per seed,
in runs/GROUP/SEED/) and the pipeline's settings, which common.smk puts in
$LINKED_NEURONS_PIPELINE (JSON: table, scale, overrides).
"""

import argparse
import json
import os
import sys
from pathlib import Path

SETTINGS = "LINKED_NEURONS_PIPELINE"


def pipeline_arguments(argv, environ=os.environ):
    """`linked-neurons` arguments of the pipeline's job `argv` (see the module doc)."""
    parser = argparse.ArgumentParser(prog="train.py")
    parser.add_argument("--pipeline-group", required=True)
    parser.add_argument("--group-mode", required=True)
    parser.add_argument("--exclusive", action="store_true")
    parser.add_argument("outputs", nargs="+")
    args = parser.parse_args(argv)
    if SETTINGS not in environ:
        parser.error(f"${SETTINGS} is not set: the pipeline (workflow/rules/common.smk) sets it")
    settings = json.loads(environ[SETTINGS])
    experiment, _, directory = args.pipeline_group.partition("/")
    variant = directory.partition("+")[0]
    runs = {Path(output).parent for output in args.outputs}
    group_dirs = {run.parent for run in runs}
    if len(group_dirs) != 1 or not experiment or not variant:
        parser.error(f"outputs {args.outputs} are not one group's runs/GROUP/SEED/metrics.json")
    seeds = sorted(run.name for run in runs)
    command = ["--table", settings["table"], "train", experiment, variant, "--seed", *seeds,
               "--scale", settings["scale"], "--out", str(group_dirs.pop() / "{seed}"),
               "--group-mode", args.group_mode, "--replace"]
    if args.exclusive:
        command.append("--exclusive")
    from linked_neurons_core.table import flatten  # after threads.leave_out()

    for key, value in flatten(settings.get("overrides") or {}).items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    return command


if __name__ == "__main__":
    # This directory's scripts (extract, latex, ...) must not shadow modules.
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    from linked_neurons_core import threads

    threads.leave_out()
    argv = sys.argv[1:]
    if argv and argv[0].startswith("--pipeline-group"):
        argv = pipeline_arguments(argv)
    from linked_neurons.cli import main

    sys.exit(main(argv))
