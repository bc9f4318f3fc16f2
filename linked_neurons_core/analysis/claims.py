"""The paper's claims (config/claims.yaml), judged by code on the runs.

Every claim is a sentence of the paper, quoted with its place (or, marked
`origin: project`, a hypothesis of this project, never cited to the paper),
and one or more checks, each a criterion on the table cells ("units") of one
experiment. Every check is judged from a 95% interval
(linked_neurons_core/analysis/intervals.py): a difference of two units' test
accuracies (counting both the seeds and the finite test set), a ratio of
training times, or, against a threshold (`learns`, `at_chance`), each seed's
own accuracy: a network whose seeds split between chance and learning has
two accuracies, not one spread around a mean, so a threshold check holds
when every seed that ran is on the claimed side and says, as the share of
seeds, how little three seeds tell of a fourth. *holds*: the interval lies
on the claimed side; *does not hold*: on the other; otherwise
*inconclusive*. A tie favours no side. The same checks judge the paper's
published values (one figure each, judged as one run on 10,000 test images:
binomial intervals, which leave out the spread over the authors' seeds of
the values that are medians).

A run that was still improving when it stopped (or ran too few epochs) may
have more to give: a check is *not converged* only when leaving such runs out
changes its verdict, or leaves a unit that lost runs fewer than two finished
ones (one run is no spread over seeds: which of a network's runs finish can
turn on rounding, `benchmarks/sensitivity.py`); a threshold check, which
judges each seed on its own, is judged again on one finished seed. Stuck
runs (their losses did not move) count as they are; a check that a network
stays at chance accepts them, any other names them. A check that a network
learns and a difference of accuracies name the runs at chance. Diverged
runs never count and are named.
"""

import logging

import pandas as pd
import yaml

from linked_neurons_core.analysis import intervals
from linked_neurons_core.analysis import names as naming
from linked_neurons_core.analysis import runs as run_rows
from linked_neurons_core.analysis.units import dead_from
from linked_neurons_core.analysis.units import times
from linked_neurons_core.analysis.units import units
from linked_neurons_core.datasets import num_classes
from linked_neurons_core.metrics import unpack_correct

HOLDS, FAILS, INCONCLUSIVE, NOT_CONVERGED = "holds", "does not hold", "inconclusive", "not converged"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_CONVERGED)
#: The runs a comparison names, by what is wrong with them (a run at chance
#: is named by a check that needs its network to learn and by a difference
#: of accuracies, not by one that expects it at chance), the units
#: whose seeds split (some at chance, some learned) and the units of one run,
#: whose accuracy intervals count the test set and not the seeds.
FLAGS = ("not_converged", "collapsed", "stuck", "at_chance", "split", "one_run", "diverged")
#: Statuses of runs that may have more to give: a verdict that needs them is not converged.
UNFINISHED = ("still improving", "too short")
#: The fewest finished runs a unit that lost runs must keep for its verdict to
#: be judged again without them (an interval of the seeds' mean; a check of
#: each seed on its own needs one).
MIN_FINISHED = 2
KEY = "test_accuracy"
log = logging.getLogger("claims")


class ClaimError(ValueError):
    """A claim that cannot be judged: it names a unit or experiment that is not there."""


