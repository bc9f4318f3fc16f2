"""The claims' verdicts, the tables' cells and the prose, on synthetic per-run tables.

Every verdict, cell and number of the article is computed from the runs:
these tests flip the runs and watch the article follow.
"""

import copy
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from linked_neurons_core.analysis import claims
from linked_neurons_core.analysis import numbers as analysis_numbers
from linked_neurons_core.analysis import published as analysis_published
from linked_neurons_core.analysis import tables as analysis_tables
from linked_neurons_core.analysis import units as analysis_units
from linked_neurons_core.metrics import pack_correct
from linked_neurons_core.table import Table
from test_workflow import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
latex = load_script(SCRIPTS / "latex.py")
CLAIMS = claims.load(ROOT / "config" / "claims.yaml")
THRESHOLDS = CLAIMS["thresholds"]


N_TEST = 360


def correct(accuracy, key, n=N_TEST):
    """A run's per-sample correctness: round(accuracy * n) right answers, at
    places drawn from `key` (so that runs differ in which samples they get)."""
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    right = np.zeros(n, dtype=bool)
    right[rng.choice(n, round(accuracy * n), replace=False)] = True
    return right


def runs(experiment, values, status="converged", **columns):
    """A per-run table: {variant: [test accuracy of each seed]}, with the
    per-sample correctness behind each."""
    rows = []
    for variant, accuracies in values.items():
        for seed, accuracy in enumerate(accuracies, start=100):
            right = correct(accuracy, (experiment, variant, seed))
            rows.append({"experiment": experiment, "variant": variant, "seed": seed,
                         "activation": variant.split("_")[0], "test_accuracy": right.mean(),
                         "best_val_accuracy": right.mean(), "best_test_accuracy": right.mean(),
                         "test_correct": pack_correct(right), "status": status,
                         "diverged": False, "diverged_epoch": None, "converged": status == "converged",
                         "dataset": "digits", "run": f"runs/{experiment}/{variant}/{seed}",
                         "wall_seconds": 10.0, "device_exclusive": True, "dead_units": 0,
                         "dead_per_layer": "[0, 0]", **columns})
    return pd.DataFrame(rows)


def judge(spec, by_experiment):
    return claims.judge(spec, claims.Context(by_experiment, CLAIMS))


def pairs(criterion, experiment="width", **more):
    return {"id": "x", "checks": [{criterion: {"experiment": experiment,
                                              "pairs": [["lk", "single"]], **more}}]}


BETTER = pairs("better")
HIGH, LOW = [0.95, 0.96, 0.97], [0.75, 0.76, 0.77]
CLOSE = [0.86, 0.85, 0.87]


def test_a_verdict_flips_when_its_sides_are_swapped():
    up = {"width": runs("width", {"lk": HIGH, "single": LOW})}
    down = {"width": runs("width", {"lk": LOW, "single": HIGH})}
    assert judge(BETTER, up)[0] == claims.HOLDS
    assert judge(BETTER, down)[0] == claims.FAILS
    verdict, comparisons = judge(BETTER, up)
    assert comparisons[0]["low"] > 0 and "+0.2" in comparisons[0]["text"]


def test_a_tie_is_never_holds():
    tie = runs("width", {"lk": CLOSE, "single": CLOSE})
    tie.loc[tie["variant"] == "single", "test_correct"] = list(tie.loc[tie["variant"] == "lk",
                                                                       "test_correct"])
    for spec in (BETTER, {"id": "x", "checks": [{"best": {"experiment": "width", "unit": "lk",
                                                          "units": ["lk", "single"]}}]}):
        verdict, comparisons = judge(spec, {"width": tie})
        assert verdict == claims.INCONCLUSIVE
        assert comparisons[0]["estimate"] == 0.0


def test_a_difference_within_seeds_and_test_samples_is_inconclusive():
    # 0.87 against 0.86 on 360 samples: one or two images apart.
    close = {"width": runs("width", {"lk": [0.87, 0.86, 0.88], "single": CLOSE})}
    verdict, comparisons = judge(BETTER, close)
    assert verdict == claims.INCONCLUSIVE
    assert comparisons[0]["low"] < 0 < comparisons[0]["high"]


def test_more_seeds_make_a_verdict_sharper_not_vaguer():
    few = runs("width", {"lk": [0.88, 0.87], "single": [0.85, 0.86]})
    many = runs("width", {"lk": [0.88, 0.87] * 5, "single": [0.85, 0.86] * 5})
    width = lambda t: (lambda c: c["high"] - c["low"])(judge(BETTER, {"width": t})[1][0])  # noqa: E731
    assert width(many) < width(few)


