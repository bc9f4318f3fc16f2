"""The Jinja2 environment for LaTeX templates: << var >>, <% block %>, <# #>."""

from pathlib import Path

import jinja2


def environment(directory):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        block_start_string="<%", block_end_string="%>",
        variable_start_string="<<", variable_end_string=">>",
        comment_start_string="<#", comment_end_string="#>",
        trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["acc"] = lambda v, digits=3: "--" if v is None or v != v else f"{v:.{digits}f}"
    env.filters["signed"] = lambda v: "" if v is None or v != v else f"{v:+.3f}"
    env.filters["tex"] = lambda s: str(s).replace("_", r"\_").replace("%", r"\%")
    return env


def template(path):
    """The template at `path`, in the LaTeX environment of its directory."""
    path = Path(path)
    return environment(path.parent).get_template(path.name)


def write_atomic(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