class Unit:
    """A table cell's runs: what the checks read of them."""

    def __init__(self, experiment, name, rows, test_size, chance=None):
        # The unit's name as the tables print it (the unit itself if unknown).
        self.experiment, self.name = experiment, name
        self.chance = chance  # below it a run is at chance (None: not judged)
        self.label = naming.names().unit_label(experiment, name, rows)
        rows = rows.copy()
        rows["_status"] = [run_rows.status(r) for _, r in rows.iterrows()] if len(rows) else []
        self.all = rows
        self.rows = rows[rows["_status"] != "diverged"]
        self.test_size = test_size

    def named(self, status):
        return [f"{self.label} seed {int(r['seed'])}" for _, r in self.all.iterrows()
                if r["_status"] == status]

    def at_chance(self):
        """Its counted runs below `chance`, named."""
        if self.chance is None:
            return []
        return [f"{self.label} seed {int(r['seed'])}" for _, r in self.rows.iterrows()
                if r[KEY] < self.chance]

    def finished(self):
        """This unit without its unfinished runs, or None when it has none left."""
        keep = self.rows[~self.rows["_status"].isin(UNFINISHED)]
        if len(keep) == len(self.rows):
            return self
        if not len(keep):
            return None
        other = Unit.__new__(Unit)
        other.__dict__.update(self.__dict__, rows=keep)
        return other

    def correct(self):
        """(seeds, samples) booleans, or None without per-sample records."""
        if "test_correct" not in self.rows or not len(self.rows):
            return None
        cells = list(self.rows["test_correct"])
        if any(not isinstance(c, str) for c in cells):
            return None
        return [unpack_correct(c) for c in cells]

    @property
    def values(self):
        return [float(v) for v in self.rows[KEY].dropna()] if len(self.rows) else []

    def seeds(self):
        """Each counted run's own (accuracy, low, high), from its test samples alone."""
        correct = self.correct()
        if correct is not None:
            return intervals.seeds(correct)
        return [intervals.binomial(v, self.test_size) for v in self.values]

    def text(self):
        if not self.values:
            return f"{self.label} --" if not self.named("diverged") else f"{self.label} diverged"
        estimate = sum(self.values) / len(self.values)
        return f"{self.label} {estimate:.3f}"


def difference(a, b):
    """(estimate, low, high) of a's accuracy minus b's, or None."""
    ca, cb = a.correct(), b.correct()
    if ca is not None and cb is not None:
        return intervals.difference(ca, cb)
    if not a.values or not b.values:
        return None
    pa, pb = (sum(u.values) / len(u.values) for u in (a, b))
    return intervals.binomial(pa, min(a.test_size, b.test_size), pb)


def _fmt(interval, signed=True):
    if interval is None:
        return "--"
    f = "{:+.3f}" if signed else "{:.3f}"
    estimate, low, high = interval
    return f"{f.format(estimate)} [{f.format(low)}, {f.format(high)}]"


def chance_of(datasets):
    """Chance accuracy of runs on `datasets` (their names, missing ones
    skipped): 1/classes of the dataset, or 0.1 when none is named."""
    named = {d for d in datasets if isinstance(d, str)}
    return 1.0 / num_classes(named.pop()) if named else 0.1


class Context:
    """What the checks read: the units of each experiment, chance, thresholds."""

    def __init__(self, runs_by_experiment, config, published=False):
        self.runs = runs_by_experiment
        self.published = published  # the paper's values: one figure each
        self.thresholds = config["thresholds"]
        self.test_size = config.get("published_test_size", 10000)
        self._units = {e: units(e, r) for e, r in runs_by_experiment.items() if len(r)}

    def unit(self, experiment, name):
        if experiment not in self._units:
            raise ClaimError(f"experiment {experiment} has no runs in this build")
        if name not in self._units[experiment]:
            raise ClaimError(f"{experiment} has no unit {name!r}: use one of "
                             f"{', '.join(self._units[experiment])}")
        rows = self._units[experiment][name]
        size = int(rows["n_test"].iloc[0]) if "n_test" in rows and len(rows) \
            and not pd.isna(rows["n_test"].iloc[0]) else self.test_size
        # Our runs name their runs at chance; the paper's values are one figure each.
        chance = None if self.published else self.bound(experiment, "chance_margin")
        return Unit(experiment, name, rows, size, chance)

    def chance(self, experiment):
        return chance_of(self.runs[experiment].get("dataset", []))

    def bound(self, experiment, margin):
        """Chance plus the threshold `margin` (learn_margin, chance_margin)."""
        return self.chance(experiment) + self.thresholds[margin]


