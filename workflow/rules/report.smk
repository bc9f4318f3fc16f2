# The HTML report (snakemake --report report.html): the article's tables as
# sortable pages, the runs page, the claims, the figures and the PDF, each
# with a caption from workflow/report/*.rst. Snakemake's report shows HTML,
# images and PDFs in place and offers other files (CSV, LaTeX, JSON) as
# downloads: workflow/scripts/report_tables.py renders the tables as HTML.
# Its helpers (categories, labels): report_common.smk.


localrules:
    report_table,
    runs_page,
    claims_table,


rule report_table:
    """An experiment's per-run table as a sortable HTML page, for the report."""
    input:
        runs=f"{RESULTS}/tables/{{experiment}}_runs.csv",
    output:
        html=report(
            f"{RESULTS}/report/{{experiment}}_runs.html",
            caption="../report/runs_table.rst",
            category=experiment_category,
            labels=report_labels("every run: configuration and results", "sortable table"),
        ),
    log:
        f"logs/{SCALE}/report/{{experiment}}_runs.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        title=lambda wildcards: resolved(wildcards.experiment)["title"],
        table=lambda wildcards: article_table(wildcards.experiment),
        scale=SCALE,
        analysis=ANALYSIS_DIGEST,
    script:
        "../scripts/report_tables.py"


rule runs_page:
    """Every run of the build, one row each: configuration, best accuracy,
    convergence, divergence and the published value (results/SCALE/runs.csv),
    and the same as a sortable HTML page for the report."""
    input:
        runs=expand(f"{RESULTS}/tables/{{experiment}}_runs.csv", experiment=EXPERIMENTS),
        published=[p for e in EXPERIMENTS for p in published(e)],
    output:
        csv=f"{RESULTS}/runs.csv",
        html=report(
            f"{RESULTS}/report/runs.html",
            caption="../report/runs.rst",
            category="Runs",
            labels=report_labels("every run of the build", "sortable table (CSV inside)"),
        ),
    log:
        f"logs/{SCALE}/report/runs.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        experiments=EXPERIMENTS,
        tables={e: article_table(e) for e in EXPERIMENTS},
        scale=SCALE,
        analysis=ANALYSIS_DIGEST,
        published_dir=lambda wildcards, input: (
            os.path.dirname(input.published[0]) if input.published else None
        ),
    script:
        "../scripts/report_tables.py"


rule claims_table:
    """The claims (claims.json) as one row per claim: results/SCALE/claims.csv,
    and the same as a sortable HTML page for the report."""
    input:
        claims=f"{RESULTS}/claims.json",
    output:
        csv=report(
            f"{RESULTS}/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            labels=report_labels("the claims and their verdicts", "CSV"),
        ),
        html=report(
            f"{RESULTS}/report/claims.html",
            caption="../report/claims.rst",
            category="Claims",
            labels=report_labels("the claims and their verdicts", "sortable table"),
        ),
    log:
        f"logs/{SCALE}/report/claims.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        scale=SCALE,
        analysis=ANALYSIS_DIGEST,
    script:
        "../scripts/report_tables.py"
