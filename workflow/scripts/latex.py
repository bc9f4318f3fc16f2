"""The Jinja2 environment for LaTeX templates: << var >>, <% block %>, <# #>.

`tex` is the one escape of text for LaTeX, used for every value of the
configuration or the results that the article prints (titles, labels,
claims): any text is printed as written.
"""

from pathlib import Path

import jinja2

_TEX = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "#": r"\#", "$": r"\$",
    "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "`": r"\textasciigrave{}", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    '"': r"\textquotedbl{}", "-": "-{}",
}


def tex(text):
    """`text` as LaTeX prints it literally (with the T1 font encoding that
    paper.tex loads): special characters escaped, no ligatures (--, ``)."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def acc(value, digits=3):
    return "--" if value is None or value != value else f"{value:.{digits}f}"


def count(n, noun):
    """"1 run", "3 runs": `n` and `noun`, plural unless `n` is 1."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


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
    env.filters["acc"] = acc
    env.filters["count"] = count
    env.filters["signed"] = lambda v: "" if v is None or v != v else f"{v:+.3f}"
    env.filters["tex"] = tex
    return env


def template(path):
    """The template at `path`, in the LaTeX environment of its directory."""
    path = Path(path)
    return environment(path.parent).get_template(path.name)


def code_commit():
    """The checkout's commit of the two packages (\"-dirty\": with uncommitted
    changes), or "unknown" outside a git checkout."""
    from linked_neurons_core.provenance import PACKAGES
    from linked_neurons_core.provenance import git_commit

    root = Path(__file__).resolve().parents[2]
    return git_commit([root / name for name in PACKAGES]) or "unknown"


def made_by(rule, script, function):
    """One line of provenance: the rule, script and function that made an
    output, and the commit of the code."""
    return f"made by rule {rule}, workflow/scripts/{script}, {function}, at commit {code_commit()}"
