"""The claims rule: judge config/claims.yaml on the build's per-run tables and
the published values (linked_neurons_core.analysis.claims), and write
results/SCALE/claims.json, paper/tables/claims.tex and the forest plot."""

import logging
import sys

import logs
from latex import template

from linked_neurons_core.analysis import claims
from linked_neurons_core.analysis.names import use_table
from linked_neurons_core.analysis.published import read_published
from linked_neurons_core.analysis.tables import load_runs
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.io import atomic_write_text
from linked_neurons_core.io import atomic_write_with

log = logging.getLogger("claims")


def main(sm):
    logs.setup(sm)
    use_table(sm.config["table"])
    spec = claims.load(sm.input.claims)
    runs = load_runs(sm.params.tables_dir, sm.params.experiments)
    published = read_published(sm.params.published_dir)
    try:
        results = claims.evaluate(spec, runs, published)
    except claims.ClaimError as error:
        log.error("%s", error)
        sys.exit(1)
    counts = claims.counts(results)
    atomic_write_json(sm.output.json, {"counts": counts, "claims": results})
    atomic_write_text(sm.output.tex, template(sm.input.template).render(
        claims=results, counts=counts, scale=sm.params.scale))
    atomic_write_with(sm.output.forest, lambda name: claims.forest(results, name), by_name=True)
    for result in results:
        log.info("%s: %s (%s)", result["id"], result["verdict"], result["evidence"])


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
