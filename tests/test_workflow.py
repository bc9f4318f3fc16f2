"""The Snakemake workflow end to end on the tiny configuration, in clean copies.

One tiny build (conftest.py's session fixture, shared with the fault test)
serves most tests; a test that changes something works in its own copy of
that build (`cp -a`: files and times), mostly with dry runs (`snakemake -n`),
which say what a change would rerun.
"""

import importlib.util
import json
import re
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


def source_files():
    """The checkout's files that a copy of it takes: tracked, or untracked and
    not ignored by git."""
    return list(filter(None, subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")))


def copy_repository(destination):
    for name in source_files():
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def snakemake(workdir, *args, check=True, configfile="tiny.yaml"):
    result = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", *args, "--configfile", configfile],
        cwd=workdir, capture_output=True, text=True,
    )
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def planned(workdir, *args):
    """{rule: [wildcards of each job]} that a dry run schedules."""
    result = snakemake(workdir, "-n", *args)
    jobs, rule = {}, None
    for line in (result.stdout + result.stderr).splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            rule = m[1]
            jobs.setdefault(rule, [])
        elif rule and (m := re.match(r"^\s+wildcards: (.*)", line)):
            jobs[rule].append(m[1])
    return jobs


def load_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def built(tiny_article):
    """The tiny article, built once a session (conftest.py); read only."""
    return tiny_article


@pytest.fixture
def copy(built, tmp_path):
    """A copy of the built project, files and times kept (cp -a)."""
    target = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(built), str(target)], check=True)
    return target


def test_the_article_is_built_with_every_table_and_run(built):
    runs = {e: pd.read_csv(built / f"results/quick/tables/{e}_runs.csv") for e in TINY["experiments"]}
    for experiment, variants in TINY["variants"].items():
        assert sorted(runs[experiment]["variant"]) == sorted(variants)
        epochs = pd.read_csv(built / f"results/quick/tables/{experiment}.csv")
        assert len(epochs) == 2 * len(variants)  # tidy: one row per run and epoch
        # The runs' own configuration, for the captions.
        assert set(runs[experiment]["epochs"]) == {2}
    tex = (built / "paper/paper.tex").read_text()
    for experiment in TINY["experiments"]:
        assert f"\\input{{tables/{experiment}.tex}}" in tex
        table = (built / f"paper/tables/{experiment}.tex").read_text()
        assert "\\toprule" in table and "made by rule table" in table
    assert "<<" not in tex and "<%" not in tex
    # Which CPU (and instruction set) trained the runs, as each recorded it.
    from linked_neurons_core.provenance import cpu

    escape = load_script(built / "workflow/scripts/latex.py").tex
    devices = set(pd.concat(runs.values())["device"])
    assert devices == {f"cpu: {cpu()}"}
    assert f"The runs trained on {escape(devices.pop())}." in tex
    numbers = json.loads((built / "paper/numbers.json").read_text())
    assert numbers["runs"]["value"] == len(pd.concat(runs.values())["run"].unique())
    assert all(Path(built / run).is_dir() for run in numbers["depth.relu"]["runs"])
    if not shutil.which("latexmk"):
        pytest.skip("latexmk is not installed: the PDF is not built")
    text = pdf_text(built / "paper/paper.pdf")
    flat = " ".join(text.split())
    for caption in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Table 6",
                    "beyond the paper", "The claims", "Provenance"):
        assert caption in flat, caption
    assert "The cost of the paper scale" in flat
    # Every run's test accuracy appears in the PDF (one seed: median = value).
    for experiment, frame in runs.items():
        for _, row in frame.iterrows():
            if not row["diverged"]:
                assert f"{row['test_accuracy']:.3f}" in text, (experiment, row["variant"])
    assert "0.561" in text  # the published depth LK-ReLU median, rounded
    n_runs = len(pd.concat(runs.values())["run"].unique())
    assert n_runs == sum(len(v) for v in TINY["variants"].values()) - 1  # one is shared
    assert f"trains {n_runs} runs" in flat


