rule table:
    """An experiment's table: aggregated as the protocol says, rendered with
    Jinja2 next to the published values."""
    input:
        runs=f"{RESULTS}/tables/{{experiment}}_runs.csv",
        template="workflow/templates/table.tex.j2",
        published=lambda wildcards: published(wildcards.experiment),
    output:
        "paper/tables/{experiment}.tex",
    params:
        expected=lambda wildcards: run_ids(wildcards.experiment),
        title=lambda wildcards: resolved(wildcards.experiment)["title"],
        scale=SCALE,
        published_dir="paper/published",
    log:
        f"logs/{SCALE}/table/{{experiment}}.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/render_table.py"


rule figures:
    """Validation accuracy per epoch and dead units per layer (depth)."""
    input:
        epochs=f"{RESULTS}/tables/depth.csv",
        runs=f"{RESULTS}/tables/depth_runs.csv",
    output:
        curves=report("paper/figures/depth_curves.png", category="Figures"),
        dead=report("paper/figures/depth_dead_units.png", category="Figures"),
    log:
        f"logs/{SCALE}/figures.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/figures.py"