def comparison(verdict, text, units_, interval=None, reference=0.0, tolerance=None, kind="difference",
               note=None, name_stuck=True, at_chance=(), split=()):
    """One judged comparison; `interval` and `reference` (and the
    equivalence `tolerance`) are what the forest plot draws, `what` its row.
    `split`: its units whose seeds fell on both sides of chance, each as
    "LABEL (K of N seeds at chance)". `name_stuck`: name its stuck runs."""
    joiner = " / " if kind == "ratio" else " vs "
    what = joiner.join(u.label for u in units_)
    # Units of one run of ours (the paper scale's one seed) in an accuracy's
    # interval: it has no part for the seeds (intervals.combined).
    one_run = [u.label for u in units_ if len(u.rows) == 1 and u.correct() is not None] \
        if interval is not None and kind in ("difference", "threshold") else []
    # A time ratio names only its diverged runs: a run's time does not wait
    # for its accuracy to converge (the accuracy claims name the others).
    statuses = ("still improving", "too short", "collapsed", "stuck", "diverged")
    named = ("diverged",) if kind == "ratio" else statuses
    # A difference of accuracies names the runs at chance on either side: a
    # network that did not learn is beaten by any that did.
    if kind == "difference":
        at_chance = [n for u in units_ for n in u.at_chance()]
    flagged = {status: [n for u in units_ for n in u.named(status)] if status in named else []
               for status in statuses}
    return {"verdict": verdict, "text": text, "note": note, "kind": kind, "what": what,
            "estimate": None if interval is None else interval[0] - reference,
            "low": None if interval is None else interval[1] - reference,
            "high": None if interval is None else interval[2] - reference,
            "tolerance": tolerance,
            "runs": sorted({r for u in units_ for r in u.all.get("run", [])}),
            "not_converged": flagged["still improving"] + flagged["too short"],
            "collapsed": flagged["collapsed"],
            "stuck": flagged["stuck"] if name_stuck else [],
            "at_chance": list(at_chance),
            "split": list(split),
            "one_run": one_run,
            "diverged": flagged["diverged"]}


def robust(judge_fn, units_, min_finished=MIN_FINISHED):
    """judge_fn(units) -> (verdict, interval): the verdict on every counted
    run, or NOT_CONVERGED when leaving out the unfinished runs changes it or
    leaves a unit fewer than `min_finished` runs (a check that judges each
    seed on its own needs no spread over seeds: one)."""
    verdict, interval = judge_fn(units_)
    finished = [u.finished() for u in units_]
    if all(f is u for f, u in zip(finished, units_)):
        return verdict, interval
    if any(f is None or (f is not u and len(f.rows) < min_finished)
           for f, u in zip(finished, units_)):
        return NOT_CONVERGED, interval
    again, _ = judge_fn(finished)
    return (verdict if again == verdict else NOT_CONVERGED), interval


#: criterion name -> function(spec, context) -> list of comparisons.
CHECKS = {}


def check(name):
    def register(fn):
        CHECKS[name] = fn
        return fn
    return register


def _better(a, b):
    def judge_fn(pair):
        interval = difference(*pair)
        return (INCONCLUSIVE if interval is None else intervals.side(interval, 0.0)), interval
    verdict, interval = robust(judge_fn, [a, b])
    return comparison(verdict, f"{a.text()} - {b.text()} = {_fmt(interval)}", [a, b], interval)


@check("better")
def better(spec, ctx):
    """Each pair [a, b]: a's test accuracy is above b's."""
    e = spec["experiment"]
    return [_better(ctx.unit(e, a), ctx.unit(e, b)) for a, b in spec["pairs"]]


def _summarised(verdict, text, pairs):
    """A claim over pairs: its summary row (the verdict, the text, every pair's
    runs and flags), then each pair as a part."""
    summary = {"verdict": verdict, "kind": "summary", "estimate": None, "low": None, "high": None,
               "tolerance": None, "note": None, "text": text,
               "runs": sorted({r for c in pairs for r in c["runs"]}),
               **{k: _flags(pairs, k) for k in FLAGS}}
    return [summary] + [dict(c, part=True) for c in pairs]


def _tally(pairs):
    """(holds, does not hold, inconclusive, not converged) counts."""
    return [sum(c["verdict"] == v for c in pairs) for v in (HOLDS, FAILS, INCONCLUSIVE, NOT_CONVERGED)]


@check("mostly_better")
def mostly_better(spec, ctx):
    """"In general": a's accuracy is above b's in more than `fraction` of the
    pairs. Holds when the pairs that hold already make it; does not hold when
    even every undecided pair holding would not; else inconclusive (not
    converged when the unfinished pairs alone stand in the way)."""
    pairs = better(spec, ctx)
    fraction = spec.get("fraction", ctx.thresholds["mostly"])
    need = fraction * len(pairs)
    held, failed, undecided, unfinished = _tally(pairs)
    if held > need:
        verdict = HOLDS
    elif held + undecided + unfinished <= need:
        verdict = FAILS
    elif held + undecided <= need:
        verdict = NOT_CONVERGED
    else:
        verdict = INCONCLUSIVE
    return _summarised(verdict, f"{held} of {len(pairs)} pairs hold (more than {need:g} needed), "
                                f"{failed} do not, {undecided + unfinished} undecided", pairs)


