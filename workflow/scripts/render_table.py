"""Render one experiment's table (paper/tables/EXPERIMENT.tex) with Jinja2:
linked_neurons_core.analysis.tables builds it, by the experiment's layout,
from the experiment's per-run table."""

import logging
import sys

import pandas as pd
from latex import made_by
from latex import template
from logs import setup as setup_logging

from linked_neurons_core.analysis.names import use_table
from linked_neurons_core.analysis.published import read_published
from linked_neurons_core.analysis.tables import LayoutError
from linked_neurons_core.analysis.tables import aggregate
from linked_neurons_core.analysis.tables import table_builder
from linked_neurons_core.analysis.units import MissingRunError
from linked_neurons_core.analysis.units import check_complete
from linked_neurons_core.io import atomic_write_text

sm = snakemake  # noqa: F821
setup_logging(sm)
use_table(sm.config["table"])
runs = pd.read_csv(sm.input.runs)
experiment = sm.wildcards.experiment
published = read_published(sm.params.published_dir) if sm.input.published else None
try:
    check_complete(runs, sm.params.expected)
    table = aggregate(experiment, runs, published)
except (MissingRunError, LayoutError) as error:
    logging.error("%s", error)
    sys.exit(1)
atomic_write_text(sm.output[0], template(sm.input.template).render(
    name=experiment, table=table, title=sm.params.title, scale=sm.params.scale,
    source=made_by("table", "render_table.py", f"tables.{table_builder(experiment).__name__}")))