CASES = {
    # criterion: {verdict: (spec arguments, {variant: accuracies})}
    "better": {
        claims.HOLDS: ({"pairs": [["lk", "single"]]}, {"lk": HIGH, "single": LOW}),
        claims.FAILS: ({"pairs": [["lk", "single"]]}, {"lk": LOW, "single": HIGH}),
        claims.INCONCLUSIVE: ({"pairs": [["lk", "single"]]}, {"lk": CLOSE, "single": CLOSE}),
    },
    "mostly_better": {
        claims.HOLDS: ({"pairs": [["a", "b"], ["c", "d"], ["e", "f"]]},
                       {"a": HIGH, "b": LOW, "c": HIGH, "d": LOW, "e": CLOSE, "f": CLOSE}),
        claims.FAILS: ({"pairs": [["a", "b"], ["c", "d"], ["e", "f"]]},
                       {"a": LOW, "b": HIGH, "c": LOW, "d": HIGH, "e": CLOSE, "f": CLOSE}),
        claims.INCONCLUSIVE: ({"pairs": [["a", "b"], ["c", "d"], ["e", "f"]]},
                              {"a": HIGH, "b": LOW, "c": CLOSE, "d": CLOSE, "e": LOW, "f": HIGH}),
    },
    "best": {
        claims.HOLDS: ({"unit": "a", "units": ["a", "b", "c"]}, {"a": HIGH, "b": LOW, "c": LOW}),
        claims.FAILS: ({"unit": "a", "units": ["a", "b", "c"]}, {"a": LOW, "b": HIGH, "c": LOW}),
        claims.INCONCLUSIVE: ({"unit": "a", "units": ["a", "b"]}, {"a": CLOSE, "b": CLOSE}),
    },
    "below_best": {
        claims.HOLDS: ({"unit": "bn", "best_of": ["a", "b"]}, {"bn": LOW, "a": HIGH, "b": CLOSE}),
        claims.FAILS: ({"unit": "bn", "best_of": ["a", "b"]}, {"bn": HIGH, "a": LOW, "b": CLOSE}),
        claims.INCONCLUSIVE: ({"unit": "bn", "best_of": ["a"]}, {"bn": CLOSE, "a": CLOSE}),
    },
    "learns": {
        claims.HOLDS: ({"units": ["a"]}, {"a": HIGH}),
        claims.FAILS: ({"units": ["a"]}, {"a": [0.1, 0.11, 0.12]}),
        claims.INCONCLUSIVE: ({"units": ["a"]}, {"a": [0.3, 0.29, 0.31]}),
    },
    "at_chance": {
        claims.HOLDS: ({"units": ["a"]}, {"a": [0.1, 0.09, 0.11]}),
        claims.FAILS: ({"units": ["a"]}, {"a": HIGH}),
        claims.INCONCLUSIVE: ({"units": ["a"]}, {"a": [0.15, 0.14, 0.16]}),
    },
    "same": {
        claims.HOLDS: ({"pairs": [["a", "b"]]}, {"a": [0.95] * 8, "b": [0.95] * 8}),
        claims.FAILS: ({"pairs": [["a", "b"]]}, {"a": HIGH, "b": LOW}),
        claims.INCONCLUSIVE: ({"pairs": [["a", "b"]]}, {"a": [0.86, 0.87, 0.88], "b": [0.84, 0.85, 0.83]}),
    },
    "not_always_better": {
        claims.HOLDS: ({"pairs": [["a", "b"], ["c", "d"]]}, {"a": LOW, "b": HIGH, "c": HIGH, "d": LOW}),
        claims.FAILS: ({"pairs": [["a", "b"], ["c", "d"]]}, {"a": HIGH, "b": LOW, "c": HIGH, "d": LOW}),
        claims.INCONCLUSIVE: ({"pairs": [["a", "b"], ["c", "d"]]},
                              {"a": CLOSE, "b": CLOSE, "c": HIGH, "d": LOW}),
    },
}


@pytest.mark.parametrize("criterion,verdict", [(c, v) for c in CASES for v in CASES[c]])
def test_each_criterion_returns_each_verdict(criterion, verdict):
    arguments, values = CASES[criterion][verdict]
    spec = {"id": "x", "checks": [{criterion: {"experiment": "depth", **arguments}}]}
    assert judge(spec, {"depth": runs("depth", values)})[0] == verdict


def test_a_ratio_returns_each_verdict_and_never_judges_a_shared_device():
    spec = {"id": "x", "checks": [{"ratio": {"experiment": "resnet50_nobn",
                                             "pairs": [["bn", "none", 2.0]]}}]}
    table = runs("resnet50_nobn", {"bn": [0.9] * 3, "none": [0.9] * 3})
    for seconds, verdict in (([20.0, 20.5, 21.0], claims.HOLDS), ([10.0, 11.0, 10.5], claims.FAILS),
                             ([12.0, 28.0, 20.0], claims.INCONCLUSIVE)):
        table.loc[table["variant"] == "bn", "wall_seconds"] = seconds
        assert judge(spec, {"resnet50_nobn": table})[0] == verdict, seconds
    table.loc[table["variant"] == "bn", "wall_seconds"] = [20.0, 20.5, 21.0]
    # A run's time is its time whether or not its accuracy had converged: the
    # verdict stands and names none of them (the accuracy claims do).
    unfinished = table.assign(status=["still improving", "collapsed", "stuck"] + ["converged"] * 3)
    verdict, comparisons = judge(spec, {"resnet50_nobn": unfinished})
    assert verdict == claims.HOLDS
    assert [comparisons[0][k] for k in ("not_converged", "collapsed", "stuck")] == [[], [], []]
    accuracy = {"id": "x", "checks": [{"better": {"experiment": "resnet50_nobn",
                                                  "pairs": [["none", "bn"]]}}]}
    named = judge(accuracy, {"resnet50_nobn": unfinished})[1][0]
    assert [named[k] for k in ("not_converged", "collapsed", "stuck")] == \
        [["bn seed 100"], ["bn seed 101"], ["bn seed 102"]]
    shared = table.assign(device_exclusive=[True] * 5 + [False])
    verdict, comparisons = judge(spec, {"resnet50_nobn": shared})
    assert verdict == claims.INCONCLUSIVE and comparisons[0]["note"] == "timed on a shared device"


def test_the_evidence_says_why_a_ratio_was_not_judged_however_many_there_are():
    # Five ratios over one reference timed beside other work: each one listed
    # says so, not just "inconclusive" beside an interval outside the band.
    names = ["a", "b", "c", "d", "e", "ref"]
    table = runs("resnet50_nobn", {n: [0.9] * 3 for n in names})
    table["wall_seconds"] = [10.0, 10.5, 11.0] * 6
    table["device_exclusive"] = [True] * 15 + [False] * 3
    spec = {"id": "x", "checks": [{"ratio": {"experiment": "resnet50_nobn",
                                             "pairs": [[n, "ref", 3.0] for n in names[:5]]}}]}
    verdict, comparisons = judge(spec, {"resnet50_nobn": table})
    evidence = claims.summary_text(comparisons)
    assert verdict == claims.INCONCLUSIVE and evidence.startswith("0 of 5 hold; inconclusive: ")
    assert evidence.count("(timed on a shared device)") == 5, evidence


def test_the_table_shows_the_time_ratio_the_claim_judges():
    table = runs("resnet50_nobn", {"lkrelu_batchnorm": [0.9] * 3, "lkrelu_none": [0.9] * 3})
    table.loc[table["variant"] == "lkrelu_batchnorm", "wall_seconds"] = [20.0, 23.0, 21.0]
    table.loc[table["variant"] == "lkrelu_none", "wall_seconds"] = [10.0, 10.5, 9.0]
    spec = {"id": "x", "checks": [{"ratio": {"experiment": "resnet50_nobn",
                                             "pairs": [["lkrelu_batchnorm", "lkrelu_none", 2.0]]}}]}
    _, comparisons = judge(spec, {"resnet50_nobn": table})
    # The forest plot's row: the interval over the paper's 2.0, less 1.
    judged = [(comparisons[0][k] + 1.0) * 2.0 for k in ("estimate", "low", "high")]
    shown = analysis_tables.table_timed("resnet50_nobn", table, None)["rows"][1]["cells"][0]
    assert [shown["median"], shown["low"], shown["high"]] == pytest.approx(judged)
    # The geometric mean of the seeds' ratios (each seed's pair timed in one round).
    assert shown["median"] == pytest.approx((20 / 10 * 23 / 10.5 * 21 / 9) ** (1 / 3))
    assert shown["low"] < shown["median"] < shown["high"]


