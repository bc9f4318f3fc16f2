"""The Snakemake workflow end to end on a tiny configuration, in a clean copy."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = yaml.safe_load((ROOT / "tests" / "tiny.yaml").read_text())
pytestmark = pytest.mark.slow


def copy_repository(destination):
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def snakemake(workdir, *args, check=True):
    result = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--configfile", "tiny.yaml", *args],
        cwd=workdir, capture_output=True, text=True,
    )
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def load_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    copy_repository(workdir)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    snakemake(workdir)
    return workdir


def test_the_article_is_built_with_every_table_and_run(built):
    runs = {e: pd.read_csv(built / f"results/quick/tables/{e}_runs.csv") for e in TINY["experiments"]}
    for experiment, variants in TINY["variants"].items():
        assert sorted(runs[experiment]["variant"]) == sorted(variants)
        epochs = pd.read_csv(built / f"results/quick/tables/{experiment}.csv")
        assert len(epochs) == 2 * len(variants)  # tidy: one row per run and epoch
    tex = (built / "paper/paper.tex").read_text()
    for experiment in TINY["experiments"]:
        assert f"\\input{{tables/{experiment}.tex}}" in tex
        assert "\\toprule" in (built / f"paper/tables/{experiment}.tex").read_text()
    assert "<<" not in tex and "<%" not in tex
    if not shutil.which("latexmk"):
        pytest.skip("latexmk is not installed: the PDF is not built")
    text = subprocess.run(["pdftotext", "-layout", str(built / "paper/paper.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for caption in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Table 6",
                    "beyond the paper"):
        assert caption in text, caption
    # The appendix prices the paper scale, or says how to measure it.
    assert "The cost of the paper scale" in text
    measured = (ROOT / "benchmarks/gpu.csv").exists()
    assert ("GPU-hours of the paper scale" if measured else "has not been measured yet") in text
    # Every run's best accuracy appears in the PDF (one seed: median = value).
    for experiment, frame in runs.items():
        for value in frame["best_val_accuracy"]:
            assert f"{value:.3f}" in text, (experiment, value)
    # The published values stand beside the reproduced ones.
    assert "0.567" in text and "0.9027" not in text  # depth LK-ReLU max, rounded
    n_runs = len(pd.concat(runs.values())["run"].unique())
    assert n_runs == sum(len(v) for v in TINY["variants"].values()) - 1  # one is shared
    assert f"trains {n_runs} runs" in " ".join(text.split())


def test_a_run_shared_by_two_experiments_is_trained_once(built):
    # resnet50_nobn's lkrelu_batchnorm trains exactly like resnet50's lkrelu.
    runs = built / "results/quick/runs"
    assert not (runs / "resnet50_nobn/lkrelu_batchnorm").exists()
    assert (runs / "resnet50_nobn/lkrelu_none/100/metrics.json").exists()
    table5 = pd.read_csv(built / "results/quick/tables/resnet50_runs.csv").set_index("variant")
    table6 = pd.read_csv(built / "results/quick/tables/resnet50_nobn_runs.csv").set_index("variant")
    assert table6.loc["lkrelu_batchnorm", "experiment"] == "resnet50_nobn"
    assert table6.loc["lkrelu_batchnorm", "best_val_accuracy"] == table5.loc["lkrelu", "best_val_accuracy"]


def test_a_second_run_does_nothing(built):
    result = snakemake(built, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_template_edit_reruns_rendering_only(built):
    template = built / "workflow/templates/table.tex.j2"
    template.write_text(template.read_text() + "\n")
    result = snakemake(built, "-n", "--quiet", "rules")
    jobs = set(result.stdout.split())
    assert "table" in jobs and "paper" in jobs
    assert not {"train", "extract"} & jobs, result.stdout


def test_the_schema_rejects_a_mistyped_key_before_anything_runs(built):
    result = snakemake(built, "-n", "--config", "scal=paper", check=False)
    assert result.returncode != 0
    assert "scal" in result.stdout + result.stderr
    result = snakemake(built, "-n", "--config", "scale=papr", check=False)
    assert result.returncode != 0 and "papr" in result.stdout + result.stderr


def test_a_corrupt_event_file_falls_back_to_metrics_or_names_the_run(built, tmp_path, caplog):
    extract = load_script(built / "workflow/scripts/extract.py")
    source = built / "results/quick/runs/depth/lkrelu/100"
    run = tmp_path / "depth/lkrelu/100"
    shutil.copytree(source, run)
    good_epochs, good_summary = extract.extract_run(run / "metrics.json")
    for event in run.glob("events.out.tfevents.*"):
        data = event.read_bytes()
        event.write_bytes(data[: len(data) // 2])  # truncated mid-record
    epochs, summary = extract.extract_run(run / "metrics.json")
    assert "using metrics.json's history" in caplog.text and str(run) in caplog.text
    pd.testing.assert_frame_equal(epochs.reset_index(drop=True), good_epochs.reset_index(drop=True),
                                  check_dtype=False)
    assert summary == good_summary
    (run / "metrics.json").write_text("{ truncated")
    with pytest.raises(extract.ExtractionError, match=f"run {run}"):
        extract.extract_run(run / "metrics.json")


def test_a_missing_run_is_named_by_the_table_rule(built):
    aggregate = load_script(built / "workflow/scripts/aggregate.py")
    runs = pd.read_csv(built / "results/quick/tables/depth_runs.csv")
    aggregate.check_complete(runs, [("relu", 100), ("lkrelu", 100)])
    with pytest.raises(aggregate.MissingRunError, match="depth: run lkrelu seed 100 is missing"):
        aggregate.check_complete(runs[runs["variant"] != "lkrelu"], [("relu", 100), ("lkrelu", 100)])
    json.loads((built / "results/quick/runs/depth/relu/100/metrics.json").read_text())
