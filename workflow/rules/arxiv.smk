# snakemake --cores all arxiv: the article as arXiv takes it.


# Whether the article has a bibliography (an uncommented \bibliography in its
# template): then the archive holds its .bbl, which latexmk writes beside the PDF.
HAS_BIBLIOGRAPHY = bool(
    re.search(
        r"^[^%\n]*\\bibliography\{",
        Path("workflow/templates/paper.tex.j2").read_text(),
        re.M,
    )
)


localrules:
    arxiv,


rule arxiv:
    """paper/arxiv.tar.gz: paper.tex, the tables and figures it includes and,
    if it has a bibliography, its .bbl; pdflatex compiles it in an empty
    directory. The same bytes for the same inputs (sorted members, no dates)."""
    input:
        tex="paper/paper.tex",
        tables=rules.paper.input.tables,
        claims=rules.paper.input.claims_table,
        cost=rules.paper.input.cost,
        figures=rules.paper.input.figures,
        forest=rules.paper.input.forest,
        bbl=["paper/paper.pdf"] if HAS_BIBLIOGRAPHY else [],
    output:
        "paper/arxiv.tar.gz",
    log:
        f"logs/{SCALE}/arxiv.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        build_dir="paper/.build",
    script:
        "../scripts/arxiv.py"
