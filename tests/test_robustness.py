"""Files and runs that survive their cluster (issue 17): outputs that respect
the umask, write and JSON errors that name the file, one trainer per run
directory, and a failed LaTeX build that keeps the last good PDF."""

import ast
import errno
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from linked_neurons_core import io
from linked_neurons_core import lock as lockmod
from linked_neurons_core.io import DamagedFileError
from linked_neurons_core.io import OutputError
from linked_neurons_core.lock import RunLock
from linked_neurons_core.lock import RunLockedError

ROOT = Path(__file__).resolve().parents[1]
COMPILE_PDF = ROOT / "workflow" / "scripts" / "compile_pdf.sh"
# Child processes import the checkout's lock.py, which needs nothing else (no Keras).
LOAD_LOCK = (
    "import sys\n"
    f"sys.path.insert(0, {str(ROOT)!r})\n"
    "from linked_neurons_core import lock\n"
)


@pytest.fixture
def umask():
    """Set the process umask for one test."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def write_every_way(directory):
    """One file per writer of io.py; their paths."""
    arrays = [np.arange(3.0), np.eye(2)]
    paths = {
        "text": directory / "a.txt",
        "json": directory / "sub" / "b.json",
        "bytes": directory / "c.bin",
        "with": directory / "d.npz",
        "by_name": directory / "e.npz",
    }
    io.atomic_write_text(paths["text"], "text\n")
    io.atomic_write_json(paths["json"], {"a": 1})
    io.atomic_write_bytes(paths["bytes"], b"\x00\x01")
    io.atomic_write_with(paths["with"], lambda f: np.savez(f, *arrays))
    io.atomic_write_with(paths["by_name"], lambda name: np.savez(name, *arrays), by_name=True)
    return paths


def leftovers(directory):
    return sorted(p.name for p in directory.rglob("*") if p.name.startswith("."))


# --- io: umask, errors that name the file -----------------------------------


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
                         ids=["umask022", "umask077", "umask002"])
def test_outputs_get_the_mode_the_umask_asks_for(tmp_path, umask, mask, expected):
    umask(mask)
    paths = write_every_way(tmp_path)
    assert {name: oct(mode(p)) for name, p in paths.items()} == {
        name: oct(expected) for name in paths
    }
    assert leftovers(tmp_path) == []
    assert io.read_json(paths["json"]) == {"a": 1}
    with np.load(paths["by_name"]) as archive:
        np.testing.assert_array_equal(archive["arr_1"], np.eye(2))


def test_replacing_a_private_file_gives_the_umask_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "metrics.json"
    path.write_text("{}")
    path.chmod(0o600)  # as mkstemp left every output before
    io.atomic_write_json(path, {"a": 1})
    assert mode(path) == 0o644


@pytest.mark.parametrize("fail_in", ["fsync", "write"])
def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "run" / "metrics.json"
    io.atomic_write_json(path, {"old": True})
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if fail_in == "fsync":
        monkeypatch.setattr(io.os, "fsync", full)
        write = lambda: io.atomic_write_json(path, {"new": True})  # noqa: E731
    else:
        write = lambda: io.atomic_write_with(path, full)  # noqa: E731
    with pytest.raises(OutputError) as caught:
        write()
    error = caught.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert str(error) == f"cannot write {path}: No space left on device"
    assert error.filename == str(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_full_disk_while_writing_bytes_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "epoch-0001.npz"
    monkeypatch.setattr(io.os, "replace", lambda *a: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OutputError, match=f"cannot write {path}: No space left on device"):
        io.atomic_write_bytes(path, b"data")
    assert not path.exists() and leftovers(tmp_path) == []


def test_a_writer_error_about_another_file_passes_through(tmp_path):
    missing = tmp_path / "no" / "such" / "input"

    def write(f):
        f.write(missing.read_bytes())

    with pytest.raises(FileNotFoundError) as caught:
        io.atomic_write_with(tmp_path / "out.bin", write)
    assert not isinstance(caught.value, OutputError)
    assert str(missing) in str(caught.value)
    assert leftovers(tmp_path) == [] and not (tmp_path / "out.bin").exists()


# What writes a file: a method (fig.savefig, path.write_text, frame.to_csv with
# a path) or the builtin open() for writing.
_WRITERS = {"savefig", "write_text", "write_bytes", "to_csv", "to_json", "to_parquet"}


def _unguarded_writes(tree):
    """Lines of `tree`'s calls that write a file and are not inside a call of
    linked_neurons_core.io's atomic_write_* (as the writer it is given)."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def guarded(node):
        while node in parents:
            node = parents[node]
            func = getattr(node, "func", None)
            if isinstance(node, ast.Call) and getattr(func, "id", getattr(func, "attr", "")).startswith(
                    "atomic_write"):
                return True
        return False

    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, keywords = node.func, {k.arg: k.value for k in node.keywords}
        if isinstance(func, ast.Attribute) and func.attr in _WRITERS:
            writes = func.attr != "to_csv" or bool(node.args) or "path_or_buf" in keywords
        elif isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else keywords.get("mode")
            writes = isinstance(mode, ast.Constant) and any(c in mode.value for c in "wax")
        else:
            continue
        if writes and not guarded(node):
            lines.append(node.lineno)
    return lines


