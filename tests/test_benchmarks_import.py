"""Every benchmark still imports: what it takes from the package and from its
neighbours exists. Most benchmarks are too slow to run in CI, so without this a
name that moves breaks one silently. That happened to conv_candidates.py, which
imported `block_diagonal` from groups.py after it had moved into the package.
One process a script: a benchmark's start-up sets its own environment (threads,
modules it leaves out) for the process that imports it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_a_benchmark_imports(script):
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import {script}"],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=300)
    assert result.returncode == 0, f"benchmarks/{script}.py: {result.stderr.strip().splitlines()[-1:]}"
