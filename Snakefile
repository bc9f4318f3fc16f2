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


# The runs are targets too: Snakemake does not remake a deleted intermediate
# file whose consumers are up to date, and a deleted run must be retrained.
rule all:
    default_target: True
    input:
        ALL_OUTPUTS,
        [run_metrics(experiment) for experiment in EXPERIMENTS],
        REPORT_OUTPUTS,


for _experiment in EXPERIMENTS:

    rule:
        name:
            _experiment
        input:
            f"paper/tables/{_experiment}.tex",
            run_metrics(_experiment),
