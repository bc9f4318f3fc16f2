"""provenance.environment(): the versions a run trained with, and the commit
of the checkout, read fast and without raising."""

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import linked_neurons
from linked_neurons_core import provenance
from linked_neurons_core.provenance import BACKEND_PACKAGES
from linked_neurons_core.provenance import environment
from linked_neurons_core.provenance import git_commit

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
BACKEND_MODULES = {"jax", "jaxlib", "tensorflow", "torch", "openvino"}


def installed(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_environment_records_the_versions_in_use():
    env = environment()
    assert set(env) == {"python", "keras", "backend", "backend_versions", "numpy",
                        "linked_neurons", "commit"}
    assert env["python"] == platform.python_version()
    assert env["keras"] == keras.__version__
    assert env["backend"] == keras.backend.backend()
    assert env["numpy"] == np.__version__
    assert env["linked_neurons"] == linked_neurons.__version__
    versions = env["backend_versions"]
    assert list(versions) == list(BACKEND_PACKAGES[env["backend"]])
    for name, version in versions.items():
        assert version == installed(name) or version == sys.modules[name].__version__
        assert version  # the backend in use is installed
    json.dumps(env)  # it goes into metrics.json as it is


@pytest.mark.parametrize("backend", sorted(BACKEND_PACKAGES))
def test_only_the_backend_in_use_is_asked_and_nothing_imported(monkeypatch, backend):
    monkeypatch.setattr(provenance, "_keras_backend", lambda: backend)
    before = set(sys.modules)
    env = environment()
    assert not (set(sys.modules) - before) & BACKEND_MODULES
    assert env["backend"] == backend
    assert env["backend_versions"] == {
        name: getattr(sys.modules.get(name), "__version__", None) or installed(name)
        for name in BACKEND_PACKAGES[backend]
    }


def test_it_never_raises(monkeypatch):
    def broken():
        raise RuntimeError("no backend")

    monkeypatch.setattr(provenance, "_keras_backend", broken)
    monkeypatch.setattr(provenance, "_package_version", broken)
    env = environment()
    assert env["backend"] is None and env["backend_versions"] == {}
    assert env["linked_neurons"] is None
    assert provenance._version("no-such-distribution-here") is None


INTEL = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx fma avx2 avx512f avx512bw amx_bf16 amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx fma avx2 avx512f avx512bw amx_bf16 amx_tile
"""
AMD = """processor\t: 0
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu sse4_2 avx fma avx2 vaes
"""
ARM = """processor\t: 0
Features\t: fp asimd evtstrm aes crc32
CPU implementer\t: 0x41
"""


def test_a_cpu_is_named_with_the_instruction_set_that_chooses_its_kernels(tmp_path, monkeypatch):
    # XLA's and oneDNN's CPU kernels follow the instruction set, and the runs
    # that rounding moves differ between an AVX-512 and an AVX2 machine: a
    # run's device says which it was, and a oneDNN cap that changes it.
    files = {}
    for name, text in (("intel", INTEL), ("amd", AMD), ("arm", ARM)):
        files[name] = tmp_path / name
        files[name].write_text(text)
    assert provenance.cpu(files["intel"], {}) == "Intel(R) Xeon(R) Processor (AVX-512, AMX)"
    assert provenance.cpu(files["amd"], {}) == "AMD EPYC 7B13 64-Core Processor (AVX2)"
    assert provenance.cpu(files["intel"], {"ONEDNN_MAX_CPU_ISA": "AVX2"}) == \
        "Intel(R) Xeon(R) Processor (AVX-512, AMX, ONEDNN_MAX_CPU_ISA=AVX2)"
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert provenance.cpu(files["arm"], {}) == "aarch64 (NEON)"
    assert provenance.cpu(tmp_path / "missing", {}) == "aarch64"


def test_a_run_on_the_cpu_records_this_cpu():
    pytest.importorskip("jax")
    if keras.backend.backend() != "jax":
        pytest.skip("the jax backend's device")
    assert provenance.device() == f"cpu: {provenance.cpu()}"
    assert provenance.cpu() not in ("", "cpu")


@needs_git
def test_the_commit_of_this_checkout():
    here = provenance.PACKAGE_DIRS[0]
    tracked = subprocess.run(["git", "-C", str(here), "ls-files", "--error-unmatch", "__init__.py"],
                             capture_output=True)
    if tracked.returncode:
        pytest.skip("the package does not run from a git checkout")
    head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    commit = environment()["commit"]
    assert commit in (head, f"{head}-dirty")


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.org",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


def head(repo):
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A git checkout with a tracked linked_neurons/ and a file beside it."""
    repo = tmp_path / "repo"
    package = repo / "linked_neurons"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (repo / "README.md").write_text("readme\n")
    (repo / ".gitignore").write_text(".venv/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo, package


@needs_git
def test_a_clean_checkout_gives_its_short_hash(checkout):
    repo, package = checkout
    assert git_commit(package) == head(repo)
    # Untracked files in the package and changes outside it leave it clean.
    (package / "scratch.py").write_text("y = 2\n")
    (repo / "README.md").write_text("changed\n")
    assert git_commit(package) == head(repo)


@needs_git
def test_changed_tracked_files_of_the_package_make_it_dirty(checkout):
    repo, package = checkout
    (package / "__init__.py").write_text("x = 2\n")
    assert git_commit(package) == f"{head(repo)}-dirty"
    git(repo, "add", ".")  # staged but not committed: still not the commit's code
    assert git_commit(package) == f"{head(repo)}-dirty"
    git(repo, "commit", "-q", "-m", "second")
    assert git_commit(package) == head(repo)


@needs_git
def test_a_change_to_either_package_makes_the_checkout_dirty(checkout):
    # The code is two packages, the layers' and linked_neurons_core: a run
    # records the commit of both (the default, provenance.PACKAGE_DIRS).
    repo, package = checkout
    core = repo / "linked_neurons_core"
    core.mkdir()
    (core / "__init__.py").write_text("")
    (core / "table.py").write_text("x = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "core")
    assert git_commit([package, core]) == head(repo)
    (core / "table.py").write_text("x = 2\n")
    assert git_commit([package, core]) == f"{head(repo)}-dirty"
    assert git_commit(package) == head(repo)  # the layers' package alone is clean
    # Installed beside an untracked core: not this checkout's code.
    git(repo, "rm", "-q", "--cached", "-r", "linked_neurons_core")
    assert git_commit([package, core]) is None


@needs_git
def test_a_package_that_is_not_in_a_checkout_has_none(tmp_path, checkout):
    alone = tmp_path / "site-packages" / "linked_neurons"
    alone.mkdir(parents=True)
    (alone / "__init__.py").write_text("")
    assert git_commit(alone) is None
    # Installed into a virtual environment inside a checkout: untracked, not its code.
    repo, _ = checkout
    installed_copy = repo / ".venv" / "lib" / "site-packages" / "linked_neurons"
    installed_copy.mkdir(parents=True)
    (installed_copy / "__init__.py").write_text("")
    assert git_commit(installed_copy) is None
    assert git_commit(tmp_path / "missing") is None


@needs_git
def test_git_variables_of_the_caller_do_not_mislead_it(monkeypatch, tmp_path, checkout):
    repo, package = checkout
    expected = head(repo)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "index"))
    assert git_commit(package) == expected


def test_no_git_gives_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no git on it
    assert git_commit(provenance.PACKAGE_DIRS) is None
    assert environment()["commit"] is None


def test_a_git_that_hangs_gives_none_in_time(monkeypatch, tmp_path):
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(provenance, "GIT_TIMEOUT", 0.2)
    start = time.monotonic()
    assert git_commit(provenance.PACKAGE_DIRS) is None
    assert time.monotonic() - start < 5
