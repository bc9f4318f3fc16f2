"""The claims' verdicts, the tables' cells and the prose, on synthetic per-run tables.

Every verdict, cell and number of the article is computed from the runs:
these tests flip the runs and watch the article follow.
"""

import copy
import re
from pathlib import Path

import pandas as pd
import pytest

from test_workflow import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
claims = load_script(SCRIPTS / "claims.py")
aggregate = load_script(SCRIPTS / "aggregate.py")
latex = load_script(SCRIPTS / "latex.py")
CLAIMS = claims.load(ROOT / "config" / "claims.yaml")
THRESHOLDS = CLAIMS["thresholds"]


def runs(experiment, values, **columns):
    """A per-run table: {variant: [best accuracy of each seed]}."""
    rows = []
    for variant, accuracies in values.items():
        for seed, accuracy in enumerate(accuracies, start=100):
            rows.append({"experiment": experiment, "variant": variant, "seed": seed,
                         "activation": variant.split("_")[0], "best_val_accuracy": accuracy,
                         "diverged": False, "diverged_epoch": None, "converged": True,
                         "dataset": "digits", "run": f"runs/{experiment}/{variant}/{seed}",
                         "wall_seconds": 10.0, "device_exclusive": True, "dead_units": 0,
                         "dead_per_layer": "[0, 0]", **columns})
    return pd.DataFrame(rows)


def judge(spec, by_experiment):
    return claims.judge(spec, claims.Context(by_experiment, THRESHOLDS))


BETTER = {"id": "x", "checks": [{"better": {"experiment": "width", "pairs": [["lk", "single"]]}}]}


def test_a_verdict_flips_when_its_results_flip():
    up = {"width": runs("width", {"lk": [0.90, 0.91, 0.92], "single": [0.80, 0.81, 0.82]})}
    down = {"width": runs("width", {"lk": [0.80, 0.81, 0.82], "single": [0.90, 0.91, 0.92]})}
    assert judge(BETTER, up)[0] == claims.HOLDS
    assert judge(BETTER, down)[0] == claims.FAILS


def test_a_difference_within_the_seed_spread_is_inconclusive():
    # Medians 0.86 against 0.85, but the seeds' ranges overlap.
    overlap = {"width": runs("width", {"lk": [0.80, 0.86, 0.92], "single": [0.83, 0.85, 0.87]})}
    verdict, comparisons = judge(BETTER, overlap)
    assert verdict == claims.INCONCLUSIVE
    assert "0.860 [0.800-0.920]" in comparisons[0]["text"]


def test_a_run_still_improving_makes_the_claim_not_converged():
    table = runs("width", {"lk": [0.90, 0.91, 0.92], "single": [0.80, 0.81, 0.82]})
    table.loc[(table["variant"] == "single") & (table["seed"] == 101), "converged"] = False
    verdict, comparisons = judge(BETTER, {"width": table})
    assert verdict == claims.NOT_CONVERGED
    assert comparisons[0]["not_converged"] == ["single seed 101"]


def test_a_diverged_run_is_never_counted_and_is_named():
    table = runs("width", {"lk": [0.90, 0.91, 0.92], "single": [0.80, 0.81, 0.99]})
    diverged = (table["variant"] == "single") & (table["seed"] == 102)
    table.loc[diverged, ["diverged", "diverged_epoch"]] = [True, 1]
    verdict, comparisons = judge(BETTER, {"width": table})
    assert verdict == claims.NOT_CONVERGED
    assert comparisons[0]["diverged"] == ["single seed 102 (epoch 1)"]
    # Its accuracy (0.99, computed with weights that are not numbers) is not in the range.
    assert "0.805 [0.800-0.810]" in comparisons[0]["text"]
    stats = aggregate.stats(table[table["variant"] == "single"])
    assert stats["high"] == 0.81 and stats["diverged"] == [{"seed": 102, "epoch": 1}]


