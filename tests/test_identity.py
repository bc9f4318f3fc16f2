"""A run cannot be mislabelled, and the runner deletes only what it wrote
(issue 21, points 1, 2, 5 and 6).

- A run's identity is its seed, data, configuration and code: a directory
  holding another seed's run is refused with one line naming both, and a
  checkpoint never resumes into another seed; labels (title) are not identity.
- Files a user keeps in a run directory (notes in `checkpoint/`, another
  project's event file) are never deleted; a non-empty directory that holds
  no run of this project is refused unless --replace.
- A failed event-file write names the file and the run and leaves no empty
  event file behind.
- A lock written on another machine of the same host name is refused while
  its holder may live.
"""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from linked_neurons.experiments import events as eventsmod
from linked_neurons.experiments import rundir
from linked_neurons.experiments import train as trainmod
from linked_neurons.experiments.checkpoint import Checkpoints
from linked_neurons_core import lock as lockmod
from linked_neurons_core.io import OutputError
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.lock import RunLock
from linked_neurons_core.lock import RunLockedError
from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import Table
from linked_neurons_core.table import fingerprint

ROOT = Path(__file__).resolve().parents[1]
# The smallest run of the table: one epoch of a one-layer network on 64 digits.
SMALL = {"epochs": 1, "max_train_samples": 64, "width_scale": 0.25}
SMALL_ARGS = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]


def cli(*args, cwd):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "linked_neurons", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("linked-neurons:")]


