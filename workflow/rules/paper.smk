rule claims:
    """The paper's claims (config/claims.yaml), each with a verdict computed
    from the runs and from the published values."""
    input:
        runs=expand(f"{RESULTS}/tables/{{experiment}}_runs.csv", experiment=EXPERIMENTS),
        claims="config/claims.yaml",
        template="workflow/templates/claims.tex.j2",
        published=[p for e in EXPERIMENTS for p in published(e)],
    output:
        json=f"{RESULTS}/claims.json",
        tex="paper/tables/claims.tex",
    params:
        experiments=EXPERIMENTS,
        scale=SCALE,
        tables_dir=f"{RESULTS}/tables",
        published_dir="paper/published",
    log:
        f"logs/{SCALE}/claims.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/claims.py"


rule paper:
    """paper/paper.tex from its Jinja2 template: text, tables, figures and
    every number of the prose, filled in from the results; numbers.json maps
    each number to the runs it comes from."""
    input:
        tables=expand("paper/tables/{experiment}.tex", experiment=EXPERIMENTS),
        runs=expand(f"{RESULTS}/tables/{{experiment}}_runs.csv", experiment=EXPERIMENTS),
        claims=rules.claims.output.json,
        claims_table=rules.claims.output.tex,
        figures=FIGURES if "depth" in EXPERIMENTS else [],
        cost="paper/tables/cost.tex",
        template="workflow/templates/paper.tex.j2",
        table=config["table"],
    output:
        tex=report("paper/paper.tex", category="Paper"),
        numbers="paper/numbers.json",
    params:
        experiments=EXPERIMENTS,
        scale=SCALE,
        table=config["table"],
        overrides=OVERRIDES,
    log:
        f"logs/{SCALE}/paper.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/render_paper.py"


rule cost:
    """The paper scale's GPU-hours (the appendix), from benchmarks/gpu.csv
    when it exists; otherwise the appendix says how to measure them."""
    input:
        bench=lambda wildcards: [GPU_BENCHMARK] if os.path.exists(GPU_BENCHMARK) else [],
        template="workflow/templates/cost.tex.j2",
    output:
        "paper/tables/cost.tex",
    params:
        # The paper scale's runs (cost.paper_runs), as a digest: they are
        # read from the table, and the appendix follows when they change.
        runs=paper_scale_digest(),
        table=config["table"],
    log:
        f"logs/{SCALE}/cost.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/cost.py"


rule pdf:
    """The PDF, compiled with latexmk in paper/.build/ and then moved into
    place: a LaTeX error leaves the last good paper/paper.pdf as it was and
    shows the error on the console. update() keeps Snakemake from deleting the
    PDF before the job, and restores it if the job fails. At each failure the
    script writes a new paper/.build/paper.failed, whose content is a param:
    the next run tries again instead of taking the restored PDF (newer than
    its inputs) for up to date."""
    input:
        "paper/paper.tex",
        rules.paper.input.tables,
        rules.paper.input.figures,
        rules.paper.input.cost,
        rules.paper.input.claims_table,
    output:
        report(update("paper/paper.pdf"), category="Paper"),
    params:
        build_dir="paper/.build",
        last_failure=lambda wildcards: (
            Path("paper/.build/paper.failed").read_text().strip()
            if Path("paper/.build/paper.failed").exists()
            else ""
        ),
    log:
        f"logs/{SCALE}/pdf.log",
    conda:
        "../envs/latex.yaml"
    shell:
        "sh {workflow.basedir:q}/workflow/scripts/compile_pdf.sh paper/paper.tex {output:q} {params.build_dir:q} > {log:q}"
