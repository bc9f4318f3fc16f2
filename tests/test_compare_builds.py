"""benchmarks/compare_builds.py: two builds' runs, cells and verdicts compared."""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare_builds", ROOT / "benchmarks/compare_builds.py")
compare_builds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_builds)


def build(path, accuracies, statuses=None, diverged=(), verdicts=None):
    """A build directory: runs.csv of depth's variants {variant: [acc per seed]}."""
    path.mkdir(parents=True)
    rows = []
    for variant, values in accuracies.items():
        for seed, value in zip((100, 101, 102), values):
            rows.append({"experiment": "depth", "variant": variant, "seed": seed, "test_accuracy": value,
                         "status": (statuses or {}).get((variant, seed), "converged"),
                         "diverged": (variant, seed) in diverged, "run": f"runs/{variant}/{seed}"})
    pd.DataFrame(rows).to_csv(path / "runs.csv", index=False)
    if verdicts is not None:
        pd.DataFrame({"id": list(verdicts), "verdict": list(verdicts.values())}).to_csv(
            path / "claims.csv", index=False)
    return path


def test_a_split_cell_that_changes_side_inside_both_ranges_is_named(tmp_path):
    # Two of three seeds at chance, then one: each median lies inside the
    # other build's range, but the cell reads chance in a and learned in b.
    a = build(tmp_path / "a", {"lkrelu": [0.089, 0.903, 0.078], "selu": [0.93, 0.95, 0.94]})
    b = build(tmp_path / "b", {"lkrelu": [0.078, 0.831, 0.883], "selu": [0.95, 0.93, 0.92]})
    out = io.StringIO()
    _, cells, _ = compare_builds.report(a, b, out)
    text = out.getvalue()
    assert not cells[["a_outside_b", "b_outside_a"]].any().any()
    assert "**Cells.** 0 of 2 cells" in text
    assert "**Sides.** 1 of 2 cells have their median on another side, at chance or learned " \
           "(the claims' margins), in b:\n- depth/lkrelu: at chance 0.089 -> learned 0.831" in text
    assert [compare_builds.side(m) for m in (0.149, 0.2, 0.301)] == ["at chance", "between", "learned"]
    assert compare_builds.side(0.2, "cifar10") == "between"


def test_two_builds_are_compared_by_run_by_cell_and_by_verdict(tmp_path):
    a = build(tmp_path / "a", {"relu": [0.10, 0.09, 0.11], "lkrelu": [0.90, 0.91, 0.92],
                               "selu": [0.80, 0.85, 0.95]},
              diverged={("selu", 100)}, verdicts={"depth_fail": "holds", "depth_learn": "inconclusive"})
    b = build(tmp_path / "b", {"relu": [0.10, 0.09, 0.11], "lkrelu": [0.10, 0.905, 0.09],
                               "selu": [0.93, 0.94, 0.96]},
              statuses={("lkrelu", 100): "stuck", ("lkrelu", 102): "stuck"},
              verdicts={"depth_fail": "holds", "depth_learn": "does not hold", "extra": "holds"})
    out = io.StringIO()
    runs, cells, verdicts = compare_builds.report(a, b, out)
    text = out.getvalue()

    assert (runs["matched"], runs["only_a"], runs["only_b"]) == (9, 0, 0)
    assert runs["accuracy_differs"] == 6  # lkrelu and selu, every seed
    assert runs["status_differs"] == 2
    assert "- depth/lkrelu seed 100: converged -> stuck" in text
    by = cells.set_index("variant")
    # a's selu seed 100 diverged: its median is over 0.85 and 0.95 only, as in the tables.
    assert by.loc["selu", "median_a"] == pytest.approx(0.90)
    assert (by.loc["selu", "low_a"], by.loc["selu", "high_a"]) == (0.85, 0.95)
    assert by.loc["selu", "b_outside_a"] == False and by.loc["selu", "a_outside_b"] == True  # noqa: E712
    assert by.loc["lkrelu", "a_outside_b"] == True and by.loc["lkrelu", "b_outside_a"] == True  # noqa: E712
    assert not by.loc["relu", ["a_outside_b", "b_outside_a"]].any()
    assert "**Cells.** 2 of 3 cells have one build's median outside the other's seed range" in text
    assert "| depth | lkrelu | 0.910 [0.900, 0.920] | 0.100 [0.090, 0.905] |" in text
    assert "60% of cells would be" in text
    assert "**Sides.** 1 of 3 cells have their median on another side" in text
    assert "- depth/lkrelu: learned 0.910 -> at chance 0.100" in text
    assert verdicts["changed"].tolist() == [False, True]
    assert "2 claims judged in both builds; 1 changed.\n- depth_learn: inconclusive -> does not hold" in text