def test_the_accuracy_interval_is_students_t_with_a_seed_part_and_a_test_set_part():
    a = np.array([[1, 1, 1, 0, 1], [1, 1, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=bool)
    b = np.array([[1, 0, 1, 0, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]], dtype=bool)
    # By hand: the seeds' accuracies and the per-sample difference of the
    # seed means; each part's variance with its degrees of freedom.
    seeds_a, seeds_b = [0.8, 0.6, 1.0], [0.6, 0.4, 0.6]
    per_sample = a.mean(axis=0) - b.mean(axis=0)
    parts = [(np.var(seeds_a, ddof=1) / 3, 2), (np.var(seeds_b, ddof=1) / 3, 2),
             (per_sample.var(ddof=1) / 5, 4)]
    variance = sum(v for v, _ in parts)
    dof = variance**2 / sum(v**2 / d for v, d in parts)
    half = stats.t.ppf(0.975, dof) * np.sqrt(variance)
    estimate, low, high = claims.intervals.difference(a, b)
    assert estimate == pytest.approx(0.8 - 8 / 15)
    assert (low, high) == pytest.approx((estimate - half, estimate + half))
    # The same units swapped: the same interval, mirrored.
    assert claims.intervals.difference(b, a) == pytest.approx((-estimate, -high, -low))
    # One seed: nothing measures the seeds' spread; the test set's part alone.
    estimate, low, high = claims.intervals.accuracy(a[:1])
    half = stats.t.ppf(0.975, 4) * a[0].std(ddof=1) / np.sqrt(5)
    assert (estimate, low, high) == pytest.approx((0.8, 0.8 - half, min(0.8 + half, 1.0)))
    # Three seeds far apart: the interval reaches beyond their own range, as
    # three draws of a network's seeds should (a percentile bootstrap over
    # them could not).
    spread = np.array([[1] * 80 + [0] * 20, [1] * 90 + [0] * 10, [1] * 100], dtype=bool)
    estimate, low, high = claims.intervals.accuracy(spread)
    assert low < 0.8 and estimate == pytest.approx(0.9)
    # ... but not past what an accuracy can be: a cell whose seeds split
    # between chance and learning reaches 1 (and a difference, -1 and 1).
    assert high == 1.0
    split = np.array([[1] * 95 + [0] * 5, [1] * 97 + [0] * 3, [1] * 8 + [0] * 92], dtype=bool)
    assert claims.intervals.accuracy(split)[1:] == (0.0, 1.0)
    assert claims.intervals.difference(np.zeros_like(split), split)[1] == -1.0


def test_accuracy_intervals_contain_the_truth_about_95_percent_of_the_time():
    """Simulated builds, benchmarks/coverage.py's model: a sample's
    difficulty is a logit, a seed shifts its network's logits by N(0, 1),
    which spreads three seeds' accuracies by about 0.03, as the quick
    article's widest learned cells. The percentile bootstrap this replaced
    contained the true difference in 86% of such builds there."""
    model = load_script(ROOT / "benchmarks" / "coverage.py")
    rng = np.random.default_rng(7)
    sigma, shift, n, builds = 1.0, -0.5, 360, 300
    target = model.truth(sigma, 0.0, rng) - model.truth(sigma, shift, rng)
    hits = 0
    for _ in range(builds):
        samples = rng.normal(model.MU, model.TAU, n)
        _, low, high = claims.intervals.difference(model.runs(samples, 3, sigma, 0.0, rng),
                                                   model.runs(samples, 3, sigma, shift, rng))
        hits += low <= target <= high
    assert hits / builds >= 0.93


def test_real_seed_coverage_draws_triples_and_checks_them_against_the_other_seeds():
    """benchmarks/seed_coverage.py on made-up runs: its seed part is Student's
    t on three seeds; where seeds' accuracies spread normally, it contains
    the other seeds' mean about 95% of the time, and the claims' interval,
    which also counts the test set, at least as often."""
    check = load_script(ROOT / "benchmarks" / "seed_coverage.py")
    low, high = check.seed_part(np.array([0.8, 0.9, 1.0]))
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert (low, high) == pytest.approx((0.9 - half, 0.9 + half))
    rng = np.random.default_rng(3)
    difficulty = rng.random(360)  # a sample is right for a seed whose level is above its difficulty

    def runs(level, seeds=40):
        return difficulty[None, :] < rng.normal(level, 0.02, (seeds, 1))

    shares = check.coverage(runs(0.9), runs(0.85), 2000, rng)
    for covers, seed_covers, width in shares.values():
        assert 0.90 <= seed_covers <= 0.99
        assert covers >= seed_covers and width > 0
    # Seeds that all agree: the seed part is a point, the interval is the test set's.
    same = np.tile(difficulty < 0.9, (10, 1))
    covers, seed_covers, _ = check.coverage(same, same, 50, rng)["difference"]
    assert covers == seed_covers == 1.0
    # The threshold rule on a network whose seeds split, 4 of 20 at chance:
    # three learned seeds (C(16,3) of C(20,3) triples) hold, three at chance
    # (C(4,3)) do not, the rest are inconclusive; the share's interval
    # contains the network's share (0.8) unless all three are at chance.
    split = np.concatenate([runs(0.9, 16), runs(0.1, 4)])
    shares, covered = check.threshold(split, 0.30, 4000, rng)
    assert shares[claims.HOLDS] == pytest.approx(560 / 1140, abs=0.03)
    assert shares[claims.FAILS] == pytest.approx(4 / 1140, abs=0.005)
    assert covered == pytest.approx(1 - 4 / 1140, abs=0.005)
    with pytest.raises(SystemExit):
        check.main(["--seeds", "5"])


def test_seed_coverage_bounds_each_variant_at_chance_on_its_own_dataset(tmp_path):
    """The threshold table's bound is the claims': 1/classes of the runs'
    dataset plus learn_margin, not a fixed ten classes."""
    check = load_script(ROOT / "benchmarks" / "seed_coverage.py")
    thresholds = yaml.safe_load((ROOT / "config/claims.yaml").read_text())["thresholds"]
    for dataset, chance in (("digits", 0.1), ("cifar100", 0.01)):
        run = tmp_path / dataset / "v" / "7"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"dataset": dataset}))
        assert check.learn_bound(f"{dataset}/v", [7], tmp_path, check.compare_builds.margins()) \
            == pytest.approx(chance + thresholds["learn_margin"])


