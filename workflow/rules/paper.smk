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
        tex=report(
            "paper/tables/claims.tex",
            caption="../report/claims_tex.rst",
            category="Claims",
            labels=report_labels("the claims table of the article", "LaTeX"),
        ),
        forest=report(
            "paper/figures/claims.png",
            caption="../report/claims_forest.rst",
            category="Claims",
            labels=report_labels("every comparison's difference and interval", "figure"),
        ),
    log:
        f"logs/{SCALE}/claims.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        experiments=EXPERIMENTS,
        scale=SCALE,
        # Directories of input files, from the files (snakemake --lint).
        tables_dir=lambda wildcards, input: os.path.dirname(input.runs[0]),
        published_dir=lambda wildcards, input: (
            os.path.dirname(input.published[0]) if input.published else "paper/published"
        ),
        analysis=ANALYSIS_DIGEST,
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
        forest=rules.claims.output.forest,
        figures=FIGURES if "depth" in EXPERIMENTS else [],
        cost="paper/tables/cost.tex",
        template="workflow/templates/paper.tex.j2",
        table=config["table"],
    output:
        tex=report(
            "paper/paper.tex",
            caption="../report/paper_tex.rst",
            category="Paper",
            labels=report_labels("the article's LaTeX source", "LaTeX"),
        ),
        numbers=report(
            "paper/numbers.json",
            caption="../report/numbers.rst",
            category="Paper",
            labels=report_labels("every number of the prose, with its runs", "JSON"),
        ),
    log:
        f"logs/{SCALE}/paper.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        experiments=EXPERIMENTS,
        scale=SCALE,
        table=lambda wildcards, input: input.table,
        overrides=OVERRIDES,
        analysis=ANALYSIS_DIGEST,
    script:
        "../scripts/render_paper.py"


rule cost:
    """The paper scale's GPU-hours (the appendix), from benchmarks/gpu.csv
    when it exists; otherwise the appendix says how to measure them."""
    input:
        bench=lambda wildcards: [GPU_BENCHMARK] if os.path.exists(GPU_BENCHMARK) else [],
        template="workflow/templates/cost.tex.j2",
    output:
        report(
            "paper/tables/cost.tex",
            caption="../report/cost_tex.rst",
            category="Paper",
            labels=report_labels("the appendix: GPU cost of the paper scale", "LaTeX"),
        ),
    log:
        f"logs/{SCALE}/cost.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        # The paper scale's runs (cost.paper_runs), as a digest: they are
        # read from the table, and the appendix follows when they change.
        runs=paper_scale_digest(),
        table=config["table"],
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
        rules.paper.input.forest,
        script="workflow/scripts/compile_pdf.sh",
    output:
        report(
            update("paper/paper.pdf"),
            caption="../report/paper_pdf.rst",
            category="Paper",
            labels=report_labels("the article", "PDF"),
        ),
    log:
        f"logs/{SCALE}/pdf.log",
    conda:
        "../envs/latex.yaml"
    params:
        build_dir="paper/.build",
        last_failure=lambda wildcards: (
            Path("paper/.build/paper.failed").read_text().strip()
            if Path("paper/.build/paper.failed").exists()
            else ""
        ),
    shell:
        "sh {input.script:q} paper/paper.tex {output:q} {params.build_dir:q} > {log:q}"
