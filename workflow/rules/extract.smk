rule extract:
    """An experiment's event files into tidy tables: one row per run and epoch
    (EXPERIMENT.csv) and one row per run (EXPERIMENT_runs.csv)."""
    input:
        metrics=lambda wildcards: run_metrics(wildcards.experiment),
    params:
        # A run shared with another experiment is labelled as this one's.
        ids=lambda wildcards: run_ids(wildcards.experiment),
    output:
        epochs="results/{scale}/tables/{experiment}.csv",
        runs="results/{scale}/tables/{experiment}_runs.csv",
    log:
        "logs/{scale}/extract/{experiment}.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/extract.py"