def test_every_file_a_build_writes_is_one_git_ignores(built):
    """A build leaves `git status` as it found it: nothing it writes can be
    committed by mistake or copied as a source (the tests' copies and the
    SLURM tests take the files git does not ignore). The files of the tiny
    article's copy that this checkout does not have (tracked or not) are
    what the build wrote."""
    source = set(source_files())
    files = (str(path.relative_to(built)) for path in built.rglob("*") if path.is_file())
    written = sorted(name for name in files if name not in source)
    assert "paper/numbers.json" in written and "paper/paper.tex" in written
    ignored = set(subprocess.run(["git", "check-ignore", "--no-index", "--stdin", "-z"], cwd=ROOT,
                                 input="\0".join(written), capture_output=True, text=True).stdout.split("\0"))
    assert [name for name in written if name not in ignored and name != "tiny.yaml"] == []


def test_a_run_shared_by_two_experiments_is_trained_once(built):
    # resnet50_nobn's lkrelu_batchnorm trains exactly like resnet50's lkrelu.
    runs = built / "results/quick/runs"
    assert not list((runs / "resnet50_nobn").glob("lkrelu_batchnorm*"))
    assert list((runs / "resnet50_nobn").glob("lkrelu_none*/100/metrics.json"))
    table5 = pd.read_csv(built / "results/quick/tables/resnet50_runs.csv").set_index("variant")
    table6 = pd.read_csv(built / "results/quick/tables/resnet50_nobn_runs.csv").set_index("variant")
    assert table6.loc["lkrelu_batchnorm", "experiment"] == "resnet50_nobn"
    assert table6.loc["lkrelu_batchnorm", "best_val_accuracy"] == table5.loc["lkrelu", "best_val_accuracy"]
    # Table 6 times its runs: scheduled alone on the CPU, and what they record
    # is what was measured over their span (usage.py), not assumed.
    for metrics_file in (runs / "resnet50_nobn").glob("*/100/metrics.json"):
        metrics = json.loads(metrics_file.read_text())
        usage = metrics["device_usage"]
        assert usage["exclusive_requested"] is True
        assert metrics["device_exclusive"] == (usage["measured"] and usage["other_cores"] <= 0.1)


def test_training_jobs_start_timed_first_then_longest_first(built):
    """The order the tiny build started its training jobs in (Snakemake's
    log): Table 6's timed groups, then the rest by their measured seconds
    (benchmarks/train_seconds.csv), longest first; two jobs picked at once
    (both cores free) may start in either order."""
    (log,) = (built / ".snakemake/log").glob("*.snakemake.log")
    started = [group for group, _ in started_training(log)]
    owners = [group.partition("+")[0] for group in started]
    assert len(owners) == sum(len(v) for v in TINY["variants"].values()) - 1  # one is shared
    # Timed: what each group's run recorded it asked for (Table 6's runs, here 2).
    timed = {owner for owner, group in zip(owners, started) if json.loads(
        (built / f"results/quick/runs/{group}/100/metrics.json").read_text())["device_usage"][
        "exclusive_requested"]}
    assert timed == {"resnet50/lkrelu", "resnet50_nobn/lkrelu_none"}
    assert set(owners[: len(timed)]) == timed
    seconds = pd.read_csv(ROOT / "benchmarks/train_seconds.csv").query("scale == 'quick'")
    seconds = seconds.set_index("group")["seconds"]
    rest = [seconds[owner] for owner in owners[len(timed):]]
    assert len(set(rest)) > 2  # an order to get wrong
    late = [(i, j) for i in range(len(rest)) for j in range(i + 2, len(rest)) if rest[i] < rest[j]]
    assert not late, f"started before a longer job: {owners[len(timed):]}, seconds {rest}"


def started_training(log):
    """(group, seed or None) of each training job in the order Snakemake's
    log started them: a timed run's job has its seed, a group's has none."""
    return [(group, seed or None) for group, seed in re.findall(
        r"^(?:local)?rule train\w*:\n(?:    .*\n)*?    wildcards: group=([^,\s]+)(?:, seed=(\d+))?",
        log.read_text(), flags=re.M)]