def test_the_time_ratio_interval_is_students_t_on_the_seeds_log_ratios():
    a, b = {100: 20.0, 101: 23.0, 102: 21.0}, {100: 10.0, 101: 10.5, 102: 9.0}
    logs = np.log([20 / 10, 23 / 10.5, 21 / 9])
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / np.sqrt(3)
    expected = np.exp([logs.mean(), logs.mean() - half, logs.mean() + half])
    assert claims.intervals.ratio(a, b) == pytest.approx(expected)
    # A seed only one network has is no pair; nor is a missing time.
    assert claims.intervals.ratio({**a, 103: 99.0}, {**b, 104: 1.0, 105: float("nan")}) \
        == pytest.approx(expected)
    # One pair: an estimate, no interval; no pair: nothing.
    estimate, low, high = claims.intervals.ratio({100: 20.0}, b)
    assert estimate == 2.0 and np.isnan(low) and np.isnan(high)
    assert claims.intervals.ratio({7: 1.0}, b) is None


@given(times=st.lists(st.floats(1.0, 100.0), min_size=2, max_size=6),
       speeds=st.lists(st.floats(0.5, 2.0), min_size=6, max_size=6),
       factor=st.floats(0.2, 5.0))
def test_a_machine_faster_or_slower_in_some_rounds_moves_no_paired_ratio(times, speeds, factor):
    """Each seed's pair shares its round's moment: a speed common to a round
    cancels, so a network `factor` times slower in every round is measured
    at exactly `factor`, however the machine's speed moved between rounds."""
    b = {100 + i: t * speeds[i] for i, t in enumerate(times)}
    a = {seed: factor * t for seed, t in b.items()}
    assert claims.intervals.ratio(a, b) == pytest.approx((factor,) * 3, rel=1e-9)
    noisy = {seed: t * (1.1 if seed % 2 else 0.9) for seed, t in a.items()}
    estimate, low, high = claims.intervals.ratio(noisy, b)
    assert low < estimate < high and low < factor < high * 1.2


def test_a_time_ratio_needs_two_pairs_of_runs_to_be_judged():
    spec = {"id": "x", "checks": [{"ratio": {"experiment": "resnet50_nobn",
                                             "pairs": [["bn", "none", 2.0]]}}]}
    table = runs("resnet50_nobn", {"bn": [0.9], "none": [0.9]})
    table["wall_seconds"] = [20.0, 10.0]  # exactly the paper's 2.0, once
    verdict, comparisons = judge(spec, {"resnet50_nobn": table})
    assert verdict == claims.INCONCLUSIVE
    assert comparisons[0]["note"] == "one pair of timed runs: no interval"
    assert "= 2.000 (the paper: 2.0" in comparisons[0]["text"]
    # Two seeds, paired by seed (not by position): 2.0 and 2.05.
    table = runs("resnet50_nobn", {"bn": [0.9] * 2, "none": [0.9] * 2})
    table["wall_seconds"] = [20.5, 20.0, 10.0, 10.0]
    table.loc[table["variant"] == "bn", "seed"] = [101, 100]
    verdict, comparisons = judge(spec, {"resnet50_nobn": table})
    assert verdict == claims.HOLDS and comparisons[0]["note"] is None


def test_a_run_row_has_one_status_in_the_tables_and_the_claims():
    row_status, flag = claims.run_rows.status, claims.run_rows.flag
    assert [flag(v) for v in (True, 1.0, "True", False, 0, "False", None, float("nan"))] == \
        [True] * 3 + [False] * 5
    assert row_status({"status": "stuck", "converged": True}) == "stuck"
    # A published value's row has no status: its flags decide.
    assert row_status({"converged": "True"}) == "converged"
    assert row_status({"converged": "False"}) == "still improving"
    assert row_status({"converged": True, "diverged": True}) == "diverged"
    assert analysis_tables.run_rows is claims.run_rows is analysis_units.run_rows
    with pytest.raises(ValueError, match="unknown status 'done'.*re-extract"):
        row_status({"status": "done", "run": "runs/x/y/100"})


def test_dead_units_returns_each_verdict_and_reports_the_exception_without_one():
    spec = {"id": "x", "checks": [{"dead_units": {"experiment": "depth", "dead": ["relu"],
                                                  "alive": ["lkrelu"], "reported": ["swish"]}}]}
    table = runs("depth", {"relu": [0.1] * 3, "lkrelu": HIGH, "swish": [0.1] * 3})
    relu, lkrelu = table["variant"] == "relu", table["variant"] == "lkrelu"
    table.loc[relu, "dead_per_layer"] = "[0, 0.5, 1.0]"
    table.loc[relu, "dead_units"] = 6
    verdict, comparisons = judge(spec, {"depth": table})
    assert verdict == claims.HOLDS and "from layer 2-2 on" in comparisons[0]["text"]
    assert comparisons[2]["verdict"] is None  # reported, not judged
    table.loc[lkrelu, "dead_units"] = [1, 0, 0]
    assert judge(spec, {"depth": table})[0] == claims.INCONCLUSIVE
    table.loc[relu, "dead_per_layer"] = "[0, 0.5, 0]"
    assert judge(spec, {"depth": table})[0] == claims.FAILS


def test_an_unfinished_run_makes_a_check_not_converged_only_when_it_matters():
    # Without seed 101, still improving, "single" is clearly below: the verdict
    # turns from inconclusive to holds, so it rests on that run.
    table = runs("width", {"lk": [0.90, 0.91, 0.92], "single": [0.80, 0.95, 0.82]})
    table.loc[(table["variant"] == "single") & (table["seed"] == 101), "status"] = "still improving"
    verdict, comparisons = judge(BETTER, {"width": table})
    assert verdict == claims.NOT_CONVERGED
    assert comparisons[0]["not_converged"] == ["single seed 101"]
    # Here it does not matter: linked is above with or without it.
    table.loc[(table["variant"] == "single") & (table["seed"] == 101), "test_correct"] = \
        pack_correct(correct(0.81, "x"))
    verdict, comparisons = judge(BETTER, {"width": table})
    assert verdict == claims.HOLDS and comparisons[0]["not_converged"] == ["single seed 101"]