@check("best")
def best(spec, ctx):
    """Unit a's accuracy is above every other of `units`."""
    e = spec["experiment"]
    a = ctx.unit(e, spec["unit"])
    return [_better(a, ctx.unit(e, other)) for other in spec["units"] if other != spec["unit"]]


@check("below_best")
def below_best(spec, ctx):
    """Unit a's accuracy is below the best of `best_of` (the best chosen by
    validation accuracy, where the runs have it)."""
    e = spec["experiment"]
    a = ctx.unit(e, spec["unit"])
    candidates = [ctx.unit(e, n) for n in spec["best_of"]]

    def chooser(u):
        column = "best_val_accuracy" if "best_val_accuracy" in u.rows else KEY
        values = u.rows[column].dropna() if len(u.rows) else []
        return float(values.mean()) if len(values) else -1.0
    top = max(candidates, key=chooser)
    return [_better(top, a)]


def _stopped(row):
    """" (early-stopped at epoch N of M)" for a run that early stopping ended."""
    if not run_rows.flag(row.get("stopped_early")):
        return ""
    return f" (early-stopped at epoch {int(row['epochs_run'])} of {int(row['epochs'])})"


def _threshold(spec, ctx, above, margin, name_stuck):
    """Each unit's every seed against chance + `margin`: holds when every
    seed's own interval lies on the claimed side, does not hold when every
    seed's lies on the other, else inconclusive (intervals.envelope). The
    evidence counts the seeds on each side and gives the share's interval
    (intervals.share): what three seeds say of a fourth."""
    e = spec["experiment"]
    bound = ctx.bound(e, margin)
    sign, side, other = (">", "above", "below") if above else ("<", "below", "above")
    # A network that should learn names its runs that stayed at chance,
    # whatever their status (a plateau at chance is "converged").
    at_chance = ctx.bound(e, "chance_margin") if above else None
    out = []
    for name in spec["units"]:
        u = ctx.unit(e, name)

        def judge_fn(us):
            seeds = us[0].seeds()
            if not seeds:
                return INCONCLUSIVE, None
            interval = intervals.envelope(seeds)
            return intervals.side(interval, bound, above), interval
        verdict, interval = robust(judge_fn, [u], min_finished=1)
        seeds = u.seeds()
        if len(seeds) < 2:
            text = f"{u.label} {_fmt(interval, signed=False)} ({sign} {bound:.2f})"
        else:
            sides = [intervals.side(s, bound, above) for s in seeds]
            held, failed = sides.count(HOLDS), sides.count(FAILS)
            counted = f"{held} of {len(seeds)} {side}" + (f", {failed} {other}" if failed else "") + \
                (f", {len(seeds) - held - failed} undecided" if held + failed < len(seeds) else "")
            _, low, high = intervals.share(held, len(seeds))
            text = (f"{u.label} seeds {', '.join(f'{s[0]:.3f}' for s in seeds)} "
                    f"[{interval[1]:.3f}, {interval[2]:.3f}] (each {sign} {bound:.2f}): {counted}; "
                    f"share of seeds {side}: {low:.2f}-{high:.2f}")
        stayed = [f"{u.label} seed {int(r['seed'])}" + _stopped(r) for _, r in u.rows.iterrows()
                  if r[KEY] < at_chance] if at_chance is not None and len(u.rows) else []
        # Seeds on both sides: the unit's median is the side most of them took.
        split = [f"{u.label} ({len(stayed)} of {len(u.rows)} seeds at chance)"] \
            if stayed and (u.rows[KEY] > bound).any() else []
        out.append(comparison(verdict, text, [u], interval, reference=bound, kind="threshold",
                              name_stuck=name_stuck, at_chance=stayed, split=split))
    return out


@check("learns")
def learns(spec, ctx):
    """Each unit's every seed's accuracy is above chance + learn_margin."""
    return _threshold(spec, ctx, True, "learn_margin", name_stuck=True)


@check("at_chance")
def at_chance(spec, ctx):
    """Each unit's every seed's accuracy is below chance + chance_margin (stuck
    runs are how such networks fail: not named)."""
    return _threshold(spec, ctx, False, "chance_margin", name_stuck=False)


