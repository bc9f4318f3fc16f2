"""The paper's claims (config/claims.yaml), judged by code on the runs.

Every claim gets a verdict computed from this build's per-run tables, never
typed: *holds*, *does not hold*, *inconclusive* (the difference lies within
the seed spread) or *not converged* (a run it depends on was still improving
in its last epochs, collapsed, or diverged: see linked_neurons/experiments/
metrics.py). The same checks judge the paper's published values, where it
has a table, as one seed each. config/claims.yaml documents each criterion.
"""

import logging
import sys

import package  # noqa: F401 (the package's Keras-free modules)
import pandas as pd
import yaml
from aggregate import LABELS
from aggregate import _bool
from aggregate import depth_label
from aggregate import published_runs
from aggregate import stats
from aggregate import units

from linked_neurons.datasets import num_classes
from linked_neurons.experiments.io import atomic_write_json
from linked_neurons.experiments.io import atomic_write_text

HOLDS, FAILS, INCONCLUSIVE, NOT_CONVERGED = "holds", "does not hold", "inconclusive", "not converged"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_CONVERGED)
log = logging.getLogger("claims")


class ClaimError(ValueError):
    """A claim that cannot be judged: it names a unit or experiment that is not there."""


def label(experiment, unit):
    """A unit's name as the tables print it (the unit itself if unknown)."""
    try:
        if experiment == "depth":
            return depth_label(unit).replace(r" $\sqrt{2}$", " sqrt2")
        if experiment == "width":
            width, _, activation = unit.partition("_")
            return f"{LABELS[activation]} W={int(width[1:])}"
        if experiment == "input_shift":
            activation, _, shift = unit.partition("_shift")
            return f"{LABELS[activation]} +{int(shift)}"
        if experiment == "resnet50_nobn":
            activation, _, normalization = unit.partition("_")
            return f"{LABELS[activation]} " + {"batchnorm": "BN", "none": "no BN",
                                              "nobnall": "no BN at all"}[normalization]
        base, _, suffix = unit.partition("_")
        return LABELS[base] + {"": "", "sqrt2": " sqrt2"}[suffix]
    except (KeyError, ValueError):
        return unit


def _fmt(s):
    """`0.912 [0.903-0.921]`, or one number for one run."""
    if s["median"] is None:
        return "diverged" if s["diverged"] else "--"
    if len(s["values"]) <= 1 or s["low"] == s["high"]:
        return f"{s['median']:.3f}"
    return f"{s['median']:.3f} [{s['low']:.3f}-{s['high']:.3f}]"


class Context:
    """What the checks read: the units of each experiment, chance, thresholds."""

    def __init__(self, runs_by_experiment, thresholds):
        self.runs = runs_by_experiment
        self.thresholds = thresholds
        self._units = {e: units(e, r) for e, r in runs_by_experiment.items() if len(r)}

    def unit(self, experiment, name):
        if experiment not in self._units:
            raise ClaimError(f"experiment {experiment} has no runs in this build")
        if name not in self._units[experiment]:
            raise ClaimError(f"{experiment} has no unit {name!r}: use one of "
                             f"{', '.join(self._units[experiment])}")
        return self._units[experiment][name]

    def stats(self, experiment, name, key="best_val_accuracy"):
        return {**stats(self.unit(experiment, name), key), "label": label(experiment, name)}

    def chance(self, experiment):
        datasets = set(self.runs[experiment]["dataset"].dropna()) if "dataset" in self.runs[experiment] \
            else set()
        return 1.0 / num_classes(datasets.pop()) if datasets else 0.1


def comparison(verdict, text, *unit_stats, note=None):
    return {"verdict": verdict, "text": text, "note": note,
            "runs": sorted({r for s in unit_stats for r in s["runs"]}),
            "not_converged": [f"{s['label']} seed {seed}" for s in unit_stats for seed in s["not_converged"]],
            "diverged": [f"{s['label']} seed {d['seed']} (epoch {d['epoch']})"
                         for s in unit_stats for d in s["diverged"]]}


