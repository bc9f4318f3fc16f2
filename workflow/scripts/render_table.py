"""Render one experiment's table (paper/tables/EXPERIMENT.tex) with Jinja2."""

import logging
import sys
from pathlib import Path

import pandas as pd
from aggregate import MissingRunError, aggregate, check_complete
from latex import template, write_atomic

sm = snakemake  # noqa: F821
logging.basicConfig(filename=sm.log[0], level=logging.INFO)
runs = pd.read_csv(sm.input.runs)
try:
    check_complete(runs, sm.params.expected)
except MissingRunError as error:
    print(error, file=sys.stderr)
    logging.error("%s", error)
    sys.exit(1)
experiment = sm.wildcards.experiment
table = aggregate(experiment, runs, Path(sm.input.published).parent)
write_atomic(sm.output[0], template(sm.input.template).render(name=experiment, table=table, **sm.params.info))