def test_a_verdict_is_not_judged_again_on_one_finished_run():
    # Two of three seeds still improving: the one finished seed alone would
    # carry the verdict (the depth BN runs: which seed finishes turns on
    # rounding, so the same commit held on one machine and not on another).
    table = runs("width", {"lk": HIGH, "single": LOW})
    unfinished = (table["variant"] == "single") & (table["seed"] >= 101)
    table.loc[unfinished, "status"] = "still improving"
    verdict, comparisons = judge(BETTER, {"width": table})
    assert verdict == claims.NOT_CONVERGED
    assert comparisons[0]["not_converged"] == ["single seed 101", "single seed 102"]
    # Two finished seeds are judged again, and here they agree.
    table.loc[table["seed"] == 101, "status"] = "converged"
    assert judge(BETTER, {"width": table})[0] == claims.HOLDS
    # A unit of one run (the paper scale's single seed) is judged as it is.
    one = runs("width", {"lk": HIGH[:1], "single": LOW})
    one.loc[(one["variant"] == "single") & (one["seed"] == 102), "status"] = "still improving"
    verdict, comparisons = judge(BETTER, {"width": one})
    assert verdict == claims.HOLDS
    # ... and names it: its interval counts no spread over seeds.
    assert comparisons[0]["one_run"] == ["lk"]
    assert judge(BETTER, {"width": table})[1][0]["one_run"] == []


def test_a_network_that_should_learn_names_its_runs_at_chance_whatever_their_status():
    # Seed 100 plateaued at chance: "converged" by its status, but it never learned.
    table = runs("depth", {"lk": [0.09, 0.92, 0.89], "relu": [0.09] * 3})
    verdict, comparisons = judge({"id": "x", "checks": [{"learns": {
        "experiment": "depth", "units": ["lk"]}}]}, {"depth": table})
    assert comparisons[0]["at_chance"] == ["lk seed 100"] and comparisons[0]["stuck"] == []
    # Its seeds split: one at chance, two learned. A unit all at chance does not split.
    assert comparisons[0]["split"] == ["lk (1 of 3 seeds at chance)"]
    _, comparisons = judge({"id": "x", "checks": [{"learns": {
        "experiment": "depth", "units": ["relu"]}}]}, {"depth": table})
    assert len(comparisons[0]["at_chance"]) == 3 and comparisons[0]["split"] == []
    table["epochs"], table["epochs_run"] = 60, [30, 45, 60] * 2
    table["stopped_early"] = [True, True, False] * 2
    _, comparisons = judge({"id": "x", "checks": [{"learns": {
        "experiment": "depth", "units": ["lk"]}}]}, {"depth": table})
    assert comparisons[0]["at_chance"] == ["lk seed 100 (early-stopped at epoch 30 of 60)"]
    _, comparisons = judge({"id": "x", "checks": [{"at_chance": {
        "experiment": "depth", "units": ["relu"]}}]}, {"depth": table})
    assert comparisons[0]["at_chance"] == []  # how the failing network fails: not named
    assert comparisons[0]["split"] == []
    result, = claims.evaluate({**CLAIMS, "claims": [{
        "id": "x", "source": "s", "claim": "c", "checks": [{"learns": {
            "experiment": "depth", "units": ["lk"]}}]}]}, {"depth": table})
    assert result["at_chance"] == ["lk seed 100 (early-stopped at epoch 30 of 60)"]
    assert result["split"] == ["lk (1 of 3 seeds at chance)"]


def test_a_threshold_check_judges_every_seed_not_the_seeds_mean():
    def spec(criterion, unit):
        return {"id": "x", "checks": [{criterion: {"experiment": "depth", "units": [unit]}}]}
    # Nine seeds learned and one stayed at chance: the interval of their mean
    # lies above 0.30 (the rule this replaced said "learns"), but two values,
    # chance and learned, are no spread around a mean: not every seed learned.
    table = runs("depth", {"lk": [0.95] * 9 + [0.09], "edge": [0.35, 0.95, 0.95],
                           "under": [0.344, 0.95, 0.95], "relu": [0.1, 0.09, 0.11],
                           "some": [0.1, 0.2, 0.09], "high": [0.2, 0.95, 0.95]})
    lk = np.array(claims.Context({"depth": table}, CLAIMS).unit("depth", "lk").correct())
    assert claims.intervals.side(claims.intervals.accuracy(lk), 0.30) == claims.HOLDS
    verdict, (c,) = judge(spec("learns", "lk"), {"depth": table})
    assert verdict == claims.INCONCLUSIVE
    share = stats.binomtest(9, 10).proportion_ci(0.95, method="exact")
    assert c["text"].endswith(f"9 of 10 above, 1 below; share of seeds above: "
                              f"{share.low:.2f}-{share.high:.2f}")
    # Each seed at 95%, with no correction for their number (an intersection-
    # union test): 126 of 360 right has Wilson's interval from 0.3025; 124 of
    # 360 reaches below 0.30.
    verdict, (c,) = judge(spec("learns", "edge"), {"depth": table})
    assert verdict == claims.HOLDS and "3 of 3 above; share of seeds above: 0.29-1.00" in c["text"]
    own = [stats.binomtest(k, N_TEST).proportion_ci(0.95, method="wilson") for k in (126, 342)]
    # The forest plot draws the envelope of the seeds' own intervals less the bound.
    assert (c["estimate"], c["low"], c["high"]) == pytest.approx(
        (0.95 - 0.30, own[0].low - 0.30, own[1].high - 0.30))
    assert own[0].low > 0.30 and judge(spec("learns", "under"), {"depth": table})[0] == claims.INCONCLUSIVE
    # At chance: every seed below 0.15; one seed above it leaves it open; all, does not hold.
    assert judge(spec("at_chance", "relu"), {"depth": table})[0] == claims.HOLDS
    verdict, (c,) = judge(spec("at_chance", "some"), {"depth": table})
    assert verdict == claims.INCONCLUSIVE and "2 of 3 below, 1 above" in c["text"]
    assert judge(spec("at_chance", "high"), {"depth": table})[0] == claims.FAILS
    # Every seed that ran below the bound: does not hold, and its share says
    # that three such seeds leave up to 0.71 of seeds able to learn.
    verdict, (c,) = judge(spec("learns", "relu"), {"depth": table})
    assert verdict == claims.FAILS
    assert c["text"].endswith("0 of 3 above, 3 below; share of seeds above: 0.00-0.71")
    # Unfinished runs: each seed is judged on its own, so one finished seed
    # judges the check again (depth LK-PReLU in the 0e3bf36 build: two of its
    # three learned seeds still improving); a verdict that rests on an
    # unfinished seed is not converged.
    edge = table["variant"] == "edge"
    table.loc[edge & (table["seed"] >= 101), "status"] = "still improving"
    verdict, (c,) = judge(spec("learns", "edge"), {"depth": table})
    assert verdict == claims.HOLDS and c["not_converged"] == ["edge seed 101", "edge seed 102"]
    table.loc[edge, "status"] = ["still improving", "converged", "converged"]
    assert judge(spec("learns", "edge"), {"depth": table})[0] == claims.HOLDS
    table.loc[table["variant"] == "under", "status"] = ["still improving", "converged", "converged"]
    assert judge(spec("learns", "under"), {"depth": table})[0] == claims.NOT_CONVERGED
    table.loc[edge, "status"] = "still improving"
    assert judge(spec("learns", "edge"), {"depth": table})[0] == claims.NOT_CONVERGED