def test_every_script_of_the_workflow_writes_its_files_atomically():
    """A rule's script writes each output through linked_neurons_core.io's
    atomic writers (a reader, or a job stopped mid-write, sees the old file or
    the new one, never a part): a static check of every script."""
    found = {script.name: _unguarded_writes(ast.parse(script.read_text()))
             for script in sorted((ROOT / "workflow" / "scripts").glob("*.py"))}
    assert {name: lines for name, lines in found.items() if lines} == {}
    # The check sees what it is meant to.
    assert _unguarded_writes(ast.parse("fig.savefig(out)\nopen(p, 'w')\nframe.to_csv(p)\n")) == [1, 2, 3]
    assert _unguarded_writes(ast.parse(
        "atomic_write_with(out, lambda f: fig.savefig(f))\nframe.to_csv(index=False)\nopen(p)\n")) == []


@pytest.mark.parametrize("content, reason", [
    ('{"history": [0.1, 0.2', "invalid JSON"),
    ("", "empty file"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_a_damaged_json_file_is_named(tmp_path, content, reason):
    path = tmp_path / "checkpoint" / "epoch-0010.json"
    path.parent.mkdir()
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(DamagedFileError) as caught:
        io.read_json(path)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert message.startswith(f"{path} is damaged ({reason}")
    assert "\n" not in message
    named = caught.value.within("run depth/relu/1")
    assert str(named).startswith(f"run depth/relu/1: {path} is damaged")
    with pytest.raises(DamagedFileError, match=r"^run x: .*config\.json is damaged"):
        (tmp_path / "config.json").write_text("{")
        io.read_json(tmp_path / "config.json", context="run x")


def test_the_core_imports_no_keras_backend_or_layers():
    # linked_neurons_core is what the Snakefile and the workflow's light jobs
    # import: Keras, a backend or the layers' package (which imports Keras)
    # would cost them seconds each. io and lock need not even NumPy.
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import linked_neurons_core.io, linked_neurons_core.lock\n"
        "assert 'numpy' not in sys.modules, 'io and lock import numpy'\n"
        "import linked_neurons_core.table, linked_neurons_core.metrics, linked_neurons_core.provenance\n"
        "import linked_neurons_core.vocabulary, linked_neurons_core.stopping, linked_neurons_core.datasets\n"
        "import linked_neurons_core.analysis.claims, linked_neurons_core.analysis.tables\n"
        "import linked_neurons_core.analysis.published, linked_neurons_core.analysis.numbers\n"
        "heavy = {'keras', 'jax', 'tensorflow', 'torch', 'linked_neurons'} & set(sys.modules)\n"
        "assert not heavy, f'the core imported {sorted(heavy)}'\n"
        "assert linked_neurons_core.table.__file__.startswith(sys.path[0]), 'not the checkout'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


# --- one trainer per run directory ------------------------------------------


def hold_in_child(run_dir):
    """A second process holding `run_dir`'s lock until its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", LOAD_LOCK
         + "with lock.RunLock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n",
         str(run_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_trainer_is_refused_at_once_naming_the_holder(tmp_path):
    run_dir = tmp_path / "runs" / "depth" / "relu" / "1"
    child = hold_in_child(run_dir)
    try:
        record = json.loads((run_dir / ".lock").read_text())
        assert (record["host"], record["pid"]) == (socket.gethostname(), child.pid)
        start = time.monotonic()
        with pytest.raises(RunLockedError) as caught:
            RunLock(run_dir).acquire()
        assert time.monotonic() - start < 1.0
        assert str(caught.value) == (
            f"{run_dir} is being trained by PID {child.pid} on host {socket.gethostname()} "
            f"since {record['started']}; wait for it to finish, or if that process is gone, "
            f"delete {run_dir / '.lock'}"
        )
        assert (run_dir / ".lock").exists()  # the refused one leaves it alone
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0 and not (run_dir / ".lock").exists()
    with RunLock(run_dir):
        pass


def test_a_second_trainer_process_exits_with_one_line(tmp_path):
    with RunLock(tmp_path):
        result = subprocess.run(
            [sys.executable, "-c", LOAD_LOCK
             + "try:\n    lock.RunLock(sys.argv[1]).acquire()\n"
               "except lock.RunLockedError as e:\n    sys.exit(str(e))\n",
             str(tmp_path)],
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"is being trained by PID {os.getpid()} on host {socket.gethostname()}" in result.stderr


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(run_dir, **changes):
    record = {**lockmod._record(), **changes}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ".lock").write_text(json.dumps(record))
    return record


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    pid = dead_pid()
    write_lock(tmp_path, pid=pid)
    with caplog.at_level(logging.WARNING), RunLock(tmp_path):
        record = json.loads((tmp_path / ".lock").read_text())
        assert record["pid"] == os.getpid()
    assert f"removed the stale lock {tmp_path / '.lock'} of PID {pid}" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_lock_of_a_reused_pid_is_stale(tmp_path):
    # Our own PID, but recorded with another process start: the holder is gone.
    write_lock(tmp_path, process_start=1)
    with RunLock(tmp_path):
        pass


def test_of_two_takers_of_a_stale_lock_one_wins(tmp_path):
    write_lock(tmp_path, pid=dead_pid())
    start = time.time() + 0.5
    racer = LOAD_LOCK + (
        "import time\n"
        "while time.time() < float(sys.argv[2]): pass\n"
        "try:\n"
        "    with lock.RunLock(sys.argv[1]):\n"
        "        print('won', flush=True); time.sleep(0.5)\n"
        "except lock.RunLockedError:\n"
        "    print('refused')\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", racer, str(tmp_path), str(start)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for _ in range(4)]
    results = sorted(child.communicate(timeout=60)[0].strip() for child in children)
    assert results == ["refused", "refused", "refused", "won"]
    assert list(tmp_path.iterdir()) == []


def test_a_lock_of_another_host_is_refused(tmp_path):
    write_lock(tmp_path, host="node-07", pid=dead_pid(), started="2026-01-02T03:04:05+00:00")
    with pytest.raises(RunLockedError, match=r"is being trained by PID \d+ on host node-07 "
                                             r"since 2026-01-02T03:04:05\+00:00; wait"):
        RunLock(tmp_path).acquire()


def test_an_empty_lock_file_is_refused(tmp_path):
    (tmp_path / ".lock").write_text("")
    with pytest.raises(RunLockedError, match="names no holder"):
        RunLock(tmp_path).acquire()


def test_the_lock_is_released_on_an_exception(tmp_path):
    with pytest.raises(ZeroDivisionError), RunLock(tmp_path):
        assert (tmp_path / ".lock").exists()
        raise ZeroDivisionError
    assert not (tmp_path / ".lock").exists()
    with RunLock(tmp_path):
        pass


def test_a_group_of_runs_is_locked_all_or_nothing(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    with RunLock(a, b, c):
        assert all((d / ".lock").exists() for d in (a, b, c))
        with pytest.raises(RunLockedError, match=f"^{b} is being trained"):
            RunLock(c, b).acquire()
    assert not any((d / ".lock").exists() for d in (a, b, c))
    write_lock(c, host="elsewhere")
    with pytest.raises(RunLockedError, match=f"^{c} is being trained"):
        RunLock(a, b, c).acquire()
    assert not (a / ".lock").exists() and not (b / ".lock").exists()


def test_a_lock_deleted_and_retaken_is_not_removed_by_the_first_holder(tmp_path):
    first = RunLock(tmp_path).acquire()
    (tmp_path / ".lock").unlink()  # by hand, as the message suggests
    with RunLock(tmp_path):
        first.release()
        assert (tmp_path / ".lock").exists()


# --- the last good PDF survives a failed build ------------------------------

needs_latexmk = pytest.mark.skipif(shutil.which("latexmk") is None,
                                   reason="latexmk is not installed")
GOOD = "\\documentclass{article}\n\\begin{document}\nHello, %s.\n\\end{document}\n"
BROKEN = "\\documentclass{article}\n\\begin{document}\nHello, \\undefinedmacro.\n\\end{document}\n"


def compile_pdf(tex, pdf):
    return subprocess.run(["sh", str(COMPILE_PDF), str(tex), str(pdf)],
                          capture_output=True, text=True, timeout=120)


@needs_latexmk
def test_a_latex_error_keeps_the_previous_pdf(tmp_path, umask):
    umask(0o022)
    tex, pdf = tmp_path / "paper" / "paper.tex", tmp_path / "paper" / "paper.pdf"
    tex.parent.mkdir()
    tex.write_text(GOOD % "world")
    first = compile_pdf(tex, pdf)
    assert first.returncode == 0, first.stdout + first.stderr
    good = pdf.read_bytes()
    assert good.startswith(b"%PDF") and mode(pdf) == 0o644

    tex.write_text(BROKEN)
    failed = compile_pdf(tex, pdf)
    assert failed.returncode != 0
    assert "! Undefined control sequence." in failed.stderr
    assert "l.3 Hello, \\undefinedmacro" in failed.stderr
    assert f"{pdf} is left as it was" in failed.stderr
    assert pdf.read_bytes() == good
    assert sorted(p.name for p in pdf.parent.iterdir()) == [".build", "paper.pdf", "paper.tex"]

    tex.write_text(GOOD % "again")
    assert compile_pdf(tex, pdf).returncode == 0
    assert pdf.read_bytes() != good


@needs_latexmk
def test_after_a_failed_pdf_build_the_next_run_retries(tmp_path):
    """The pdf rule as written in paper.smk, in a workflow of its own: the
    failed job keeps the PDF, and the next run does not call it up to date."""
    rules = (ROOT / "workflow" / "rules" / "paper.smk").read_text().split("\nrule ")
    pdf_rule = "rule " + next(r for r in rules if r.startswith("pdf:"))
    for sub in ("scripts", "envs", "rules"):
        (tmp_path / "workflow" / sub).mkdir(parents=True)
    shutil.copy(COMPILE_PDF, tmp_path / "workflow" / "scripts")
    shutil.copy(ROOT / "workflow" / "envs" / "latex.yaml", tmp_path / "workflow" / "envs")
    (tmp_path / "workflow" / "rules" / "pdf.smk").write_text(pdf_rule)
    (tmp_path / "Snakefile").write_text(
        "from pathlib import Path\n\n"
        'SCALE = "tiny"\n\n'
        "def report_labels(content, format):\n"
        '    return {"content": content, "format": format}\n\n'
        "rule all:\n"
        '    input: "paper/paper.pdf"\n\n'
        "rule paper:\n"
        '    input: src="paper.src", tables=[], figures=[], cost=[], claims_table=[], forest=[]\n'
        '    output: "paper/paper.tex"\n'
        '    shell: "cp {input.src} {output}"\n\n'
        'include: "workflow/rules/pdf.smk"\n'
    )

    def snakemake(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    def age(directory):
        past = time.time() - 10
        for path in directory.glob("paper.*"):
            os.utime(path, (past, past))

    src, pdf = tmp_path / "paper.src", tmp_path / "paper" / "paper.pdf"
    src.write_text(GOOD % "world")
    assert snakemake().returncode == 0
    good = pdf.read_bytes()
    src.write_text(BROKEN)
    age(tmp_path / "paper")  # the source newer, also where mtimes have 1 s steps
    failed = snakemake()
    assert failed.returncode != 0
    assert "! Undefined control sequence." in failed.stderr
    assert pdf.read_bytes() == good
    retry = snakemake("-n")
    assert "Nothing to be done" not in retry.stdout + retry.stderr
    assert "rule pdf:" in retry.stdout + retry.stderr
    src.write_text(GOOD % "again")
    age(tmp_path / "paper")
    assert snakemake().returncode == 0
    assert pdf.read_bytes() != good
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake("-n"))