def tree(directory):
    """{relative path: bytes} of every file under `directory`."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}


def train(out, seed=100, replace=False, **overrides):
    return trainmod.train_group("width", "w50_relu", [seed], out=out,
                                overrides={**SMALL, **overrides}, replace=replace)[0]


# --- 1. identity ----------------------------------------------------------------


def test_the_seed_is_identity_and_labels_are_not():
    table = Table()
    a = table.resolve("width", "w50_relu", "quick", seed=100)
    b = table.resolve("width", "w50_relu", "quick", seed=101)
    assert fingerprint(a, code="c") != fingerprint(b, code="c")
    titled = table.resolve("width", "w50_relu", "quick", {"title": "Another title"}, seed=100)
    assert fingerprint(a, code="c") == fingerprint(titled, code="c")


def test_another_seed_in_a_finished_run_directory_is_refused_naming_both(tmp_path):
    run = tmp_path / "run"
    assert cli("train", "width", "w50_relu", "--seed", "100", "--out", "run", *SMALL_ARGS,
               cwd=tmp_path).returncode == 0
    before = tree(run)
    result = cli("train", "width", "w50_relu", "--seed", "101", "--out", "run", *SMALL_ARGS,
                 cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "nothing to do" not in result.stderr
    (line,) = error_lines(result)
    assert "seed: 100 there, 101 now" in line and "--replace" in line
    assert tree(run) == before  # nothing written, nothing deleted
    assert json.loads((run / "metrics.json").read_text())["seed"] == 100
    # With --replace the directory holds seed 101's own run.
    assert cli("train", "width", "w50_relu", "--seed", "101", "--out", "run", *SMALL_ARGS,
               "--replace", cwd=tmp_path).returncode == 0
    assert json.loads((run / "metrics.json").read_text())["seed"] == 101
    assert json.loads((run / "config.json").read_text())["seed"] == 101


def test_a_checkpoint_never_resumes_into_another_seed(tmp_path):
    table = Table()
    config = {**table.resolve("width", "w50_relu", "quick", SMALL, seed=100)}
    other = {**config, "seed": 101}
    checkpoints = Checkpoints(tmp_path)
    state = {"fingerprint": fingerprint(config), "epoch": 0, "step": 3, "history": []}
    checkpoints.save([np.zeros(2)], state)
    assert checkpoints.load([(2,)], fingerprint(config)) is not None
    assert checkpoints.load([(2,)], fingerprint(other)) is None
    # The unfinished run of seed 100 is refused to a run of seed 101.
    atomic_write_json(tmp_path / "config.json", config)
    run = rundir.Run(other, tmp_path)
    with pytest.raises(ConfigError, match="unfinished run of another configuration "
                                          r"\(seed: 100 there, 101 now\)"):
        rundir.open_runs([run], replace=False)
    assert checkpoints.load([(2,)], fingerprint(config)) is not None  # still there


# --- 2. foreign files -------------------------------------------------------------


def user_files(directory):
    (directory / "checkpoint").mkdir(parents=True)
    (directory / "checkpoint" / "my-notes.txt").write_text("my notes\n")
    (directory / "events.out.tfevents.123.otherproject").write_bytes(b"another project's events")
    return tree(directory)


def test_a_directory_of_foreign_files_is_refused_and_left_as_it_was(tmp_path):
    userdir = tmp_path / "scratch" / "userdir"
    before = user_files(userdir)
    result = cli("train", "width", "w50_relu", "--seed", "100", "--out", str(userdir),
                 *SMALL_ARGS, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = error_lines(result)
    assert "holds no run of this project" in line and "checkpoint/my-notes.txt" in line
    assert "--replace" in line
    assert tree(userdir) == before


def test_with_replace_only_the_runs_own_files_go(tmp_path):
    userdir = tmp_path / "userdir"
    before = user_files(userdir)
    assert train(userdir, replace=True)["seed"] == 100
    # Retrained with another configuration, and again as a finished run.
    assert train(userdir, replace=True, epochs=2)["epochs_run"] == 2
    after = tree(userdir)
    for name, content in before.items():
        assert after[name] == content
    ours = [n for n in after if n.startswith("events.out.tfevents.") and n not in before]
    assert len(ours) == 1  # the first run's event file went, and only it
    assert json.loads((userdir / eventsmod.EVENTS_RECORD).read_text()) == ours


def test_clearing_checkpoints_keeps_a_users_files(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    for epoch in range(3):
        checkpoints.save([np.zeros(1)], {"epoch": epoch, "step": 0})
    (checkpoints.dir / "my-notes.txt").write_text("keep me")
    (checkpoints.dir / "epoch-0001-step-00000.json.bak").write_text("mine too")
    checkpoints.clear()
    assert sorted(p.name for p in checkpoints.dir.iterdir()) == [
        "epoch-0001-step-00000.json.bak", "my-notes.txt"]
    (checkpoints.dir / "my-notes.txt").unlink()
    (checkpoints.dir / "epoch-0001-step-00000.json.bak").unlink()
    checkpoints.save([np.zeros(1)], {"epoch": 0, "step": 1})
    checkpoints.clear()
    assert not checkpoints.dir.exists()  # empty once ours are gone: removed


# --- 5. a failed event-file write ---------------------------------------------------


@pytest.mark.parametrize("fail_at", ["open", "first write", "epoch"])
def test_a_full_disk_on_the_event_file_names_file_and_run_and_leaves_no_file(
        tmp_path, monkeypatch, fail_at):
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if "tfevents" not in str(path):
            return real_open(path, mode, *args, **kwargs)
        if fail_at == "open":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_open(path, mode).close()  # the file exists, as a real open makes it
        return real_open("/dev/full", "wb")

    monkeypatch.setattr(eventsmod, "open", full_disk, raising=False)
    if fail_at == "epoch":  # the file takes its first events, then the disk fills
        calls = {"n": 0}

        def later(path, mode="r", *args, **kwargs):
            if "tfevents" in str(path):
                calls["n"] += 1
                return _FailingAfter(real_open(path, mode), 2)
            return real_open(path, mode, *args, **kwargs)

        monkeypatch.setattr(eventsmod, "open", later, raising=False)
    with pytest.raises(OutputError) as caught:
        train(tmp_path / "run")
    message = str(caught.value)
    assert "\n" not in message and "width/w50_relu seed 100" in message
    assert "events.out.tfevents." in message and "No space left on device" in message
    assert caught.value.errno == errno.ENOSPC
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))
    recorded = tmp_path / "run" / eventsmod.EVENTS_RECORD
    assert not recorded.exists() or json.loads(recorded.read_text()) == []


class _FailingAfter:
    """A file whose flushes fail with ENOSPC after `n` good ones."""

    def __init__(self, f, n):
        self.f, self.n = f, n

    def write(self, data):
        return self.f.write(data)

    def flush(self):
        self.n -= 1
        if self.n < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.f.flush()

    def fileno(self):
        return self.f.fileno()

    def close(self):
        self.f.close()


def test_the_cli_prints_one_line_for_a_full_disk(tmp_path):
    # As a user sees it: the CLI, whose event file writes go to /dev/full (a
    # sitecustomize points them there), as on a full disk.
    (tmp_path / "sitecustomize.py").write_text(
        "import builtins\n"
        "_open = builtins.open\n"
        "def _full(path, mode='r', *a, **k):\n"
        "    if 'tfevents' in str(path) and 'x' in mode:\n"
        "        _open(path, mode).close()\n"
        "        return _open('/dev/full', 'wb')\n"
        "    return _open(path, mode, *a, **k)\n"
        "builtins.open = _full\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run([sys.executable, "-m", "linked_neurons", "train", "width", "w50_relu",
                             "--seed", "100", "--out", "run", *SMALL_ARGS], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result)
    assert line.startswith("linked-neurons: error: width/w50_relu seed 100: cannot write run/events")
    assert line.endswith(": No space left on device")
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))


# --- 6. locks of another machine of the same host name --------------------------------


needs_machine_ids = pytest.mark.skipif(
    lockmod._boot_id() is None or not Path("/etc/machine-id").is_file(),
    reason="needs /proc's boot id and /etc/machine-id")


def write_lock(run_dir, **changes):
    record = {**lockmod._record(), **changes}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ".lock").write_text(json.dumps(record))
    return record


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@needs_machine_ids
def test_a_lock_of_another_machine_with_this_host_name_is_refused(tmp_path):
    # A clone: same host name, another boot id and another machine id; its
    # PID means nothing here (ours is alive, a dead one is dead: both refused).
    for pid in (os.getpid(), dead_pid()):
        write_lock(tmp_path, boot_id="another-boot", machine_id="another-machine", pid=pid)
        with pytest.raises(RunLockedError) as caught:
            RunLock(tmp_path).acquire()
        assert str(tmp_path / ".lock") in str(caught.value) and "\n" not in str(caught.value)
        assert json.loads((tmp_path / ".lock").read_text())["machine_id"] == "another-machine"
    # Another boot id and no machine id (an older lock, or none to read): cannot tell.
    write_lock(tmp_path, boot_id="another-boot", machine_id=None)
    with pytest.raises(RunLockedError):
        RunLock(tmp_path).acquire()


@needs_machine_ids
def test_a_lock_of_this_machine_before_a_reboot_is_taken_over(tmp_path):
    write_lock(tmp_path, boot_id="an-earlier-boot", pid=os.getpid())
    with RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["boot_id"] == lockmod._boot_id()
    # The lock records the machine id.
    assert lockmod._record()["machine_id"] == Path("/etc/machine-id").read_text().strip()


# --- 7. exclusive timing is measured ------------------------------------------------


def test_a_span_is_exclusive_only_when_measured_so(monkeypatch):
    from linked_neurons.experiments import usage

    clock = {"wall": 0.0, "own": 0.0, "machine": 0.0, "steal": 0.0}
    monkeypatch.setattr(usage.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(usage, "process_cpu_seconds", lambda: clock["own"])
    monkeypatch.setattr(usage, "machine_cpu", lambda: (clock["machine"], clock["steal"]))
    span = usage.Span()
    clock.update(wall=10.0, own=20.0, machine=20.5)  # two cores ours, 0.05 core other
    assert span.summary(requested=True)["device_exclusive"] is True
    assert span.summary(requested=False)["device_exclusive"] is False
    clock.update(machine=30.0)  # another process used a core all along
    result = span.summary(requested=True)
    assert result["device_exclusive"] is False
    assert result["device_usage"]["other_cores"] == pytest.approx(1.0)
    assert result["device_usage"]["steal_cpu_seconds"] == 0.0
    clock.update(steal=4.0)  # ... or the host gave 4 of those 10 s to other machines
    assert span.summary(requested=True)["device_usage"]["steal_cpu_seconds"] == pytest.approx(4.0)
    monkeypatch.setattr(usage, "machine_cpu", lambda: None)  # not Linux
    result = usage.Span().summary(requested=True)
    assert result["device_exclusive"] is False and result["device_usage"]["measured"] is False


def test_each_timed_run_is_measured_over_its_own_span(monkeypatch):
    from linked_neurons.experiments import usage
    from linked_neurons.experiments.rundir import Timing

    clock = {"wall": 0.0, "own": 0.0, "machine": 0.0}
    monkeypatch.setattr(usage.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(usage, "process_cpu_seconds", lambda: clock["own"])
    monkeypatch.setattr(usage, "machine_cpu", lambda: (clock["machine"], 0.0))

    def run(other):  # a run of 10 s on two cores, beside `other` CPU seconds of other work
        clock["wall"] += 10.0
        clock["own"] += 20.0
        clock["machine"] += 20.0 + other

    timing = Timing(requested=True)
    seen = []
    for other in (0.0, 0.0, 3.0, 0.0):  # the third seed beside 0.3 of a core
        run(other)
        seen.append(timing.summary())
    assert [s["device_exclusive"] for s in seen] == [True, True, False, True]
    third = seen[2]["device_usage"]
    # Its own 10 s, not the group's 30 (over which the 3 s would read 0.1 and pass).
    assert third["span_seconds"] == pytest.approx(10.0)
    assert third["other_cores"] == pytest.approx(0.3)
    # A group that asked for no exclusivity (a vmapped group's runs train at
    # once) records the group's span so far.
    timing = Timing(requested=False)
    run(0.0)
    timing.summary()
    run(0.0)
    assert timing.summary()["device_usage"]["span_seconds"] == pytest.approx(20.0)


def test_the_machines_busy_and_stolen_time_are_read_from_proc_stat(tmp_path):
    from linked_neurons.experiments import usage

    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    #          user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  700 100 200 9000 50 10 20 300 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    busy, steal = usage.machine_cpu(stat)
    assert busy == pytest.approx((700 + 100 + 200 + 10 + 20 + 300) / tick)
    assert steal == pytest.approx(300 / tick)
    stat.write_text("intr 1 2 3\n")  # not the cpu line: not measured
    assert usage.machine_cpu(stat) is None
    assert usage.machine_cpu(tmp_path / "absent") is None


def test_early_stopping_ends_a_run_at_its_plateau_and_only_then(tmp_path):
    # min_delta 1.0: no epoch can beat the best by more, so the run stops as
    # soon as min_epochs have run with `patience` epochs after its first.
    policy = {"patience": 2, "min_delta": 1.0, "min_epochs": 3}
    metrics = train(tmp_path / "stops", epochs=10, early_stopping=policy)
    assert (metrics["epochs_run"], metrics["stopped_early"]) == (3, True)
    metrics = train(tmp_path / "runs", epochs=4, early_stopping=None)
    assert (metrics["epochs_run"], metrics["stopped_early"]) == (4, False)


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc/stat")
def test_a_timed_run_beside_other_work_is_not_recorded_exclusive(tmp_path):
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        metrics = trainmod.train_group("width", "w50_relu", [100], out=tmp_path / "run",
                                       overrides={**SMALL, "epochs": 2}, exclusive=True)[0]
    finally:
        busy.kill()
        busy.wait()
    assert metrics["device_exclusive"] is False
    usage = metrics["device_usage"]
    assert usage["measured"] and usage["exclusive_requested"]
    assert usage["other_cores"] > 0.5  # the busy loop's core, at least half of it
    # Recorded with it: how much of the other work the host gave to other machines.
    assert 0.0 <= usage["steal_cpu_seconds"] <= usage["other_cpu_seconds"]


def test_a_job_alone_on_its_device_trains_through_fit_with_the_same_numbers(tmp_path, monkeypatch):
    """A timed (exclusive) job's runner calls model.fit, a shared one packs
    its state (loop.py): the scheduling changes the dispatch, not the run."""
    import keras

    from linked_neurons.experiments import loop

    if keras.backend.backend() != "jax":
        pytest.skip("other backends always call model.fit")
    packed = []

    class Recorded(loop.EpochRunner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            packed.append(self.packed)

    monkeypatch.setattr(loop, "EpochRunner", Recorded)
    runs = {alone: trainmod.train_group("width", "w50_relu", [100], out=tmp_path / str(alone),
                                        overrides={**SMALL, "epochs": 2}, exclusive=alone)[0]
            for alone in (False, True)}
    assert packed == [True, False]

    def numbers(metrics):  # all but the times
        history = [{k: v for k, v in epoch.items() if k not in ("seconds", "wall")}
                   for epoch in metrics["history"]]
        return history, metrics["test_correct"], metrics["dead_units"]

    assert numbers(runs[False]) == numbers(runs[True])
    assert runs[False]["history"][1]["loss"] != runs[False]["history"][0]["loss"]

# --- 8. the code digest covers the code a run executes -----------------------------

# The modules of linked_neurons and linked_neurons_core that a training run
# loads and that only read, name, schedule or record, so that an edit to them
# cannot change a run's numbers: they are not in `table.CODE` (an edit to them
# does not retrain every run). Paths relative to the folder of both packages.
NOT_NUMERICS = {
    "linked_neurons/__main__.py", "linked_neurons/cli.py",  # the command line
    "linked_neurons/experiments/__init__.py",
    "linked_neurons/experiments/rundir.py",  # what a directory holds: finished, resume, refuse
    "linked_neurons/experiments/events.py",  # TensorBoard event files, written from the history
    "linked_neurons/experiments/usage.py",  # timing
    "linked_neurons_core/__init__.py",
    "linked_neurons_core/table.py",  # the table: a run's configuration is fingerprinted itself
    "linked_neurons_core/io.py", "linked_neurons_core/lock.py",  # files and the run directory's lock
    "linked_neurons_core/provenance.py",  # versions, device
    # Summaries of a history (early stopping's test, `plateaued`, and the
    # epochs it counts are in stopping.py, which is digested).
    "linked_neurons_core/metrics.py",
}


def test_every_module_a_run_loads_is_in_the_code_digest_or_named_harmless(tmp_path):
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import linked_neurons\n"
        "from linked_neurons.experiments.train import train_group\n"
        f"small = {SMALL!r}\n"
        "for mode in ('sequential', 'vmap'):\n"
        "    train_group('width', 'w50_relu', [100, 101], out=sys.argv[1] + '/' + mode + '/{seed}',\n"
        "                overrides=small, mode=mode)\n"
        "import linked_neurons_core\n"
        "roots = {Path(p.__file__).resolve().parent for p in (linked_neurons, linked_neurons_core)}\n"
        "files = {str(Path(m.__file__).resolve().relative_to(root.parent))\n"
        "         for m in list(sys.modules.values()) if getattr(m, '__file__', None)\n"
        "         for root in roots if Path(m.__file__).resolve().is_relative_to(root)}\n"
        "print(json.dumps(sorted(files)))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    from linked_neurons_core.table import _source_root
    from linked_neurons_core.table import code_files

    root = Path(_source_root())
    digested = {str(p.relative_to(root)) for p in code_files()}
    assert {"linked_neurons/experiments/train.py", "linked_neurons/experiments/epochs.py",
            "linked_neurons_core/table.py", "linked_neurons_core/stopping.py"} <= loaded
    assert "linked_neurons_core/stopping.py" in digested  # when a run stops is a result
    assert "linked_neurons_core/vocabulary.py" in digested  # how its activations are built
    assert loaded - digested - NOT_NUMERICS == set(), (
        "modules a run executes, neither in table.CODE nor named harmless in NOT_NUMERICS")
    assert not NOT_NUMERICS & digested