def test_a_difference_names_the_runs_at_chance_on_either_side():
    # All-CNN's Swish at chance in every seed: "LK-ReLU beats Swish" holds, and
    # says that the network it beat never learned (a plateau at chance is
    # "converged", so no status names it).
    table = runs("allcnn", {"lk": HIGH, "single": [0.08, 0.09, 0.5]})
    verdict, comparisons = judge(pairs("better", "allcnn"), {"allcnn": table})
    assert verdict == claims.HOLDS
    assert comparisons[0]["at_chance"] == ["single seed 100", "single seed 101"]
    reverse = {"id": "x", "checks": [{"same": {"experiment": "allcnn", "pairs": [["single", "lk"]],
                                               "tolerance": 0.02}}]}
    assert judge(reverse, {"allcnn": table})[1][0]["at_chance"] == \
        ["single seed 100", "single seed 101"]
    # A network that all learned: nothing named; a check that expects chance names none.
    assert judge(BETTER, {"width": runs("width", {"lk": HIGH, "single": LOW})})[1][0]["at_chance"] == []
    expects = {"id": "x", "checks": [{"at_chance": {"experiment": "allcnn", "units": ["single"]}}]}
    assert judge(expects, {"allcnn": table})[1][0]["at_chance"] == []
    # The claim's row gathers them.
    result, = claims.evaluate({**CLAIMS, "claims": [{"id": "x", "source": "s", "claim": "c", "checks": [
        {"better": {"experiment": "allcnn", "pairs": [["lk", "single"]]}}]}]}, {"allcnn": table})
    assert result["at_chance"] == ["single seed 100", "single seed 101"]
    # The paper's own values are one figure each: its depth ReLU's 0.1000 is no run to name.
    lk_over_relu = {"id": "x", "checks": [{"better": {"experiment": "depth",
                                                      "pairs": [["lkrelu", "relu"]]}}]}
    _, paper = claims.judge(lk_over_relu, published_context())
    assert paper[0]["verdict"] == claims.HOLDS and paper[0]["at_chance"] == []


def test_stuck_runs_count_as_failing_at_chance_and_are_named_elsewhere():
    table = runs("depth", {"relu": [0.1] * 3, "lk": HIGH, "single": [0.1] * 3}, status="stuck")
    at_chance = {"id": "x", "checks": [{"at_chance": {"experiment": "depth", "units": ["relu"]}}]}
    verdict, comparisons = judge(at_chance, {"depth": table})
    assert verdict == claims.HOLDS and comparisons[0]["stuck"] == []
    verdict, comparisons = judge(pairs("better", "depth"), {"depth": table})
    assert verdict == claims.HOLDS and "single seed 100" in comparisons[0]["stuck"]


def test_a_diverged_run_is_never_counted_and_is_named():
    table = runs("width", {"lk": HIGH, "single": [0.75, 0.76, 0.99]})
    diverged = (table["variant"] == "single") & (table["seed"] == 102)
    table.loc[diverged, ["diverged", "diverged_epoch", "status"]] = [True, 1, "diverged"]
    verdict, comparisons = judge(BETTER, {"width": table})
    assert verdict == claims.HOLDS  # its 0.99 (weights that are not numbers) does not count
    assert comparisons[0]["diverged"] == ["single seed 102"]
    stats = analysis_units.stats(table[table["variant"] == "single"])
    assert stats["high"] < 0.8 and stats["diverged"] == [{"seed": 102, "epoch": 1}]


def test_chance_comes_from_the_dataset():
    table = runs("depth", {"relu": [0.1] * 3})
    assert claims.Context({"depth": table}, CLAIMS).chance("depth") == 0.1
    hundred = table.assign(dataset="cifar100")
    assert claims.Context({"depth": hundred}, CLAIMS).chance("depth") == 0.01


def published_context():
    published = analysis_published.published_runs(ROOT / "paper" / "published")
    published = published.assign(test_accuracy=published["best_val_accuracy"])
    return claims.Context({e: g for e, g in published.groupby("experiment")}, CLAIMS, published=True)


def test_the_paper_is_judged_on_its_own_published_values():
    by_id = {c["id"]: c for c in CLAIMS["claims"]}
    paper = published_context()
    verdict, comparisons = claims.judge(by_id["nobn_accuracy"], paper)
    # 0.9048 against 0.9027, one run each on 10,000 test images: the same within 0.02.
    assert comparisons[0]["verdict"] == claims.HOLDS
    assert abs(comparisons[0]["estimate"] - 0.0021) < 1e-9
    # LK-SELU 0.9134 against LK-Swish 0.9139: not a failure, inconclusive.
    verdict, comparisons = claims.judge(by_id["resnet50_lkselu"], paper)
    swish = next(c for c in comparisons if "LK-Swish" in c["text"])
    assert swish["verdict"] == claims.INCONCLUSIVE and verdict == claims.INCONCLUSIVE
    assert claims.judge(by_id["depth_fail"], paper)[0] == claims.HOLDS
    assert claims.judge(by_id["depth_learn"], paper)[0] == claims.HOLDS
    assert claims.judge(by_id["nobn_gain"], paper)[0] == claims.HOLDS
    assert claims.judge(by_id["nobn_ratios"], paper)[0] == claims.HOLDS


