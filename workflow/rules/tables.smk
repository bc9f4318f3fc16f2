rule table:
    """An experiment's table: aggregated as the protocol says, rendered with
    Jinja2 next to the published values."""
    input:
        runs=f"{RESULTS}/tables/{{experiment}}_runs.csv",
        template="workflow/templates/table.tex.j2",
        published=lambda wildcards: published(wildcards.experiment),
    output:
        report(
            "paper/tables/{experiment}.tex",
            caption="../report/table_tex.rst",
            category=experiment_category,
            labels=lambda wildcards: report_labels(
                f"{article_table(wildcards.experiment)} of the article", "LaTeX"
            ),
        ),
    log:
        f"logs/{SCALE}/table/{{experiment}}.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        expected=lambda wildcards: run_ids(wildcards.experiment),
        title=lambda wildcards: resolved(wildcards.experiment)["title"],
        scale=SCALE,
        published_dir="paper/published",
        analysis=ANALYSIS_DIGEST,
    script:
        "../scripts/render_table.py"


rule figures:
    """Validation accuracy per epoch and dead units per layer (depth): constant
    on every sample, and exactly zero on every sample."""
    input:
        epochs=f"{RESULTS}/tables/depth.csv",
        runs=f"{RESULTS}/tables/depth_runs.csv",
    output:
        curves=report(
            "paper/figures/depth_curves.png",
            caption="../report/figure_curves.rst",
            category="Figures",
            labels={"figure": "validation accuracy per epoch", "experiment": "depth"},
        ),
        dead=report(
            "paper/figures/depth_dead_units.png",
            caption="../report/figure_dead_units.rst",
            category="Figures",
            labels={"figure": "dead units per layer", "experiment": "depth"},
        ),
    log:
        f"logs/{SCALE}/figures.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        analysis=ANALYSIS_DIGEST,
    script:
        "../scripts/figures.py"
