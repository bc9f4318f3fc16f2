"""benchmarks/train_seconds.py: a build's training seconds, for the DAG's order."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("train_seconds", ROOT / "benchmarks/train_seconds.py")
train_seconds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_seconds)
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_each_jobs_benchmark_file_gives_its_groups_seconds_longest_first(tmp_path):
    build = tmp_path / "results/quick"
    for group, seconds in {"depth/bn": 1167.22, "width/w50_relu": 30.4, "allcnn/relu_fixed": 160.6}.items():
        path = build / "benchmarks/train" / f"{group}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + f"{seconds}\t0:00:00\t600\t1700\t580\t590\t0\t8\t92\t{seconds * 0.9}\n")
    out = tmp_path / "train_seconds.csv"
    train_seconds.main([str(build), str(out)])
    table = pd.read_csv(out)
    assert table.to_dict("list") == {"scale": ["quick"] * 3,
                                     "group": ["depth/bn", "allcnn/relu_fixed", "width/w50_relu"],
                                     "seconds": [1167, 161, 30]}


def test_a_build_without_benchmark_files_or_with_another_file_is_named(tmp_path):
    with pytest.raises(SystemExit, match="holds no training job's benchmark file; build first"):
        train_seconds.main([str(tmp_path), str(tmp_path / "out.csv")])
    bad = tmp_path / "benchmarks/train/depth/relu.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("seconds\n12\n")
    with pytest.raises(SystemExit, match=f"{bad} is not a Snakemake benchmark file"):
        train_seconds.main([str(tmp_path), str(tmp_path / "out.csv")])
    assert not (tmp_path / "out.csv").exists()


job_spec = importlib.util.spec_from_file_location("job_seconds", ROOT / "benchmarks/job_seconds.py")
job_seconds = importlib.util.module_from_spec(job_spec)
job_spec.loader.exec_module(job_seconds)


def write_job(build, job, seconds, runs, mode="sequential"):
    """A job's benchmark file and its runs' metrics.json: `runs` {run dir: epoch walls}."""
    tsv = build / "benchmarks/train" / f"{job}.tsv"
    tsv.parent.mkdir(parents=True, exist_ok=True)
    tsv.write_text(HEADER + f"{seconds}\t0:00:00\t600\t1700\t580\t590\t0\t8\t92\t{seconds}\n")
    for run, walls in runs.items():
        history = [{"epoch": k + 1, "seconds": wall - 0.01, "wall": wall} for k, wall in enumerate(walls)]
        path = build / "runs" / run / "metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"group_mode": mode, "history": history}))


def test_a_builds_job_seconds_split_into_epochs_compilation_and_the_rest(tmp_path, capsys):
    build = tmp_path / "results/quick"
    # Seeds in turn: the first compiles (10 s against a median epoch of 1).
    write_job(build, "depth/bn", 20.0, {"depth/bn/100": [10, 1, 1, 1], "depth/bn/101": [1.2, 1, 1, 1]})
    # Vmapped: every run records the group's epochs, counted once.
    write_job(build, "depth/relu", 9.0, {f"depth/relu/{s}": [5, 1, 1] for s in (100, 101, 102)}, "vmap")
    # A timed run, its own job.
    write_job(build, "resnet50_nobn/lkrelu_none/100", 12.0, {"resnet50_nobn/lkrelu_none/100": [3, 2, 2, 2]})
    rows = job_seconds.table(job_seconds.jobs(build))
    assert list(rows) == ["depth", "Table 6, timed (alone)"]
    assert rows["depth"] == pytest.approx([2, 5, 29.0, 8.0 + 3.0, 9.2 + 4.0, 2.8 + 2.0])
    assert rows["Table 6, timed (alone)"] == pytest.approx([1, 1, 12.0, 8.0, 1.0, 3.0])
    job_seconds.main([str(build), "--cores", "2"])
    out = capsys.readouterr().out
    assert "| depth | 2 | 5 | 29 | 11 | 13 | 5 |" in out
    # 12 + 29 / 2 = 26.5 s now; 8 + 11 / 2 = 13.5 s of epochs alone.
    assert "about 0.4 min; with no compilation and nothing outside the epochs: 0.2 min (1.96x)" in out


def test_job_seconds_names_a_job_without_its_runs(tmp_path):
    build = tmp_path / "results/quick"
    with pytest.raises(SystemExit, match="holds no training job's benchmark file; build first"):
        job_seconds.jobs(build)
    write_job(build, "width/w50_relu", 3.0, {})
    with pytest.raises(SystemExit, match="w50_relu.tsv has no finished runs under .*: the build is not"):
        job_seconds.jobs(build)
