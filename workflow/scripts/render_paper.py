"""Render paper/paper.tex from workflow/templates/paper.tex.j2."""

from pathlib import Path

from aggregate import numbers
from latex import template, write_atomic

sm = snakemake  # noqa: F821
text = template(sm.input.template).render(
    experiments=sm.params.experiments,
    scale=sm.params.scale,
    n=numbers(sm.params.tables_dir, Path(sm.input.published).parent),
    figures=bool(sm.input.figures),
)
write_atomic(sm.output[0], text)