def test_every_claim_of_the_paper_quotes_it_and_none_of_the_project_cites_it():
    for spec in CLAIMS["claims"]:
        if spec.get("origin", "paper") == "paper":
            assert spec["quote"] and ("Sec." in spec["source"] or "Table" in spec["source"])
        else:
            assert "quote" not in spec and "hypothesis" in spec["source"]


def test_every_unit_a_claim_names_exists_in_the_experiment_table():
    table = Table(ROOT / "config" / "experiments.yaml")
    for spec in CLAIMS["claims"]:
        for check in spec["checks"]:
            (name, args), = check.items()
            assert name in claims.CHECKS, (spec["id"], name)
            for experiment in args.get("experiments") or [args["experiment"]]:
                known = set(table.variants(experiment))
                if experiment == "allcnn":
                    known = {v.rpartition("_")[0] for v in known}
                named = {u for pair in args.get("pairs", []) for u in pair if isinstance(u, str)}
                for key in ("units", "best_of", "dead", "alive", "reported"):
                    named |= set(args.get(key, []))
                named |= {args["unit"]} if "unit" in args else set()
                assert named <= known, (spec["id"], named - known)


def full_quick_runs(value=0.5):
    """A per-run table of every experiment of the quick scale, one value."""
    table = Table(ROOT / "config" / "experiments.yaml")
    out = {}
    for experiment in table.experiments:
        frame = runs(experiment, {v: [value] * 3 for v in table.variants(experiment)},
                     epochs=10, epochs_run=10, batch_size=32, image_size=8, width_scale=0.25,
                     augment=False, protocol="text", early_stopping=None, stopped_early=False,
                     params=1000, device="cpu: test machine (AVX2)", train_seconds=5.0,
                     dead_layers=0, median_epoch_seconds=0.5)
        configs = {v: table.resolve(experiment, v, "quick") for v in table.variants(experiment)}
        for key in ("activation", "filters", "input_offset"):
            frame[key] = [configs[v].get(key) for v in frame["variant"]]
        out[experiment] = frame
    return out


def test_a_grid_cell_of_two_variants_is_refused_by_name_not_pooled():
    # A user's width grid that also varies the optimizer: two variants per
    # (filters, activation) cell. Pooled, six seeds would read as one unit's.
    frame = full_quick_runs()["width"]
    other = frame[frame["variant"] == "w50_relu"].assign(variant="w50_relu_adam")
    frame = pd.concat([frame, other], ignore_index=True)
    with pytest.raises(analysis_tables.LayoutError) as error:
        analysis_tables.aggregate("width", frame, None)
    message = str(error.value)
    assert "\n" not in message
    for part in ("width", "filters=50", "activation=relu", "w50_relu, w50_relu_adam", "`rows`"):
        assert part in message, (part, message)
    # One variant a cell, as the table's own grid: built, each cell its three seeds.
    table = analysis_tables.aggregate("width", full_quick_runs()["width"], None)
    assert all(c["n"] == 3 for row in table["rows"] for c in row["cells"])


def render_paper(by_experiment, results):
    render = load_script(SCRIPTS / "render_paper.py")
    counts = claims.counts(results)
    return latex.template(ROOT / "workflow/templates/paper.tex.j2").render(
        experiments=list(by_experiment), scale="quick", n=analysis_numbers.numbers(by_experiment),
        claims={"counts": counts, "claims": results}, claim={c["id"]: c for c in results},
        protocol=[], used="text", figures=False, seeds=[100, 101, 102],
        provenance=render.provenance(list(by_experiment), []), commit="abc",
        devices=render.devices(by_experiment))


def test_the_prose_follows_the_results_and_the_verdicts():
    by_experiment = full_quick_runs()
    results = claims.evaluate(CLAIMS, by_experiment)
    assert len(results) == len(CLAIMS["claims"])  # every claim judged on a full build
    text = " ".join(render_paper(by_experiment, results).split())
    assert f"Of the {len(results)} claims" in text
    # Flip the depth runs: the numbers and the verdicts of the prose follow.
    learned = copy.deepcopy(by_experiment)
    learned["depth"] = full_quick_runs(0.9)["depth"]
    flipped = claims.evaluate(CLAIMS, learned)
    verdicts = {c["id"]: c["verdict"] for c in flipped}
    assert verdicts["depth_fail"] == claims.FAILS and verdicts["depth_learn"] == claims.HOLDS
    new = " ".join(render_paper(learned, flipped).split())
    assert "Plain ReLU reaches a median accuracy of 0.900" in new
    assert "Plain ReLU reaches a median accuracy of 0.500" in text
    assert "stays at chance: \\emph{does not hold}" in new
    # The devices the runs trained on; two of them are said to be two.
    assert "The runs trained on cpu: test machine (AVX2)." in text and "more than one" not in text
    learned["depth"]["device"] = "cpu: other machine (AVX-512)"
    two = " ".join(render_paper(learned, flipped).split())
    devices = latex.tex("cpu: test machine (AVX2); cpu: other machine (AVX-512)")
    assert f"The runs trained on {devices}." in two
    assert "They come from more than one device" in two