def _order(a, b):
    """Whether every value of a exceeds every one of b (HOLDS), the reverse
    (FAILS), or neither: the ranges overlap (INCONCLUSIVE)."""
    if not a["values"] or not b["values"]:
        return INCONCLUSIVE
    if a["low"] > b["high"]:
        return HOLDS
    if a["high"] < b["low"]:
        return FAILS
    return INCONCLUSIVE


def _threshold(s, bound, above):
    """Every value above `bound` (above=True) or at most it: HOLDS; none: FAILS."""
    if not s["values"]:
        return INCONCLUSIVE
    ok = [(v >= bound) if above else (v <= bound) for v in s["values"]]
    return HOLDS if all(ok) else FAILS if not any(ok) else INCONCLUSIVE


#: criterion name -> function(spec, context) -> list of comparisons.
CHECKS = {}


def check(name):
    def register(fn):
        CHECKS[name] = fn
        return fn
    return register


@check("better")
def better(spec, ctx):
    out = []
    for a_name, b_name in spec["pairs"]:
        a, b = ctx.stats(spec["experiment"], a_name), ctx.stats(spec["experiment"], b_name)
        out.append(comparison(_order(a, b), f"{a['label']} {_fmt(a)} vs {b['label']} {_fmt(b)}", a, b))
    return out


@check("at_chance")
def at_chance(spec, ctx):
    bound = ctx.chance(spec["experiment"]) + ctx.thresholds["chance_margin"]
    out = []
    for name in spec["units"]:
        s = ctx.stats(spec["experiment"], name)
        out.append(comparison(_threshold(s, bound, above=False),
                              f"{s['label']} {_fmt(s)} (chance + margin {bound:.2f})", s))
    return out


@check("learns")
def learns(spec, ctx):
    bound = ctx.chance(spec["experiment"]) + ctx.thresholds["learn_margin"]
    out = []
    for name in spec["units"]:
        s = ctx.stats(spec["experiment"], name)
        out.append(comparison(_threshold(s, bound, above=True),
                              f"{s['label']} {_fmt(s)} (learns: >= {bound:.2f})", s))
    return out


def _best(ctx, experiment, names):
    found = [ctx.stats(experiment, n) for n in names]
    return max((s for s in found if s["median"] is not None), key=lambda s: s["median"],
               default=found[0])


@check("below")
def below(spec, ctx):
    experiment = spec["experiment"]
    a = ctx.stats(experiment, spec["unit"])
    best = _best(ctx, experiment, spec["best_of"])
    learned = _threshold(a, ctx.chance(experiment) + ctx.thresholds["learn_margin"], above=True)
    verdict = _order(best, a)
    if learned == FAILS:
        verdict = FAILS
    elif learned == INCONCLUSIVE and verdict == HOLDS:
        verdict = INCONCLUSIVE
    return [comparison(verdict, f"{a['label']} {_fmt(a)} vs the best linked, {best['label']} "
                                f"{_fmt(best)}", a, best)]


@check("best_or_within")
def best_or_within(spec, ctx):
    experiment = spec["experiment"]
    a = ctx.stats(experiment, spec["unit"])
    best = _best(ctx, experiment, spec["units"])
    if a["median"] is None:
        verdict = FAILS
    elif best["label"] == a["label"] or (a["high"] is not None and a["high"] >= best["low"]):
        verdict = HOLDS
    else:
        verdict = FAILS
    text = (f"{a['label']} {_fmt(a)} is the best" if best["label"] == a["label"]
            else f"{a['label']} {_fmt(a)} vs the best, {best['label']} {_fmt(best)}")
    return [comparison(verdict, text, a, best)]


