# The report's helpers, for the report() flags of every rule file (included
# right after common.smk). The report's own rules: report.smk.


def article_table(experiment):
    """The paper's table that an experiment reproduces, from its title
    ("... (the paper's Table 2)"): "Table 2", "Beyond the paper" or "Experiment"."""
    title = resolved(experiment)["title"]
    if match := re.search(r"\bTable (\d+)\b", title):
        return f"Table {match[1]}"
    return "Beyond the paper" if "beyond the paper" in title.lower() else "Experiment"


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