@check("same")
def same(spec, ctx):
    """Each pair: the difference lies within +-tolerance (equivalence)."""
    tolerance = spec.get("tolerance", ctx.thresholds["same_tolerance"])
    e = spec["experiment"]
    out = []
    for a_name, b_name in spec["pairs"]:
        a, b = ctx.unit(e, a_name), ctx.unit(e, b_name)

        def judge_fn(pair):
            interval = difference(*pair)
            return (INCONCLUSIVE if interval is None
                    else intervals.within(interval, -tolerance, tolerance)), interval
        verdict, interval = robust(judge_fn, [a, b])
        out.append(comparison(verdict, f"{a.text()} - {b.text()} = {_fmt(interval)} "
                                       f"(same within {tolerance})", [a, b], interval,
                              tolerance=tolerance))
    return out


@check("not_always_better")
def not_always_better(spec, ctx):
    """In at least one pair [linked, single] the single unit is above the
    linked one. Holds when one pair shows it, does not hold when every pair
    shows the reverse, else inconclusive (not converged when only unfinished
    pairs could show it)."""
    pairs = [_better(ctx.unit(spec["experiment"], a), ctx.unit(spec["experiment"], b))
             for a, b in spec["pairs"]]
    held, failed, undecided, unfinished = _tally(pairs)
    if failed:
        verdict = HOLDS
    elif held == len(pairs):
        verdict = FAILS
    elif not undecided:
        verdict = NOT_CONVERGED
    else:
        verdict = INCONCLUSIVE
    beaten = [c["text"] for c in pairs if c["verdict"] == FAILS]
    text = ("single above linked: " + "; ".join(beaten)) if beaten else \
        f"no pair where single is above linked; linked above single in {held} of {len(pairs)}"
    return _summarised(verdict, text, pairs)


@check("ratio")
def ratio(spec, ctx):
    """Each [a, b, expected]: a's whole training wall time over b's, paired
    by seed (intervals.ratio), lies within ratio_tolerance (relative) of
    `expected`, the paper's figure. Times measured on a shared device are
    never judged, nor fewer than two pairs (one pair is no spread: a time
    moves by a tenth or more from one moment of the machine to another). The
    paper's own figures (one number each, no spread to count) are judged as
    they are: whether the sentence agrees with the table. A run's time does
    not wait for it to converge: the runs still improving, collapsed or stuck
    are not named (their accuracy claims name them)."""
    e = spec["experiment"]
    tolerance = spec.get("tolerance", ctx.thresholds["ratio_tolerance"])
    out = []
    for a_name, b_name, expected in spec["pairs"]:
        a, b = ctx.unit(e, a_name), ctx.unit(e, b_name)
        low_bound, high_bound = expected / (1 + tolerance), expected * (1 + tolerance)
        interval = intervals.ratio(times(a.rows), times(b.rows))
        note = None
        if interval is not None and ctx.published:
            interval = (interval[0],) * 3
        elif interval is not None and pd.isna(interval[1]):  # one pair: no bounds
            note = "one pair of timed runs: no interval"
        verdict = INCONCLUSIVE if interval is None or note else \
            intervals.within(interval, low_bound, high_bound)
        rows = pd.concat([a.rows, b.rows])
        exclusive = bool(rows.get("device_exclusive", pd.Series([False])).map(run_rows.flag).all())
        if not exclusive:
            verdict, note = INCONCLUSIVE, "timed on a shared device"
        shown = _fmt(interval, signed=False).replace("+", "") if not note or interval is None else \
            f"{interval[0]:.3f}"
        text = (f"time {a.label} / {b.label} = {shown} "
                f"(the paper: {expected}; within {low_bound:.2f}-{high_bound:.2f})")
        plotted = None if interval is None else tuple(
            (interval[0] if pd.isna(v) else v) / expected for v in interval)
        out.append(comparison(verdict, text, [a, b], plotted, reference=1.0, tolerance=tolerance,
                              kind="ratio", note=note))
    return out