@check("not_always_better")
def not_always_better(spec, ctx):
    pairs, all_stats = [], []
    for experiment in spec["experiments"]:
        for linked, single in spec["pairs"]:
            a, b = ctx.stats(experiment, linked), ctx.stats(experiment, single)
            all_stats += [a, b]
            pairs.append((experiment, a, b, _order(a, b)))
    beaten = [f"{experiment}: {b['label']} {_fmt(b)} vs {a['label']} {_fmt(a)}"
              for experiment, a, b, verdict in pairs if verdict == FAILS]
    if beaten:
        verdict, text = HOLDS, "single beats linked in " + "; ".join(beaten)
    elif all(v == HOLDS for *_, v in pairs):
        verdict, text = FAILS, f"linked beats single in all {len(pairs)} pairs"
    else:
        verdict = INCONCLUSIVE
        text = f"no pair where single clearly beats linked; {sum(v == HOLDS for *_, v in pairs)} " \
               f"of {len(pairs)} where linked clearly beats single"
    return [comparison(verdict, text, *all_stats)]


@check("same")
def same(spec, ctx):
    tolerance = spec.get("tolerance", ctx.thresholds["same_tolerance"])
    out = []
    for a_name, b_name in spec["pairs"]:
        a, b = ctx.stats(spec["experiment"], a_name), ctx.stats(spec["experiment"], b_name)
        if a["median"] is None or b["median"] is None:
            verdict = INCONCLUSIVE
        else:
            close = abs(a["median"] - b["median"]) <= tolerance
            overlap = a["low"] <= b["high"] and b["low"] <= a["high"]
            verdict = HOLDS if close and overlap else FAILS if not close and not overlap \
                else INCONCLUSIVE
        out.append(comparison(verdict, f"{a['label']} {_fmt(a)} vs {b['label']} {_fmt(b)} "
                                       f"(same within {tolerance})", a, b))
    return out


@check("ratio")
def ratio(spec, ctx):
    experiment = spec["experiment"]
    out = []
    for a_name, b_name, low, high in spec["pairs"]:
        a = ctx.stats(experiment, a_name, "wall_seconds")
        b = ctx.stats(experiment, b_name, "wall_seconds")
        values = [x / y for x in a["values"] for y in b["values"] if y > 0]
        rows = pd.concat([ctx.unit(experiment, a_name), ctx.unit(experiment, b_name)])
        exclusive = bool(rows.get("device_exclusive", pd.Series([False])).map(_bool).all())
        if not values:
            verdict, shown = INCONCLUSIVE, "--"
        else:
            inside = [low <= v <= high for v in values]
            verdict = HOLDS if all(inside) else FAILS if not any(inside) else INCONCLUSIVE
            median = a["median"] / b["median"]
            shown = f"{median:.2f}" + (f" [{min(values):.2f}-{max(values):.2f}]"
                                       if min(values) != max(values) else "")
        note = None
        if not exclusive:
            verdict, note = INCONCLUSIVE, "timed on a shared device"
        out.append(comparison(verdict, f"{a['label']} / {b['label']} time {shown} "
                                       f"(expected {low}-{high})", a, b, note=note))
    return out


def _dead_from(fractions):
    """The layer (1-based) from which every layer has dead units, or None."""
    first = None
    for i, fraction in enumerate(fractions):
        if fraction > 0 and first is None:
            first = i + 1
        elif fraction == 0:
            first = None
    return first