def test_chance_comes_from_the_dataset():
    spec = {"id": "x", "checks": [{"at_chance": {"experiment": "depth", "units": ["relu"]}},
                                  {"learns": {"experiment": "depth", "units": ["lkrelu"]}}]}
    table = runs("depth", {"relu": [0.10, 0.12, 0.14], "lkrelu": [0.90, 0.91, 0.35]})
    assert judge(spec, {"depth": table})[0] == claims.HOLDS  # 0.15 and 0.30 for 10 classes
    table.loc[table["variant"] == "lkrelu", "best_val_accuracy"] = [0.90, 0.91, 0.25]
    assert judge(spec, {"depth": table})[0] == claims.INCONCLUSIVE  # one seed did not learn
    table.loc[table["variant"] == "relu", "best_val_accuracy"] = [0.5, 0.6, 0.7]
    assert judge(spec, {"depth": table})[0] == claims.FAILS
    hundred = table.assign(dataset="cifar100")
    assert claims.Context({"depth": hundred}, THRESHOLDS).chance("depth") == 0.01


def test_a_time_ratio_measured_on_a_shared_device_is_inconclusive():
    spec = {"id": "x", "checks": [{"ratio": {"experiment": "resnet50_nobn",
                                             "pairs": [["lkrelu_batchnorm", "lkrelu_none", 1.5, 3.0]]}}]}
    table = runs("resnet50_nobn", {"lkrelu_batchnorm": [0.9] * 3, "lkrelu_none": [0.9] * 3})
    table.loc[table["variant"] == "lkrelu_batchnorm", "wall_seconds"] = [20.0, 21.0, 22.0]
    assert judge(spec, {"resnet50_nobn": table})[0] == claims.HOLDS  # 2.0-2.2
    shared = table.assign(device_exclusive=[True] * 5 + [False])
    verdict, comparisons = judge(spec, {"resnet50_nobn": shared})
    assert verdict == claims.INCONCLUSIVE and comparisons[0]["note"] == "timed on a shared device"
    table.loc[table["variant"] == "lkrelu_batchnorm", "wall_seconds"] = [10.0, 11.0, 12.0]
    assert judge(spec, {"resnet50_nobn": table})[0] == claims.FAILS  # 1.0-1.2


def test_the_paper_is_judged_on_its_own_published_values():
    published = aggregate.published_runs(ROOT / "paper" / "published")
    by_id = {c["id"]: c for c in CLAIMS["claims"]}
    paper = claims.Context({e: g for e, g in published.groupby("experiment")}, THRESHOLDS)
    # The published tables themselves: LK-Swish below Swish in Table 1, the
    # sqrt2 Swish above LK-Swish in Table 3, BN below the best linked in Table 2.
    assert claims.judge(by_id["width"], paper)[0] == claims.FAILS
    assert claims.judge(by_id["extended"], paper)[0] == claims.FAILS
    assert claims.judge(by_id["depth_bn"], paper)[0] == claims.HOLDS
    assert claims.judge(by_id["depth_fail"], paper)[0] == claims.HOLDS
    assert claims.judge(by_id["nobn_speed"], paper)[0] == claims.HOLDS


def test_every_unit_a_claim_names_exists_in_the_experiment_table():
    table = load_script(ROOT / "linked_neurons" / "experiments" / "table.py").Table(
        ROOT / "config" / "experiments.yaml")
    for spec in CLAIMS["claims"]:
        for check in spec["checks"]:
            (name, args), = check.items()
            assert name in claims.CHECKS, (spec["id"], name)
            for experiment in args.get("experiments") or [args["experiment"]]:
                known = set(table.variants(experiment))
                if experiment == "allcnn":
                    known = {v.rpartition("_")[0] for v in known}
                named = {u for pair in args.get("pairs", []) for u in pair if isinstance(u, str)}
                named |= set(args.get("units", [])) | set(args.get("best_of", []))
                named |= set(args.get("single", [])) | set(args.get("linked", []))
                named |= {args["unit"]} if "unit" in args else set()
                assert named <= known, (spec["id"], named - known)