@check("dead_units")
def dead_units(spec, ctx):
    """`dead`: every run has dead units (constant on every validation sample) in
    every layer from some layer on; `alive`: no run has a dead unit;
    `reported`: shown without a verdict (the paper's stated exception).
    Counts, not accuracies: holds when every run shows it, does not hold when
    none does, else inconclusive."""
    import json

    e = spec["experiment"]
    out = []
    for name in spec.get("dead", []):
        u = ctx.unit(e, name)
        firsts = [dead_from(json.loads(d)) for d in u.rows["dead_per_layer"]]
        found = [f for f in firsts if f is not None]
        verdict = HOLDS if found and len(found) == len(firsts) else FAILS if not found else INCONCLUSIVE
        text = (f"{u.label}: dead units in every layer from layer {min(found)}-{max(found)} on, in "
                f"{len(found)} of {len(firsts)} runs" if found
                else f"{u.label}: no run with dead units in every layer to the last")
        out.append(comparison(verdict, text, [u], kind="count", name_stuck=False))
    for name in spec.get("alive", []):
        u = ctx.unit(e, name)
        dead = [int(d) for d in u.rows["dead_units"]]
        verdict = HOLDS if not any(dead) else FAILS if all(dead) else INCONCLUSIVE
        out.append(comparison(verdict, f"{u.label}: {sum(1 for d in dead if d)} of {len(dead)} runs "
                                       "with dead units", [u], kind="count", name_stuck=False))
    for name in spec.get("reported", []):
        u = ctx.unit(e, name)
        dead = [int(d) for d in u.rows["dead_units"]]
        out.append(comparison(None, f"{u.label} (the paper's exception, no verdict): "
                                    f"{sum(1 for d in dead if d)} of {len(dead)} runs with dead units",
                              [u], kind="count", name_stuck=False))
    return out


def combine(comparisons):
    """A claim's verdict from its comparisons: holds when all hold, does not
    hold when one does not, not converged when one is, else inconclusive.
    The pairs inside a summary (`part`) and the reported counts (no
    verdict) do not count on their own."""
    verdicts = [c["verdict"] for c in comparisons if c["verdict"] and not c.get("part")]
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if FAILS in verdicts:
        return FAILS
    if NOT_CONVERGED in verdicts:
        return NOT_CONVERGED
    return INCONCLUSIVE


def summary_text(comparisons):
    """The evidence, short: every comparison when there are few, else a count
    and the ones that did not hold."""
    judged = [c for c in comparisons if not c.get("part")]

    def said(c):  # with why it was not judged, if so ("timed on a shared device")
        return c["text"] + (f" ({c['note']})" if c["note"] else "")

    if len(judged) <= 3:
        return "; ".join(said(c) for c in judged)
    held = sum(c["verdict"] == HOLDS for c in judged)
    others = [c for c in judged if c["verdict"] != HOLDS]
    text = f"{held} of {len(judged)} hold"
    if others:
        text += "; " + "; ".join(f"{c['verdict'] or 'reported'}: {said(c)}" for c in others[:5])
        if len(others) > 5:
            text += f"; and {len(others) - 5} more"
    return text


def judge(spec, ctx):
    """(verdict, comparisons) of one claim in one context."""
    comparisons = []
    for item in spec["checks"]:
        (name, args), = item.items()
        if name not in CHECKS:
            raise ClaimError(f"claim {spec['id']}: unknown criterion {name!r}: use one of "
                             f"{', '.join(CHECKS)}")
        comparisons += CHECKS[name](args, ctx)
    return combine(comparisons), comparisons


def experiments_of(spec):
    found = []
    for item in spec["checks"]:
        (_, args), = item.items()
        found += args.get("experiments") or [args["experiment"]]
    return list(dict.fromkeys(found))


def _flags(comparisons, key):
    return sorted({x for c in comparisons for x in c[key]})


