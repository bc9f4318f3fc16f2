"""The pipeline's products come back when deleted, labels start no training job,
and LaTeX runs without shell escape (issue 21, points 3, 8 and 9).

One small build (one experiment, two variants, one seed, one epoch) in a copy
of the repository; the checks are dry runs (`snakemake -n`) of it.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_workflow import copy_repository

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ONE = {"experiments": ["depth"], "variants": {"depth": ["relu", "lkrelu"]}, "seeds": [100],
       "set": {"epochs": 1, "max_train_samples": 64, "depth": 2, "width_scale": 0.25}}
# Every product of the build, and the rule that makes it.
PRODUCTS = {
    "results/quick/runs/depth/relu+{digest}/100/metrics.json": "train",
    "results/quick/tables/depth.csv": "extract",
    "results/quick/tables/depth_runs.csv": "extract",
    "paper/tables/depth.tex": "table",
    "paper/tables/claims.tex": "claims",
    "results/quick/claims.json": "claims",
    "paper/tables/cost.tex": "cost",
    "paper/figures/depth_curves.png": "figures",
    "paper/figures/depth_dead_units.png": "figures",
    "paper/paper.tex": "paper",
    "paper/numbers.json": "paper",
    "results/quick/runs.csv": "runs_page",
    "results/quick/report/runs.html": "runs_page",
    "results/quick/claims.csv": "claims_table",
    "results/quick/report/claims.html": "claims_table",
    "results/quick/report/depth_runs.html": "report_table",
}


def snakemake(workdir, *args, check=True):
    result = subprocess.run([*SNAKEMAKE, "--cores", "2", *args, "--configfile", "one.yaml"],
                            cwd=workdir, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def planned(workdir, *args):
    """{rule: number of jobs} that a dry run schedules."""
    result = snakemake(workdir, "-n", *args)
    jobs = {}
    for line in (result.stdout + result.stderr).splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            jobs[m[1]] = jobs.get(m[1], 0) + 1
    return jobs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("products") / "project"
    workdir.mkdir()
    copy_repository(workdir)
    (workdir / "one.yaml").write_text(yaml.safe_dump(ONE))
    snakemake(workdir)
    return workdir


def products(workdir):
    run = next((workdir / "results/quick/runs/depth").glob("relu*/100/metrics.json"))
    digest = run.parts[-3].partition("+")[2]
    names = {name.format(digest=digest).replace("relu+/", "relu/"): rule
             for name, rule in PRODUCTS.items()}
    if shutil.which("latexmk"):
        names["paper/paper.pdf"] = "pdf"
    return names


@pytest.mark.slow
def test_every_product_deleted_is_rebuilt_with_what_depends_on_it(built):
    assert "Nothing to be done" in " ".join(snakemake(built, "-n").stdout.split())
    for name, rule in products(built).items():
        path = built / name
        assert path.is_file(), name
        kept = path.with_name(path.name + ".kept")
        shutil.copy2(path, kept)
        path.unlink()
        try:
            jobs = planned(built)
        finally:
            shutil.move(kept, path)
        assert rule in jobs, (name, jobs)
        if rule != "train":
            assert "train" not in jobs, (name, jobs)
    # And for real: a deleted table comes back, the report can be made.
    (built / "results/quick/tables/depth.csv").unlink()
    snakemake(built)
    assert (built / "results/quick/tables/depth.csv").is_file()
    assert "Nothing to be done" in " ".join(snakemake(built, "-n").stdout.split())


@pytest.mark.slow
def test_labels_start_no_training_job(built):
    # A byte-identical copy of the table under another name.
    (built / "copy.yaml").write_bytes((built / "config/experiments.yaml").read_bytes())
    assert "train" not in planned(built, "--config", "table=copy.yaml")
    # A title, and a naming key, given as overrides.
    for label in ({"title": "Another title"}, {"checkpoint_seconds": 17}):
        overrides = yaml.safe_dump({**ONE["set"], **label}, default_flow_style=True).strip()
        assert "train" not in planned(built, "--config", f"set={overrides}"), label
    # What a run computes still starts its job.
    overrides = yaml.safe_dump({**ONE["set"], "epochs": 2}, default_flow_style=True).strip()
    assert planned(built, "--config", f"set={overrides}").get("train") == 2  # its two groups


@pytest.mark.skipif(not shutil.which("latexmk"), reason="latexmk is not installed")
def test_latex_runs_without_shell_escape(tmp_path):
    tex = tmp_path / "a.tex"
    tex.write_text("\\documentclass{article}\\begin{document}"
                   "\\immediate\\write18{kpsewhich --version}Hi\\end{document}\n")
    subprocess.run(["sh", str(ROOT / "workflow/scripts/compile_pdf.sh"), str(tex),
                    str(tmp_path / "a.pdf")], check=True, capture_output=True)
    log = (tmp_path / ".build" / "a.log").read_text(errors="replace")
    assert "\\write18 enabled" not in log  # TeX Live's default: "restricted \write18 enabled"
    assert (tmp_path / "a.pdf").is_file()