def test_a_build_kept_compares_as_the_build_itself(tmp_path, capsys):
    a = build(tmp_path / "a", {"relu": [0.10, 0.09, 0.11]}, verdicts={"depth_fail": "holds"})
    assert compare_builds.main([str(a), str(tmp_path / "kept"), "--keep"]) == 0
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["claims.csv", "runs.csv"]
    # What a comparison reads, and no more (the run's path is left behind).
    assert list(pd.read_csv(tmp_path / "kept/runs.csv")) == [
        "experiment", "variant", "seed", "test_accuracy", "status", "diverged"]
    assert compare_builds.main([str(a), str(tmp_path / "kept")]) == 0
    text = capsys.readouterr().out
    assert "0 reached another test accuracy, 0 another status" in text
    assert "0 of 1 cells" in text and "0 changed" in text


def test_a_directory_without_runs_is_named_with_the_fix(tmp_path, capsys):
    a = build(tmp_path / "a", {"relu": [0.1, 0.1, 0.1]})
    assert compare_builds.main([str(a), str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"compare_builds: {tmp_path}: no runs.csv; give a build's results directory "
        "(results/quick) or a copy made with --keep")
    pd.DataFrame({"experiment": ["depth"]}).to_csv(tmp_path / "runs.csv", index=False)
    assert compare_builds.main([str(a), str(tmp_path)]) == 2
    assert "no column variant, seed, test_accuracy, status, diverged" in capsys.readouterr().err


def test_the_chance_of_a_median_outside_the_other_range_matches_a_simulation():
    assert compare_builds.chance_outside(3) == pytest.approx(12 / 20)
    rng = np.random.default_rng(0)
    a, b = np.sort(rng.normal(size=(2, 200_000, 3)), axis=-1)
    hits = ((a[:, 1] < b[:, 0]) | (a[:, 1] > b[:, 2])) | ((b[:, 1] < a[:, 0]) | (b[:, 1] > a[:, 2]))
    assert hits.mean() == pytest.approx(compare_builds.chance_outside(3), abs=0.005)


def test_time_ratios_are_paired_by_seed_and_their_intervals_compared(tmp_path):
    def timed(path, lkrelu_bn, lkrelu_none):
        path.mkdir(parents=True)
        rows = [{"experiment": "resnet50_nobn", "variant": v, "seed": seed, "test_accuracy": 0.9,
                 "status": "converged", "diverged": False, "run": f"runs/{v}/{seed}", "wall_seconds": t}
                for v, ts in (("lkrelu_batchnorm", lkrelu_bn), ("lkrelu_none", lkrelu_none))
                for seed, t in zip((100, 101, 102), ts)]
        pd.DataFrame(rows).to_csv(path / "runs.csv", index=False)
        return path

    # Every round of b on a machine 1.5x slower: the same ratios, 2.0 each.
    a = timed(tmp_path / "a", [20.0, 22.0, 21.0], [10.0, 11.0, 10.5])
    b = timed(tmp_path / "b", [30.0, 33.0, 31.5], [15.0, 16.5, 15.75])
    c = timed(tmp_path / "c", [15.0, 16.0, 15.5], [10.0, 10.5, 10.0])  # about 1.5
    out = io.StringIO()
    compare_builds.report(a, b, out)
    assert "**Times.** 0 of" in out.getvalue()
    assert "| resnet50_nobn: lkrelu_batchnorm / lkrelu_none (2.08) | 2.00 [2.00, 2.00] | " \
           "2.00 [2.00, 2.00] | yes |" in out.getvalue()
    ratios = compare_builds.time_ratios(*(compare_builds.load(x)[0] for x in (a, c)))
    row = ratios[(ratios["network"] == "lkrelu_batchnorm") & (ratios["reference"] == "lkrelu_none")].iloc[0]
    assert row["overlap"] is not None and not row["overlap"]
    assert row["in_b"][0] == pytest.approx((1.5 * 16 / 10.5 * 1.55) ** (1 / 3))
    # A ratio whose networks a build lacks: shown as --, not compared.
    assert ratios[ratios["network"] == "selu_batchnorm"]["overlap"].isna().all()