def full_quick_runs(value=0.5):
    """A per-run table of every experiment of the quick scale, one value."""
    table = load_script(ROOT / "linked_neurons" / "experiments" / "table.py").Table(
        ROOT / "config" / "experiments.yaml")
    out = {}
    for experiment in table.experiments:
        frame = runs(experiment, {v: [value] * 3 for v in table.variants(experiment)},
                     epochs=10, epochs_run=10, batch_size=32, image_size=8, width_scale=0.25,
                     augment=False, protocol="text", early_stopping=None, stopped_early=False,
                     params=1000, device="cpu: cpu", train_seconds=5.0,
                     dead_layers=0, median_epoch_seconds=0.5)
        configs = {v: table.resolve(experiment, v, "quick") for v in table.variants(experiment)}
        for key in ("activation", "filters", "input_offset"):
            frame[key] = [configs[v].get(key) for v in frame["variant"]]
        out[experiment] = frame
    return out


def render_paper(by_experiment, results):
    render = load_script(SCRIPTS / "render_paper.py")
    counts = claims.counts(results)
    return latex.template(ROOT / "workflow/templates/paper.tex.j2").render(
        experiments=list(by_experiment), scale="quick", n=aggregate.numbers(by_experiment),
        claims={"counts": counts, "claims": results}, claim={c["id"]: c for c in results},
        protocol=[], used="text", figures=False, seeds=[100, 101, 102],
        provenance=render.provenance(list(by_experiment), []), commit="abc")


def test_the_prose_follows_the_results_and_the_verdicts():
    by_experiment = full_quick_runs()
    results = claims.evaluate(CLAIMS, by_experiment)
    assert len(results) == len(CLAIMS["claims"])  # every claim judged on a full build
    text = " ".join(render_paper(by_experiment, results).split())
    assert f"Of the {len(results)} claims" in text
    # Flip the depth runs: the numbers and the verdicts of the prose follow.
    learned = copy.deepcopy(by_experiment)
    learned["depth"]["best_val_accuracy"] = 0.9
    flipped = claims.evaluate(CLAIMS, learned)
    verdicts = {c["id"]: c["verdict"] for c in flipped}
    assert verdicts["depth_fail"] == claims.FAILS and verdicts["depth_learn"] == claims.HOLDS
    new = " ".join(render_paper(learned, flipped).split())
    assert "Plain ReLU reaches a median accuracy of 0.900" in new
    assert "Plain ReLU reaches a median accuracy of 0.500" in text
    assert "stay at chance: \\emph{does not hold}" in new


def test_no_number_or_verdict_is_typed_into_the_templates():
    for name in ("paper.tex.j2", "table.tex.j2", "claims.tex.j2"):
        source = (ROOT / "workflow/templates" / name).read_text()
        prose = re.sub(r"<<.*?>>|<%.*?%>|<#.*?#>", "", source, flags=re.S)
        prose = re.sub(r"(?<!\\)\$[^$]*\$", "", prose)  # formulas: x - 0.5 + c
        # No accuracy, ratio or count is written out: numbers in the text are layout.
        for match in re.finditer(r"(?<![\w.])\d+\.\d+(?![\d.])", prose):
            after = prose[match.end():match.end() + 10]
            if re.match(r"\\linewidth|cm|pt", after) or match[0] == "1712.02609":  # layout, arXiv id
                continue
            pytest.fail(f"{name}: a number typed into the prose: {match[0]}")
        for verdict in (claims.HOLDS, claims.FAILS):
            assert verdict not in prose.replace("\\emph{" + verdict, ""), (name, verdict)


def test_a_diverged_cell_says_so_in_the_table():
    frame = full_quick_runs()["depth"]
    frame.loc[frame["variant"] == "relu", ["diverged", "diverged_epoch"]] = [True, 3]
    frame.loc[frame["variant"] == "lkrelu", "converged"] = [True, False, True]
    table = aggregate.aggregate("depth", frame, aggregate.published_runs(ROOT / "paper/published"))
    tex = latex.template(ROOT / "workflow/templates/table.tex.j2").render(
        name="depth", table=table, title="t", scale="quick", source="s")
    relu = next(line for line in tex.splitlines() if line.startswith("ReLU &"))
    assert "diverged (ep.~3)" in relu and "0.500" not in relu
    lkrelu = next(line for line in tex.splitlines() if line.startswith("LK-ReLU &"))
    assert "\\dag" in lkrelu
    assert "relu seed 100 (epoch 3)" in tex and "3 runs" not in tex
    numbers = aggregate.numbers({"depth": frame})
    assert numbers["depth.relu"]["value"] is None and numbers["depth.relu"]["diverged"] == 3