def evaluate(claims, runs_by_experiment, published=None):
    """Every claim whose experiments this build has, judged on the runs and on
    the published values: a list of dicts (id, origin, source, quote, claim,
    verdict, evidence, comparisons, runs, paper_verdict, paper_evidence)."""
    ctx = Context(runs_by_experiment, claims)
    paper = None
    if published is not None and len(published):
        if KEY not in published:
            published = published.assign(**{KEY: published["best_val_accuracy"]})
        paper = Context({e: g for e, g in published.groupby("experiment")}, claims, published=True)
    results = []
    for spec in claims["claims"]:
        needed = experiments_of(spec)
        if not all(e in runs_by_experiment for e in needed):
            log.info("claim %s: not judged (needs %s)", spec["id"], ", ".join(needed))
            continue
        try:
            verdict, comparisons = judge(spec, ctx)
        except ClaimError as error:  # a selection of variants without the claim's
            log.info("claim %s: not judged (%s)", spec["id"], error)
            continue
        origin = spec.get("origin", "paper")
        result = {"id": spec["id"], "origin": origin, "source": spec["source"],
                  "quote": spec.get("quote", ""), "claim": spec["claim"],
                  "verdict": verdict, "evidence": summary_text(comparisons),
                  "comparisons": comparisons,
                  "runs": sorted({r for c in comparisons for r in c["runs"]}),
                  **{k: _flags(comparisons, k) for k in FLAGS},
                  "paper_verdict": None,
                  "paper_evidence": spec.get("paper_says", "") if origin == "paper"
                  else "beyond the paper: this project's hypothesis"}
        if paper is not None and origin == "paper" and not spec.get("paper_says"):
            try:
                paper_verdict, paper_comparisons = judge(spec, paper)
                result["paper_verdict"] = paper_verdict
                result["paper_evidence"] = summary_text(paper_comparisons)
                result["paper_comparisons"] = paper_comparisons
            except ClaimError as error:
                result["paper_evidence"] = f"(no published value: {error})"
        results.append(result)
    return results


def load(path):
    claims = yaml.safe_load(open(path))
    for spec in claims["claims"]:
        for key in ("id", "source", "claim", "checks"):
            if key not in spec:
                raise ClaimError(f"{path}: a claim lacks {key!r}: {spec}")
        if spec.get("origin", "paper") not in ("paper", "project"):
            raise ClaimError(f"{path}: claim {spec['id']}: origin is paper or project, "
                             f"not {spec['origin']!r}")
        if spec.get("origin", "paper") == "paper" and not spec.get("quote"):
            raise ClaimError(f"{path}: claim {spec['id']}: a claim of the paper quotes its "
                             "sentence (quote:)")
    return claims


def counts(results):
    return {verdict: sum(r["verdict"] == verdict for r in results) for verdict in VERDICTS}


def forest(results, path):
    """Every judged comparison's difference with its 95% interval, grouped by
    claim: accuracy differences (and accuracies against their thresholds) on
    the left, time ratios over the paper's on the right; zero (one) and the
    equivalence tolerance marked; the colour is the comparison's verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {HOLDS: "tab:green", FAILS: "tab:red", INCONCLUSIVE: "tab:gray",
               NOT_CONVERGED: "tab:orange"}
    panels = {"accuracy": [], "ratio": []}
    for result in results:
        for c in result["comparisons"]:
            if c.get("estimate") is None:
                continue
            panel = "ratio" if c["kind"] == "ratio" else "accuracy"
            panels[panel].append((result["id"], c))
    used = [name for name, rows in panels.items() if rows] or ["accuracy"]
    sizes = [max(len(panels[name]), 1) for name in used]
    fig, axes = plt.subplots(len(used), 1, figsize=(7.0, 0.12 * sum(sizes) + 1.1 * len(used)),
                             squeeze=False, gridspec_kw={"height_ratios": sizes})
    for ax, name in zip(axes[:, 0], used):
        rows = panels[name]
        centre = 1.0 if name == "ratio" else 0.0
        for y, (_, c) in enumerate(reversed(rows)):
            ax.errorbar([c["estimate"] + centre], [y],
                        xerr=[[c["estimate"] - c["low"]], [c["high"] - c["estimate"]]],
                        fmt="o", ms=3, color=colours.get(c["verdict"], "black"), capsize=2)
            if c.get("tolerance"):
                tol = c["tolerance"]
                band = (1 / (1 + tol), 1 + tol) if name == "ratio" else (-tol, tol)
                ax.plot(band, [y, y], "|", color="tab:blue", ms=8)
        ax.axvline(centre, color="black", lw=0.8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{claim}: {c.get('what', '')}" for claim, c in reversed(rows)],
                           fontsize=6.5)
        ax.set_xlabel("time ratio over the paper's (1: the paper's)" if name == "ratio"
                      else "difference of test accuracy (a threshold check: accuracy minus its bound)",
                      fontsize=7.5)
        ax.tick_params(axis="x", labelsize=7.5)
        ax.grid(axis="x", lw=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=200)
    plt.close(fig)