@check("dead_units")
def dead_units(spec, ctx):
    import json

    experiment = spec["experiment"]
    bound = ctx.chance(experiment) + ctx.thresholds["chance_margin"]
    out = []
    for name in spec["single"]:
        s = ctx.stats(experiment, name)
        if _threshold(s, bound, above=False) != HOLDS:
            continue  # the claim is about the failing networks
        rows = ctx.unit(experiment, name)
        firsts = [_dead_from(json.loads(d)) for d in rows["dead_per_layer"]]
        found = [f for f in firsts if f is not None]
        verdict = HOLDS if len(found) == len(firsts) else FAILS if not found else INCONCLUSIVE
        text = (f"{s['label']}: dead from layer {min(found)}-{max(found)} on in {len(found)} of "
                f"{len(firsts)} runs" if found else f"{s['label']}: no run with dead layers to the end")
        out.append(comparison(verdict, text, s))
    for name in spec["linked"]:
        s = ctx.stats(experiment, name)
        rows = ctx.unit(experiment, name)
        dead = [int(d) for d in rows["dead_units"]]
        verdict = HOLDS if not any(dead) else FAILS if all(dead) else INCONCLUSIVE
        out.append(comparison(verdict, f"{s['label']}: {sum(1 for d in dead if d)} of {len(dead)} "
                                       "runs with dead units", s))
    if not out:
        out.append({"verdict": INCONCLUSIVE, "text": "no single network failed", "note": None,
                    "runs": [], "not_converged": [], "diverged": []})
    return out


def combine(comparisons):
    """A claim's verdict from its comparisons (see the module doc)."""
    if any(c["not_converged"] or c["diverged"] for c in comparisons):
        return NOT_CONVERGED
    verdicts = [c["verdict"] for c in comparisons]
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if FAILS in verdicts:
        return FAILS
    return INCONCLUSIVE


def summary_text(comparisons):
    """This build's evidence, short: every comparison when there are few,
    else a count and the ones that did not hold."""
    if len(comparisons) <= 2:
        return "; ".join(c["text"] + (f" ({c['note']})" if c["note"] else "") for c in comparisons)
    held = sum(c["verdict"] == HOLDS for c in comparisons)
    others = [c for c in comparisons if c["verdict"] != HOLDS]
    text = f"{held} of {len(comparisons)} hold"
    if others:
        text += "; " + "; ".join(f"{c['verdict']}: {c['text']}" for c in others[:4])
        if len(others) > 4:
            text += f"; and {len(others) - 4} more"
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


def evaluate(claims, runs_by_experiment, published=None):
    """Every claim whose experiments this build has, judged on the runs and on
    the published values: a list of dicts (id, source, claim, verdict,
    evidence, paper_verdict, paper_evidence, comparisons, runs)."""
    ctx = Context(runs_by_experiment, claims["thresholds"])
    paper = None
    if published is not None and len(published):
        paper = Context({e: g for e, g in published.groupby("experiment")}, claims["thresholds"])
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
        result = {"id": spec["id"], "source": spec["source"], "claim": spec["claim"],
                  "verdict": verdict, "evidence": summary_text(comparisons),
                  "comparisons": comparisons,
                  "runs": sorted({r for c in comparisons for r in c["runs"]}),
                  "not_converged": sorted({x for c in comparisons for x in c["not_converged"]}),
                  "diverged": sorted({x for c in comparisons for x in c["diverged"]}),
                  "paper_verdict": None, "paper_evidence": spec.get("paper_says", "")}
        if paper is not None and not spec.get("paper_says"):
            try:
                paper_verdict, paper_comparisons = judge(spec, paper)
                result["paper_verdict"] = paper_verdict
                result["paper_evidence"] = summary_text(paper_comparisons)
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
    return claims


def counts(results):
    return {verdict: sum(r["verdict"] == verdict for r in results) for verdict in VERDICTS}


def main(sm):
    import logs
    from aggregate import load_runs
    from latex import template

    logs.setup(sm)
    claims = load(sm.input.claims)
    runs = load_runs(sm.params.tables_dir, sm.params.experiments)
    published = published_runs(sm.params.published_dir)
    try:
        results = evaluate(claims, runs, published)
    except ClaimError as error:
        log.error("%s", error)
        sys.exit(1)
    atomic_write_json(sm.output.json, {"counts": counts(results), "claims": results})
    atomic_write_text(sm.output.tex, template(sm.input.template).render(
        claims=results, counts=counts(results), scale=sm.params.scale))
    for result in results:
        log.info("%s: %s (%s)", result["id"], result["verdict"], result["evidence"])


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
