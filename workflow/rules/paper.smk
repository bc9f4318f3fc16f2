rule paper:
    """paper/paper.tex from its Jinja2 template: text, tables, figures and
    every number of the prose, filled in from the results."""
    input:
        tables=expand("paper/tables/{experiment}.tex", experiment=EXPERIMENTS),
        runs=expand(f"{RESULTS}/tables/{{experiment}}_runs.csv", experiment=EXPERIMENTS),
        figures=FIGURES if "depth" in EXPERIMENTS else [],
        cost="paper/tables/cost.tex",
        template="workflow/templates/paper.tex.j2",
        published="paper/published/SOURCE.md",
    output:
        report("paper/paper.tex", category="Paper"),
    params:
        experiments=EXPERIMENTS,
        scale=SCALE,
        tables_dir=lambda wildcards, input: os.path.dirname(input.runs[0]),
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
        runs=paper_runs(),
    log:
        f"logs/{SCALE}/cost.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/cost.py"


rule pdf:
    """The PDF, compiled with latexmk."""
    input:
        "paper/paper.tex",
        rules.paper.input.tables,
        rules.paper.input.figures,
        rules.paper.input.cost,
    output:
        report("paper/paper.pdf", category="Paper"),
    log:
        f"logs/{SCALE}/pdf.log",
    conda:
        "../envs/latex.yaml"
    shell:
        "latexmk -pdf -interaction=nonstopmode -halt-on-error -cd paper/paper.tex > {log} 2>&1"
