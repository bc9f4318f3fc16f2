rule train:
    """One training run: experiment x variant x seed."""
    output:
        metrics="results/{scale}/runs/{experiment}/{variant}/{seed}/metrics.json",
    params:
        out=lambda wildcards, output: os.path.dirname(output.metrics),
        overrides=set_arguments(),
        python=sys.executable,
        code=workflow.basedir,
        backend=config["backend"],
        table=config["table"],
        cache=lambda wildcards: f"results/{wildcards.scale}/.jax_cache",
        # Several runs share one GPU: each process takes its share of memory.
        mem_fraction=round(0.9 / config["runs_per_gpu"], 3),
    log:
        "logs/{scale}/train/{experiment}/{variant}/{seed}.log",
    benchmark:
        "results/{scale}/benchmarks/train/{experiment}/{variant}/{seed}.tsv"
    threads: lambda wildcards: run_resources(wildcards)["threads"]
    resources:
        mem_mb=lambda wildcards: run_resources(wildcards)["mem_mb"],
        runtime=lambda wildcards: run_resources(wildcards)["runtime"],
        gpu=lambda wildcards: run_resources(wildcards)["gpus"],
        gpu_slots=lambda wildcards: 1 if run_resources(wildcards)["gpus"] else 0,
    conda:
        "../envs/pipeline.yaml"
    shell:
        "KERAS_BACKEND={params.backend} TF_CPP_MIN_LOG_LEVEL=3 "
        "OMP_NUM_THREADS={threads} "
        "XLA_FLAGS='--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}' "
        "JAX_COMPILATION_CACHE_DIR={params.cache} "
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 "
        "XLA_PYTHON_CLIENT_PREALLOCATE=false "
        "XLA_PYTHON_CLIENT_MEM_FRACTION={params.mem_fraction} "
        "PYTHONPATH={params.code}${{PYTHONPATH:+:$PYTHONPATH}} "
        "{params.python} {params.code}/workflow/scripts/train.py --table {params.table} train "
        "{wildcards.experiment} {wildcards.variant} --seed {wildcards.seed} "
        "--scale {wildcards.scale} --out {params.out} {params.overrides} > {log} 2>&1"
