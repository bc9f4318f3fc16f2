"""benchmarks/train_seconds.py: a build's training seconds, for the DAG's order."""

import importlib.util
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
