# Reproduces "Solving internal covariate shift in deep learning with linked
# neurons" (Riera et al. 2017): training runs -> tables -> paper.tex -> PDF.
#
#   snakemake --cores all                       # the whole article, quick scale
#   snakemake --cores all --config scale=paper  # the published protocol
#   snakemake --cores all depth                 # one experiment and its table
#   snakemake --cores all paper/tables/depth.tex

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# snakemake --report report.html: this page first, then every output flagged
# with report() (workflow/rules/report.smk), each with its caption.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/report_common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/arxiv.smk"


# Every product is a target: Snakemake does not remake a deleted intermediate
# file whose consumers are up to date, so a deleted run, table, LaTeX table,
# figure or report input is rebuilt (with what depends on it) only if `all`
# asks for it.
rule all:
    default_target: True
    input:
        ALL_OUTPUTS,
        [run_metrics(experiment) for experiment in EXPERIMENTS],
        expand(
            f"{RESULTS}/tables/{{experiment}}{{kind}}.csv",
            experiment=EXPERIMENTS,
            kind=["", "_runs"],
        ),
        expand("paper/tables/{experiment}.tex", experiment=EXPERIMENTS),
        rules.claims.output,
        rules.cost.output,
        rules.paper.output,
        rules.paper.input.figures,
        rules.runs_page.output,
        rules.claims_table.output,
        REPORT_OUTPUTS,


for _experiment in EXPERIMENTS:

    rule:
        name:
            _experiment
        input:
            f"paper/tables/{_experiment}.tex",
            run_metrics(_experiment),
