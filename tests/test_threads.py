"""A training job uses the threads it declares: no more busy threads than its
`threads` (workflow/rules/train.smk).

The job's environment is read from the training job's command as a dry run of
the pipeline prints it, so that the test checks what the pipeline runs. A child process with that
environment trains a quick network (depth, ResNet50) with the runner (jax), and samples
the CPU and runnable time of each of its threads (/proc/self/task/*/stat and
schedstat) once compiled and warm, and again after a few epochs: XLA's pool
may have as many busy threads (at least `BUSY_SHARE` of the training's CPU
time) as the job declares, and the threads together may be runnable (running
or waiting for a core) for at most `1 + MARGIN` times the wall time. Counts
and a load-independent ratio, not timings: it holds on a loaded machine.

Without the fix XLA's CPU client sized its intra-op pool to every core: a
one-thread job trained on two `tf_XLAEigen` threads (about half the work
each), because XLA ignored `intra_op_parallelism_threads=1` (no `--`, not an
XLA flag at all; with `--` XLA refuses it). `PJRT_NPROC` is what sizes the
pool (XLA's `DefaultThreadPoolSize`).
"""

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUSY_SHARE = 0.10
MARGIN = 0.4

CHILD = r"""
import json, os, sys, time
from linked_neurons_core import threads
threads.leave_out()
import numpy as np

from linked_neurons.experiments.loop import EpochRunner
from linked_neurons.experiments.models import build_model
from linked_neurons_core.table import Table
from linked_neurons.experiments.build import compile_for_training
from linked_neurons.experiments.data import prepare

def cpu():
    # {thread: [name, CPU seconds, seconds runnable (running or waiting for a core)]}
    tick = os.sysconf("SC_CLK_TCK")
    out = {"wall": time.monotonic()}
    for tid in os.listdir("/proc/self/task"):
        try:
            text = open(f"/proc/self/task/{tid}/stat").read()
            run, wait, _ = open(f"/proc/self/task/{tid}/schedstat").read().split()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        out[tid] = [text[text.index("(") + 1:text.rindex(")")],
                    (int(fields[11]) + int(fields[12])) / tick, (int(run) + int(wait)) / 1e9]
    return out

experiment, variant, overrides = json.loads(sys.argv[2])
config = Table().resolve(experiment, variant, "quick", overrides, 100)
(x, y) = prepare(config)[0]
model = build_model(config, x.shape[1:], 10)
steps = len(x) // config["batch_size"]
compile_for_training(model, config, steps)
runner = EpochRunner(model, x, y, config["batch_size"])
order = np.arange(len(x))
runner.run(order)  # compiles
runner.run(order)
warm = cpu()
for _ in range(int(sys.argv[1])):
    runner.run(order)
print(json.dumps({"warm": warm, "end": cpu()}))
"""


@functools.cache  # one dry run for every test that reads it (they only read)
def job_environment(threads):
    """The environment variables a training job's shell sets, for `threads`:
    from the command a dry run of the pipeline prints for a training job."""
    done = subprocess.run(
        ["snakemake", "-n", "-p", "--forceall", "--nolock", "--cores", str(threads),
         "--config", "experiments=[width]", "--set-threads", f"train={threads}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    command = next(line.partition("Shell command:")[2] for line in done.stdout.splitlines()
                   if "Shell command:" in line and "train.py" in line)
    env = {}
    for word in shlex.split(command):
        key, sep, value = word.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            break
        env[key] = value
    return env


def training_threads(env, network, epochs=6):
    """A warm training's threads of `network` ([experiment, variant,
    overrides], quick) in a process with `env`: ({thread: (name, CPU seconds,
    seconds runnable)}, wall seconds)."""
    full = {**os.environ, "KERAS_BACKEND": "jax", **env}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", CHILD, str(epochs), json.dumps(network)], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sample = json.loads(done.stdout.strip().splitlines()[-1])
    warm, end = sample.pop("warm"), sample.pop("end")
    wall = end.pop("wall") - warm.pop("wall")
    zero = [None, 0.0, 0.0]
    return {tid: (name, cpu - warm.get(tid, zero)[1], runnable - warm.get(tid, zero)[2])
            for tid, (name, cpu, runnable) in end.items()}, wall


def test_the_rule_sets_what_xla_reads():
    env = job_environment(1)
    assert env["PJRT_NPROC"] == "1"
    assert env["OMP_NUM_THREADS"] == "1"
    # XLA's flags are all --names; a bare word in XLA_FLAGS is silently ignored.
    assert all(flag.startswith("--") for flag in env["XLA_FLAGS"].split())


def test_a_benchmark_keeps_to_the_jobs_threads_unless_told_otherwise(monkeypatch):
    from linked_neurons_core import threads

    for key in ("KERAS_BACKEND", "OMP_NUM_THREADS", "PJRT_NPROC", "XLA_FLAGS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PJRT_NPROC", "2")  # the user's choice stands
    threads.keep_to(1)
    assert os.environ["PJRT_NPROC"] == "2"
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["XLA_FLAGS"] == threads.environment(1)["XLA_FLAGS"]
    assert os.environ["KERAS_BACKEND"] == "jax"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: XLA's default pool is one thread")
@pytest.mark.parametrize("network", [
    ["depth", "relu", {"depth": 12}],
    # 753 state arrays: passed to each step one by one (model.fit), their
    # dispatch kept the main thread busy beside XLA's (1.4-1.5 measured);
    # packed into one buffer per dtype (loop.py), 1.1.
    ["resnet50", "relu", {}],
], ids=lambda network: network[0])
def test_a_one_thread_job_trains_on_one_thread(network):
    pytest.importorskip("jax")
    threads, wall = training_threads(job_environment(1), network)
    total = sum(cpu for _, cpu, _ in threads.values())
    assert total > 0.2, f"too little training to judge: {total:.2f} s of CPU"
    # XLA's intra-op pool: as many working threads as declared (two before).
    pool = {tid: t for tid, t in threads.items()
            if t[0] == "tf_XLAEigen" and t[1] >= BUSY_SHARE * total}
    assert len(pool) <= 1, f"XLA's pool worked on {len(pool)} threads: {pool}"
    # Cores asked for: the time threads were running or waiting for a core,
    # over the wall time (load-independent, unlike CPU over wall). Besides
    # the pool, XLA's executing thread runs part of the program itself: 1.1-1.25
    # measured with PJRT_NPROC=1, 1.6-1.9 with the ignored flag.
    demand = sum(runnable for _, _, runnable in threads.values()) / wall
    assert demand <= 1 + MARGIN, (
        f"a job declaring 1 thread kept {demand:.2f} threads runnable on average: {threads}")