def test_timed_runs_train_in_rounds_each_in_its_own_job(tmp_path):
    """Table 6's timed runs, two seeds: a job (a process) a run, alone, in
    rounds (a seed of every timed network, then the next seed, the order
    rotated), so that a time ratio pairs runs of one moment and its seeds
    are repeats at different moments (common.smk, TIMED_ORDER)."""
    copy_repository(tmp_path)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    snakemake(tmp_path, "--until", "train_timed",
              "--config", "experiments=[resnet50_nobn]", "seeds=[100, 101]")
    (log,) = (tmp_path / ".snakemake/log").glob("*.snakemake.log")
    started = started_training(log)
    # lkrelu_batchnorm trains as Table 5's resnet50/lkrelu (tiny's overrides add +DIGEST).
    groups = [started[0][0], started[1][0]]
    assert [g.partition("+")[0] for g in groups] == ["resnet50/lkrelu", "resnet50_nobn/lkrelu_none"]
    assert started == [(groups[0], "100"), (groups[1], "100"), (groups[1], "101"), (groups[0], "101")]
    for group in groups:
        for seed in (100, 101):
            metrics = json.loads((tmp_path / f"results/quick/runs/{group}/{seed}/metrics.json").read_text())
            assert metrics["device_usage"]["exclusive_requested"] is True and metrics["seed"] == seed
            assert (tmp_path / f"logs/quick/train/{group}/{seed}.log").stat().st_size > 0