def test_the_prose_says_from_which_layer_every_layer_is_dead_and_which_numbers_are_unfinished():
    # ReLU's three runs: scattered dead units from layer 2, every layer dead
    # from layer 4 on in two runs and from layer 5 on in the third. The prose
    # gives both, not the first scattered one as if it were the onset.
    by_experiment = full_quick_runs()
    depth = by_experiment["depth"]
    relu = depth["variant"] == "relu"
    depth.loc[relu, "dead_per_layer"] = ["[0, 0.2, 0, 0.5, 1.0, 1.0]", "[0, 0, 0, 0.5, 1.0, 1.0]",
                                         "[0, 0, 0, 0, 0.25, 1.0]"]
    depth.loc[relu, "dead_layers"] = [4, 3, 2]
    depth.loc[depth.index[relu][0], "status"] = "still improving"
    numbers = analysis_numbers.numbers(by_experiment)
    assert numbers["depth.relu.dead_from"]["value"] == [4, 5]
    assert numbers["depth.relu.first_dead"]["value"] == 2
    text = " ".join(render_paper(by_experiment, claims.evaluate(CLAIMS, by_experiment)).split())
    assert "in every layer from layer 4--5 on (the range over runs), with scattered ones from " \
           "layer 2;" in text
    assert "Plain ReLU reaches a median accuracy of 0.500 (1 of 3 runs not converged)" in text
    # A run without such an onset: no range, the first dead layer alone.
    depth.loc[relu, "dead_per_layer"] = "[0, 0.2, 0, 0, 0, 0]"
    assert analysis_numbers.numbers(by_experiment)["depth.relu.dead_from"]["value"] is None
    text = " ".join(render_paper(by_experiment, claims.evaluate(CLAIMS, by_experiment)).split())
    assert "from layer 2 at the earliest;" in text and "every layer from layer" not in text


def test_a_cell_whose_seeds_split_between_chance_and_learning_is_called_a_draw():
    # Depth LK-ReLU: one seed at chance, two learned (rounding decides which
    # side a run of the 51-layer network takes). The prose says the median is
    # the side most seeds took; a build whose cells do not split says nothing.
    by_experiment = full_quick_runs(0.9)
    whole = " ".join(render_paper(by_experiment, claims.evaluate(CLAIMS, by_experiment)).split())
    assert "split between chance and learning" not in whole
    depth = by_experiment["depth"]
    depth.loc[(depth["variant"] == "lkrelu") & (depth["seed"] == 101), "test_accuracy"] = 0.09
    results = claims.evaluate(CLAIMS, by_experiment)
    learn = next(c for c in results if c["id"] == "depth_learn")
    assert learn["split"] == ["LK-ReLU (1 of 3 seeds at chance)"]
    assert learn["at_chance"] == ["LK-ReLU seed 101"]
    text = " ".join(render_paper(by_experiment, results).split())
    cell = latex.tex("LK-ReLU (1 of 3 seeds at chance)")
    assert ("In 1 table cell whose network should learn, the seeds split between chance and "
            f"learning ({cell})") in text
    assert f"The seeds of {cell} split between chance and learning" in text
    table = latex.template(ROOT / "workflow/templates/claims.tex.j2").render(
        claims=results, scale="quick")
    assert f"Seeds split between chance and learning: {cell}" in table
    # The report's claims table names the same runs and cells as the PDF's.
    rows = load_script(SCRIPTS / "report_tables.py").claims_rows({"claims": results})
    row = rows.set_index("id").loc["depth_learn"]
    assert row["split"] == "LK-ReLU (1 of 3 seeds at chance)"
    assert row["at_chance"] == "LK-ReLU seed 101"
    assert list(rows.columns[-len(claims.FLAGS):]) == list(claims.FLAGS)


def test_no_number_or_verdict_is_typed_into_the_templates():
    for name in ("paper.tex.j2", "table.tex.j2", "claims.tex.j2"):
        source = (ROOT / "workflow/templates" / name).read_text()
        prose = re.sub(r"<<.*?>>|<%.*?%>|<#.*?#>", "", source, flags=re.S)
        prose = re.sub(r"(?<!\\)\$[^$]*\$", "", prose)  # formulas: x - 0.5 + c
        # No accuracy, ratio or count is written out: numbers in the text are layout.
        for match in re.finditer(r"(?<![\w.])\d+\.\d+(?![\d.])", prose):
            after = prose[match.end():match.end() + 12]
            layout = re.match(r"\\linewidth|\\textheight|cm|pt", after)
            if layout or match[0] == "1712.02609":  # layout, arXiv id
                continue
            pytest.fail(f"{name}: a number typed into the prose: {match[0]}")
        for verdict in (claims.HOLDS, claims.FAILS):
            assert verdict not in prose.replace("\\emph{" + verdict, ""), (name, verdict)


def test_a_diverged_cell_says_so_in_the_table():
    frame = full_quick_runs()["depth"]
    frame.loc[frame["variant"] == "relu", ["diverged", "diverged_epoch"]] = [True, 3]
    frame.loc[frame["variant"] == "lkrelu", "status"] = ["converged", "still improving", "converged"]
    published = analysis_published.published_runs(ROOT / "paper/published")
    table = analysis_tables.aggregate("depth", frame, published)
    tex = latex.template(ROOT / "workflow/templates/table.tex.j2").render(
        name="depth", table=table, title="t", scale="quick", source="s")
    relu = next(line for line in tex.splitlines() if line.startswith("ReLU &"))
    assert "diverged (ep.~3)" in relu and "0.500" not in relu
    lkrelu = next(line for line in tex.splitlines() if line.startswith("LK-ReLU &"))
    assert "\\dag" in lkrelu
    assert "relu seed 100 (epoch 3)" in tex and "3 runs" not in tex
    # The one unfinished run is in two cells (Max and Median), counted once.
    assert table["not_converged"] == 1 and "or stuck; 1 run)" in tex
    numbers = analysis_numbers.numbers({"depth": frame})
    assert numbers["depth.relu"]["value"] is None and numbers["depth.relu"]["diverged"] == 3


@pytest.mark.parametrize("experiment", ["resnet50_nobn", "allcnn", "width"])
def test_a_table_counts_its_unfinished_runs_once_whatever_cells_show_them(experiment):
    # Table 6's runs are in its Accuracy and Time ratio rows, All-CNN's best
    # policy in its own row and the best-policy row: a caption counts runs.
    frame = full_quick_runs()[experiment]
    frame.loc[frame.index[[0, 1, 4]], "status"] = "still improving"
    frame["best_val_accuracy"] = frame["test_accuracy"]
    frame.loc[frame.index[2], ["stopped_early", "epochs_run"]] = [True, 4]
    table = analysis_tables.aggregate(experiment, frame, None)
    assert table["not_converged"] == 3
    tex = latex.template(ROOT / "workflow/templates/table.tex.j2").render(
        name=experiment, table=table, title="t", scale="quick", source="s")
    assert "or stuck; 3 runs)" in tex
    assert "; 1 run stopped early at a plateau, and the runs trained 4 to 10 epochs" in tex
