rule extract:
    """An experiment's event files into tidy tables: one row per run and epoch
    (EXPERIMENT.csv) and one row per run (EXPERIMENT_runs.csv)."""
    input:
        metrics=lambda wildcards: run_metrics(wildcards.experiment),
    output:
        epochs=report(
            "results/{scale}/tables/{experiment}.csv",
            caption="../report/epochs_csv.rst",
            category=experiment_category,
            labels=report_labels("every epoch of every run", "CSV"),
        ),
        runs=report(
            "results/{scale}/tables/{experiment}_runs.csv",
            caption="../report/runs_csv.rst",
            category=experiment_category,
            labels=report_labels("every run: configuration and results", "CSV"),
        ),
    log:
        "logs/{scale}/extract/{experiment}.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        # A run shared with another experiment is labelled as this one's.
        ids=lambda wildcards: run_ids(wildcards.experiment),
        analysis=ANALYSIS_DIGEST,
    script:
        "../scripts/extract.py"
