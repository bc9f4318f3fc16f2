# The report's helpers, for the report() flags of every rule file (included
# right after common.smk). The report's own rules: report.smk.


def article_table(experiment):
    """The paper's table that an experiment reproduces (the table's
    `paper_table`): "Table 2", or "Beyond the paper"."""
    number = resolved(experiment)["paper_table"]
    return f"Table {number}" if number else "Beyond the paper"


def report_category(experiment):
    """An experiment's category in the report: "Table 2 (depth)"."""
    return f"{article_table(experiment)} ({experiment})"


def experiment_category(wildcards):
    return report_category(wildcards.experiment)


def report_labels(content, format):
    """The labels of a report item: what it holds, and in which format."""
    return {"content": content, "format": format}


REPORT_OUTPUTS = [
    *expand(f"{RESULTS}/report/{{experiment}}_runs.html", experiment=EXPERIMENTS),
    f"{RESULTS}/report/runs.html",
    f"{RESULTS}/report/claims.html",
]
