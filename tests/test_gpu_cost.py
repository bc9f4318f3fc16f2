"""The paper scale's GPU cost: the benchmark that measures it and the
pipeline's arithmetic from its CSV to the appendix."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from test_workflow import load_script

ROOT = Path(__file__).resolve().parents[1]


def run(experiment, variant, epochs, activation, architecture, normalization, shared=False,
        filters=None, width_multiplier=1.0, beyond=False):
    # The table's authors_hours: the authors' README gives a day for All-CNN and ResNet50.
    hours = 24 if architecture in ("allcnn", "resnet50") else None
    return {"experiment": experiment, "variant": variant, "seed": 100, "epochs": epochs,
            "shared": shared, "beyond": beyond, "authors_hours": hours,
            "activation": activation, "architecture": architecture,
            "normalization": normalization, "width_multiplier": width_multiplier,
            "filters": filters, "linked": activation.startswith("lk")}


RUNS = [
    run("depth", "relu", 200, "relu", "depth", "none", filters=4),
    run("depth", "lkrelu", 200, "lkrelu", "depth", "none", filters=4),
    run("resnet50", "relu", 2000, "relu", "resnet50", "batchnorm"),
    # Table 6's BN network is Table 5's: priced once, under resnet50.
    run("resnet50_nobn", "selu_batchnorm", 2000, "selu", "resnet50", "batchnorm", shared=True),
    run("resnet50_nobn", "lkrelu_none", 2000, "lkrelu", "resnet50", "none"),
    # Beyond the paper: the authors never ran it.
    run("resnet50_nobn", "lkselu_nobnall", 2000, "lkselu", "resnet50", "none", beyond=True),
]


def bench(*rows):
    return pd.DataFrame(
        [{"device": "H100", "experiment": e, "variant": v, "concurrency": k,
          "seconds_per_epoch": s, "overrides": o} for e, v, k, s, o in rows])


BENCH = bench(
    ("depth", "relu", 1, 36.0, ""),
    ("depth", "relu", 4, 72.0, ""),  # four at once: 18 GPU-seconds an epoch each
    ("depth", "relu", 1, 1.0, '{"depth": 3}'),  # another network: ignored
    ("depth", "lkrelu", 1, 72.0, ""),
    ("depth", "lkrelu", 1, 7.0, '{"train_loop": "scan"}'),  # not what the pipeline runs
    ("resnet50", "relu", 1, 360.0, ""),
    ("resnet50_nobn", "lkrelu_none", 1, 180.0, ""),
    ("resnet50_nobn", "lkselu_nobnall", 1, 90.0, ""),
    ("resnet50_nobn", "selu_batchnorm", 1, 360.0, ""),
)


@pytest.fixture(scope="module")
def cost():
    return load_script(ROOT / "workflow/scripts/cost.py")


def test_gpu_hours_per_experiment_and_for_the_article(cost, caplog):
    table, totals = cost.gpu_hours(cost.usable(BENCH), RUNS)
    table = table.set_index("experiment")
    assert "measured with --set" in caplog.text and '{"depth": 3}' in caplog.text
    assert '{"train_loop": "scan"}' in caplog.text
    # depth: 200 epochs at 18 s (relu, cheapest four at once) + 200 at 72 s (lkrelu).
    assert table.loc["depth", "hours"] == pytest.approx((200 * 18 + 200 * 72) / 3600)
    assert table.loc["depth", "hours_alone"] == pytest.approx((200 * 36 + 200 * 72) / 3600)
    assert table.loc["depth", "concurrency"] == "1/4"
    # resnet50's classes were timed alone only: no K won, none other was tried.
    assert table["alone_only"].to_dict() == {"depth": False, "resnet50": True, "resnet50_nobn": True}
    assert table.loc["resnet50", "hours"] == pytest.approx(200)
    assert table.loc["resnet50_nobn", "runs"] == 2  # the shared BN run counts under resnet50
    assert table.loc["resnet50_nobn", "hours"] == pytest.approx(100 + 50)
    assert totals["hours"] == pytest.approx(355) and totals["runs"] == 5
    # The authors' README: a GTX 1080Ti day for each ResNet50 (and All-CNN)
    # run, no figure for depth ("quite fast"), none for a run beyond the paper.
    assert pd.isna(table.loc["depth", "authors_hours"]) and table.loc["depth", "authors_runs"] == 0
    assert table.loc["resnet50", "authors_hours"] == 24
    assert table.loc["resnet50_nobn", "authors_hours"] == 24  # lkrelu_none; not lkselu_nobnall
    assert table.loc["resnet50_nobn", "authors_runs"] == 1
    assert totals["authors_hours"] == 2 * 24 and totals["authors_runs"] == 2
    assert cost.time_ratios(BENCH, {"resnet50_nobn": "lkrelu_none"}) \
        == {"lkrelu_none": 1.0, "selu_batchnorm": 2.0, "lkselu_nobnall": 0.5}


def test_an_unmeasured_network_leaves_its_hours_unknown(cost):
    runs = [*RUNS, run("width", "w50_relu", 50, "relu", "width", "none", filters=50)]
    table, totals = cost.gpu_hours(cost.usable(BENCH), runs)
    width = table.set_index("experiment").loc["width"]
    assert pd.isna(width["hours"]) and width["unmeasured"] == "width/single/none/x1.00/50 filters"
    assert pd.isna(totals["hours"])  # never a total that silently leaves runs out
    assert totals["authors_hours"] == 2 * 24  # the authors' covers only their figures


def test_the_authors_figure_is_the_tables_for_a_run_of_the_paper_and_none_beyond_it(cost):
    day = {"beyond": False, "authors_hours": 24}
    assert cost.authors_hours(day) == 24
    assert cost.authors_hours({**day, "authors_hours": None}) is None
    assert cost.authors_hours({**day, "beyond": True}) is None


def test_the_paper_runs_mark_those_beyond_the_paper(cost):
    from linked_neurons_core.analysis.names import Names
    from linked_neurons_core.table import Table

    path = ROOT / "config/experiments.yaml"
    runs = cost.paper_runs(Table(path), Names(path))
    beyond = {(r["experiment"], r["variant"]) for r in runs if r["beyond"]}
    assert ("depth", "brn") in beyond and ("resnet50_nobn", "lkselu_nobnall") in beyond
    assert ("depth", "bn") not in beyond and ("resnet50", "relu") not in beyond
    assert {e for e, _ in beyond} == {"depth", "resnet50_nobn", "input_shift"}
    assert all(r["beyond"] for r in runs if r["experiment"] == "input_shift")
    # The authors' README: All-CNN and ResNet50 runs "take a day using a GTX
    # 1080Ti"; covariate shift, depth and width "are quite fast", no figure.
    hours = {r["experiment"]: r["authors_hours"] for r in runs}
    assert hours == {"width": None, "depth": None, "extended": None, "allcnn": 24,
                     "resnet50": 24, "resnet50_nobn": 24, "input_shift": None}


def test_the_appendix_renders_the_measurements_or_says_how_to_get_them(cost, tmp_path):
    template = ROOT / "workflow/templates/cost.tex.j2"
    sys.path.insert(0, str(ROOT / "workflow/scripts"))
    try:
        cost.render(None, RUNS, template, tmp_path / "none.tex")
        bench_csv = tmp_path / "gpu.csv"
        BENCH.to_csv(bench_csv, index=False)
        cost.render(bench_csv, RUNS, template, tmp_path / "cost.tex", {"resnet50_nobn": "lkrelu_none"})
    finally:
        sys.path.remove(str(ROOT / "workflow/scripts"))
    assert "not been measured yet" in (tmp_path / "none.tex").read_text()
    text = (tmp_path / "cost.tex").read_text()
    assert "Article & 5 & 6400 & 356.0 & 355.0 & & 48 (2 runs)" in text
    assert "depth & 2 & 400 & 6.0 & 5.0 & 1/4 & -- \\\\" in text
    assert "resnet50 & 1 & 2000 & 200.0 & 200.0 & 1 & 24 \\\\" in text
    assert "resnet50\\_nobn & 2 & 4000 & 150.0 & 150.0 & 1 & 24 (1 run)" in text
    assert "take a day using a GTX 1080Ti" in text and "quite fast" in text
    assert r"selu\_batchnorm 2.00" in text
    assert r"so that ``shared'' is ``alone'': resnet50, resnet50\_nobn." in text


@pytest.mark.slow
def test_the_benchmark_times_runs_alone_and_sharing_a_device(tmp_path):
    out = tmp_path / "gpu.csv"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--only", "depth/lkrelu", "--concurrency", "1", "2",
         "--samples", "64", "--epochs", "1", "--set", "depth=2", "--out", str(out),
         "--cache", str(tmp_path / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(out.open()))
    assert [(r["experiment"], r["variant"], r["concurrency"]) for r in rows] == [
        ("depth", "lkrelu", "1"), ("depth", "lkrelu", "2")]
    for row in rows:
        assert row["architecture"] == "depth" and row["batch_size"] == "32"
        assert float(row["images_per_second"]) > 0
        # Scaled to CIFAR-10's 50,000 training images.
        measured = float(row["epoch_seconds_measured"])
        assert float(row["seconds_per_epoch"]) == pytest.approx(measured * 50000 / 64)
        assert json.loads(row["overrides"]) == {"depth": 2}
    # The workers compiled into the one cache that they all share.
    assert any((tmp_path / "cache").iterdir())
    bad = subprocess.run([sys.executable, "benchmarks/gpu.py", "--only", "deep"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--only deep matches none" in bad.stderr
    bad = subprocess.run([sys.executable, "benchmarks/gpu.py", "--only", "depth", "--set", "epoch=2"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown key 'epoch'" in bad.stderr.splitlines()[-1]