def test_a_damaged_seconds_file_is_named_with_its_fix(tmp_path):
    copy_repository(tmp_path)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "benchmarks/train_seconds.csv").write_text("scale,group,seconds\nquick,depth/relu,soon\n")
    result = snakemake(tmp_path, "-n", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert ("benchmarks/train_seconds.csv is damaged" in out
            and "write it again with benchmarks/train_seconds.py, or delete it" in out), out[-2000:]
    (tmp_path / "benchmarks/train_seconds.csv").unlink()  # without it: Snakemake's order
    assert snakemake(tmp_path, "-n").returncode == 0


def test_a_second_run_and_a_moved_copy_do_nothing(built, copy):
    assert "Nothing to be done" in " ".join(snakemake(built, "-n").stdout.split())
    # Copied elsewhere (same files and times): nothing is stale.
    result = snakemake(copy, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_a_template_edit_reruns_rendering_only(copy):
    template = copy / "workflow/templates/table.tex.j2"
    template.write_text(template.read_text() + "\n")
    jobs = planned(copy)
    assert "table" in jobs and "paper" in jobs
    assert not {"train", "extract"} & set(jobs), jobs
    # A module the analysis scripts import (not a script of a rule) reruns
    # the analysis, and trains nothing.
    template.write_text(template.read_text()[:-1])
    intervals = copy / "linked_neurons_core/analysis/intervals.py"
    intervals.write_text(intervals.read_text() + "\n# an edit\n")
    jobs = planned(copy)
    assert {"extract", "table", "claims", "paper"} <= set(jobs), jobs
    assert not {"train", "train_timed"} & set(jobs), jobs


def test_editing_one_variant_retrains_that_variant_only(copy):
    table = copy / "config/experiments.yaml"  # a copy: the repository's is a link
    text = table.read_text()
    old = ('        width_multiplier: 1.4142135623730951\n        name: "{activation}_sqrt2"\n'
           "    scales:\n      quick:\n        # 14x14")  # extended's, not depth's
    assert text.count(old) == 1
    table.write_text(text.replace(old, old.replace("1.4142135623730951", "1.5")))
    jobs = planned(copy)
    assert len(jobs["train"]) == 1 and "group=extended/relu_sqrt2" in jobs["train"][0], jobs
    assert jobs["extract"] == ["scale=quick, experiment=extended"], jobs
    # A comment, a title, a resource or the checkpoint period change nothing that trains.
    table.write_text(text.replace("# The experiment table", "# An edited comment. The experiment table")
                     .replace('title: "Validation accuracy of a one-layer', 'title: "Accuracy of a one-layer')
                     .replace("mem_mb: 3000", "mem_mb: 4000")
                     .replace("checkpoint_seconds: 60", "checkpoint_seconds: 30"))
    jobs = planned(copy)
    assert not {"train", "train_timed"} & set(jobs), jobs


def test_an_edit_to_the_code_the_runs_execute_makes_them_stale(copy):
    models = copy / "linked_neurons/experiments/models.py"
    models.write_text(models.read_text() + "\n# an edit\n")
    jobs = planned(copy)
    # Every group, Table 6's timed ones a job a run (one seed here).
    assert len(jobs["train"]) + len(jobs["train_timed"]) == sum(map(len, TINY["variants"].values())) - 1
    assert len(jobs["train_timed"]) == 2
    changed = snakemake(copy, "--list-changes", "params").stdout
    assert "results/quick/runs/depth/" in changed
    # Code that does not train (the command line) changes nothing.
    models.write_text(models.read_text().replace("\n# an edit\n", ""))
    cli = copy / "linked_neurons/cli.py"
    cli.write_text(cli.read_text() + "\n# an edit\n")
    assert not {"train", "train_timed"} & set(planned(copy))


def test_overrides_from_the_command_line_train_runs_of_their_own(copy):
    default = sorted((copy / "results/quick/runs/width").glob("w50_relu*/100/metrics.json"))
    assert len(default) == 1
    before = default[0].stat().st_mtime_ns
    overrides = {**TINY["set"], "epochs": 3}
    snakemake(copy, "width", "--config", f"set={json.dumps(overrides)}")
    runs = sorted((copy / "results/quick/runs/width").glob("w50_relu*/100/metrics.json"))
    assert len(runs) == 2
    assert default[0].stat().st_mtime_ns == before  # left as it was
    new = next(r for r in runs if r != default[0])
    assert json.loads(new.read_text())["epochs_run"] == 3
    assert json.loads((new.parent / "config.json").read_text())["epochs"] == 3
    assert "3 epochs" in (copy / "paper/tables/width.tex").read_text()


def test_a_published_value_edit_reruns_that_table_and_the_paper_only(copy):
    published = copy / "paper/published/width.csv"
    published.write_text(published.read_text().replace("0.5767", "0.5768"))
    jobs = planned(copy)
    assert jobs.get("table") == ["experiment=width"], jobs
    assert not {"train", "extract", "figures"} & set(jobs), jobs
    assert {"claims", "paper"} <= set(jobs)


def test_an_edit_to_the_authors_hours_reruns_the_cost_appendix_and_trains_nothing(copy):
    table = copy / "config/experiments.yaml"  # the table the DAG reads
    text = table.read_text()
    assert text.count("    authors_hours: 24\n") >= 1
    table.write_text(text.replace("    authors_hours: 24\n", "    authors_hours: 25\n", 1))
    jobs = planned(copy)
    assert "cost" in jobs and "paper" in jobs, jobs
    assert not {"train", "train_timed", "extract"} & set(jobs), jobs


def test_deleting_one_run_reruns_its_group_only(copy):
    run = next((copy / "results/quick/runs/width").glob("w50_lkrelu*/100"))
    shutil.rmtree(run)
    jobs = planned(copy)
    assert jobs["train"] == [f"group=width/{run.parent.name}"], jobs


def test_any_text_in_a_title_is_printed_as_written(copy):
    title = r"A {b} & c # d $ e % f _ g ~ h ^ i \ j `touch pwned` $(touch pwned2); echo"
    config = {**TINY, "set": {**TINY["set"], "title": title}}
    (copy / "odd.yaml").write_text(yaml.safe_dump(config))
    snakemake(copy, "width", configfile="odd.yaml")
    assert not (copy / "pwned").exists() and not (copy / "pwned2").exists()
    # Naming keys do not retrain: the runs' metrics are the tiny build's.
    if not shutil.which("latexmk"):
        pytest.skip("latexmk is not installed")
    snakemake(copy, configfile="odd.yaml")
    text = " ".join(pdf_text(copy / "paper/paper.pdf").split())
    assert title in text, text[:2000]


def test_the_schema_rejects_a_mistyped_key_before_anything_runs(built):
    result = snakemake(built, "-n", "--config", "scal=paper", check=False)
    assert result.returncode != 0
    assert "scal" in result.stdout + result.stderr
    result = snakemake(built, "-n", "--config", "scale=papr", check=False)
    assert result.returncode != 0 and "papr" in result.stdout + result.stderr
    # What the command line gives as text is read as the schema's type.
    result = snakemake(built, "-n", "--config", "exclusive_timing=false", "seeds=[100]", check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_corrupt_event_file_falls_back_to_metrics_or_names_the_run(built, tmp_path, caplog):
    extract = load_script(built / "workflow/scripts/extract.py")
    source = next((built / "results/quick/runs/depth").glob("lkrelu*/100"))
    run = tmp_path / "depth/lkrelu/100"
    shutil.copytree(source, run)
    good_epochs, good_summary = extract.extract_run(run / "metrics.json")
    # The status is today's criterion on the history, not the one written at training.
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["convergence"] = {"status": "collapsed", "converged": False, "reason": "old code"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert extract.extract_run(run / "metrics.json")[1] == good_summary
    for event in run.glob("events.out.tfevents.*"):
        data = event.read_bytes()
        event.write_bytes(data[: len(data) // 2])  # truncated mid-record
    epochs, summary = extract.extract_run(run / "metrics.json")
    assert "using metrics.json's history" in caplog.text and str(run) in caplog.text
    pd.testing.assert_frame_equal(epochs.reset_index(drop=True), good_epochs.reset_index(drop=True),
                                  check_dtype=False)
    assert summary == good_summary
    (run / "metrics.json").write_text("{ truncated")
    with pytest.raises(extract.ExtractionError, match=f"run {run}: {run}/metrics.json is damaged"):
        extract.extract_run(run / "metrics.json")
    shutil.copy(source / "metrics.json", run / "metrics.json")
    (run / "config.json").write_text('{"epochs": ')
    with pytest.raises(extract.ExtractionError, match=f"run {run}: {run}/config.json is damaged"):
        extract.extract_run(run / "metrics.json")


def test_a_missing_run_is_named_by_the_table_rule(built):
    from linked_neurons_core.analysis.units import MissingRunError
    from linked_neurons_core.analysis.units import check_complete

    runs = pd.read_csv(built / "results/quick/tables/depth_runs.csv")
    expected = [("depth", "relu", 100), ("depth", "lkrelu", 100)]
    check_complete(runs, expected)
    with pytest.raises(MissingRunError, match="depth: run lkrelu seed 100 is missing"):
        check_complete(runs[runs["variant"] != "lkrelu"], expected)


def report_contents(path):
    """(results, categories, workflow description) of a Snakemake HTML report:
    results maps each file's path to its entry (name, labels, caption, mime_type)
    with `text`, the file's content decoded from the report's data URI."""
    import base64

    html = Path(path).read_text()

    def variable(name):
        m = re.search(rf'<script id="{name}">\s*var [\w_]+ = (.*?);\s*</script>', html, re.S)
        assert m, f"no {name} in {path}"
        return json.loads(m[1])

    results = variable("results")
    for entry in results.values():
        _, _, data = entry["data_uri"].partition(";base64,")
        entry["text"] = (base64.b64decode(data).decode("utf-8", "replace")
                         if entry["mime_type"].startswith("text/") else None)
    return results, variable("categories"), variable("workflow-desc")


def test_the_report_has_the_tables_the_claims_and_the_runs_page(copy):
    # A claim that the tiny variants can judge, so that the claims page has a row.
    claims_file = copy / "config/claims.yaml"
    claims = yaml.safe_load(claims_file.read_text())
    claims["claims"].append({
        "id": "report_test", "source": "Table 2", "claim": "LK-ReLU beats ReLU at depth.",
        "quote": "LK-ReLU learns.",
        "checks": [{"better": {"experiment": "depth", "pairs": [["lkrelu", "relu"]]}}]})
    claims_file.write_text(yaml.safe_dump(claims))
    snakemake(copy)
    result = snakemake(copy, "--report", "report.html")
    assert "Report created" in result.stdout + result.stderr
    results, categories, description = report_contents(copy / "report.html")
    by_name = {entry["name"]: entry for entry in results.values()}

    # The report's main page, then one category per experiment and the others.
    assert "Where to look" in description and "quick" in description
    names = {"width": "Table 1", "depth": "Table 2", "extended": "Table 3", "allcnn": "Table 4",
             "resnet50": "Table 5", "resnet50_nobn": "Table 6", "input_shift": "Beyond the paper"}
    for experiment in TINY["experiments"]:
        (files,) = categories[f"{names[experiment]} ({experiment})"].values()
        assert sorted(Path(f).name for f in files) == sorted(
            [f"{experiment}_runs.html", f"{experiment}_runs.csv", f"{experiment}.csv",
             f"{experiment}.tex"])
    assert {"Paper", "Claims", "Runs", "Figures"} <= set(categories)
    assert {"paper.pdf", "paper.tex", "numbers.json", "depth_curves.png",
            "depth_dead_units.png", "claims.tex", "claims.csv", "claims.html"} <= set(by_name)
    # Every item: labels, and a caption that says what made it.
    for name, entry in by_name.items():
        assert entry["labels"], name
        assert "Made by rule" in entry["caption"] or "made by rule" in entry["caption"], name
    assert "figures.py" in by_name["depth_curves.png"]["caption"]
    assert "extract.extract_run" in by_name["depth_runs.csv"]["caption"]

    # The per-run tables, as sortable pages: every run by variant and seed.
    for experiment in TINY["experiments"]:
        page = by_name[f"{experiment}_runs.html"]
        assert page["mime_type"] == "text/html" and "<table" in page["text"]
        assert "report_tables.html_table" in page["caption"]
        runs = pd.read_csv(copy / f"results/quick/tables/{experiment}_runs.csv")
        for _, run in runs.iterrows():
            assert f'<td data-v="{run["variant"]}">' in page["text"], (experiment, run["variant"])
            assert run["run"] in page["text"]
        assert '<th data-type="num"' in page["text"] and "addEventListener" in page["text"]
        assert "http" not in page["text"]  # loads nothing

    # The runs page: every run with its configuration, results and published value.
    runs_page = by_name["runs.html"]["text"]
    every = pd.read_csv(copy / "results/quick/runs.csv")
    assert len(every) == sum(len(v) for v in TINY["variants"].values())
    for column in ("experiment", "variant", "seed", "activation", "test_accuracy",
                   "best_test_accuracy", "best_val_accuracy", "status", "diverged", "published",
                   "best_minus_published", "run"):
        assert f">{column}</th>" in runs_page, column
    for _, run in every.iterrows():
        assert run["run"] in runs_page
    depth = every.set_index(["experiment", "variant"]).loc[("depth", "lkrelu")]
    assert depth["published"] == pytest.approx(0.5607, abs=5e-4)  # the paper's Table 2
    assert f'data-v="{float(depth["published"])!r}"' in runs_page
    assert "report_tables.runs_page" in by_name["runs.html"]["caption"]

    # The claims: one row per claim with source, claim, both evidences and verdict.
    claims_page = by_name["claims.html"]["text"]
    for column in ("source", "claim", "paper_evidence", "evidence", "verdict"):
        assert f">{column}</th>" in claims_page, column
    judged = pd.read_csv(copy / "results/quick/claims.csv").set_index("id")
    assert judged.loc["report_test", "source"] == "Table 2"
    assert judged.loc["report_test", "verdict"] in ("holds", "does not hold", "inconclusive",
                                                    "not converged")
    assert ">report_test</td>" in claims_page and "LK-ReLU beats ReLU at depth." in claims_page
    assert by_name["claims.csv"]["text"].startswith("id,origin,source,quote,claim,paper_evidence")


def test_the_arxiv_tarball_compiles_in_an_empty_directory(copy, tmp_path):
    import tarfile

    snakemake(copy, "arxiv")
    archive = copy / "paper/arxiv.tar.gz"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        assert all(not n.startswith(("/", "..")) for n in names)
        tar.extractall(tmp_path / "arxiv", filter="data")
    tables = [f"tables/{e}.tex" for e in [*TINY["experiments"], "claims", "cost"]]
    assert names == sorted(["paper.tex", *tables, "figures/claims.png", "figures/depth_curves.png",
                            "figures/depth_dead_units.png"])
    tex = (tmp_path / "arxiv/paper.tex").read_text()
    assert tex.startswith("\\pdfoutput=1\n")
    assert tex.split("\n", 1)[1] == (copy / "paper/paper.tex").read_text()
    # The same bytes when packed again.
    before = archive.read_bytes()
    snakemake(copy, "arxiv", "--forcerun", "arxiv")
    assert archive.read_bytes() == before
    if not shutil.which("pdflatex"):
        pytest.skip("pdflatex is not installed")
    workdir = tmp_path / "arxiv"
    for _ in range(2):
        latex = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                                "paper.tex"], cwd=workdir, capture_output=True, text=True)
        assert latex.returncode == 0, latex.stdout[-3000:]
    flat = " ".join(pdf_text(workdir / "paper.pdf").split())
    for caption in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Table 6",
                    "beyond the paper", "The claims", "Provenance"):
        assert caption in flat, caption
    assert "??" not in flat  # every reference resolved
