# The training jobs: one per group, the runs of one variant (one per seed),
# trained in one process (linked_neurons/experiments/train.py); a timed run
# (Table 6) is a job of its own (common.smk, TIMED_ORDER). Outputs are
# update()d: Snakemake does not delete a group's finished runs before it
# reruns the group (one run deleted, a stale run), and the runner trains only
# the runs whose metrics.json is missing or of another configuration or code.
# A job that fails or is stopped keeps the runs it finished because the
# profiles set keep-incomplete (Snakemake would delete its new outputs). The
# trainer is exec'd: a stop signal reaches it, not a shell that dies at once.
# Threads: THREAD_ENV (linked_neurons_core/threads.py) keeps a job to its
# `threads`; tests/test_threads.py checks that it does.

_TRAIN_RULES = [
    (
        "train" if _index == 0 else f"train_{_index + 1}",
        expand(f"{RESULTS}/runs/{{group}}/{{seed}}/metrics.json", seed=_seeds, allow_missing=True),
        _keys,
        "{group}",
    )
    for _index, (_seeds, _keys) in enumerate(SEED_LISTS.items())
]
if TIMED_ORDER:
    _TRAIN_RULES.append(
        (
            "train_timed",
            [f"{RESULTS}/runs/{{group}}/{{seed,[0-9]+}}/metrics.json"],
            sorted({key for key, _ in TIMED_ORDER}),
            "{group}/{seed}",
        )
    )

for _name, _outputs, _keys, _job in _TRAIN_RULES:

    rule:
        name:
            _name
        output:
            update(_outputs),
        log:
            f"logs/{SCALE}/train/{_job}.log",
        benchmark:
            f"{RESULTS}/benchmarks/train/{_job}.tsv"
        wildcard_constraints:
            group="|".join(re.escape(key) for key in _keys),
        # Timed runs (alone on the device) first, while every core is free,
        # in rounds (TIMED_ORDER): the rest of the build never waits for cores
        # to drain behind one. Then the longest first: no long group is left
        # to run alone at the end.
        priority: train_priority
        conda:
            "../envs/pipeline.yaml"
        threads: train_threads
        resources:
            mem_mb=lambda wildcards: GROUPS[wildcards.group]["resources"]["mem_mb"],
            runtime=lambda wildcards: GROUPS[wildcards.group]["resources"]["runtime"],
            gpu=lambda wildcards: GROUPS[wildcards.group]["resources"]["gpus"],
            slurm_extra=slurm_extra,
        params:
            # What identifies the group's runs, and only that: the rest of
            # the command line is rebuilt in the job (workflow/scripts/train.py).
            trains=trains,
            mode=train_mode,
            exclusive=train_exclusive,
        shell:
            f"TF_CPP_MIN_LOG_LEVEL=3 {THREAD_ENV} "
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 XLA_PYTHON_CLIENT_PREALLOCATE=false "
            'PYTHONPATH="$LINKED_NEURONS_WORKFLOW${{PYTHONPATH:+:$PYTHONPATH}}" '
            'exec python "$LINKED_NEURONS_WORKFLOW/workflow/scripts/train.py" '
            "--pipeline-group {wildcards.group:q} --group-mode {params.mode} {params.exclusive} "
            "{output:q} > {log:q} 2>&1"
