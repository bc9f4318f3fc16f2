"""The environment of a training process that keeps to its declared threads.

One definition for the training rule (workflow/rules/train.smk), the SLURM
time-limit test and the benchmarks. `PJRT_NPROC` sizes XLA's CPU thread
pools (XLA's `DefaultThreadPoolSize`; XLA has no thread-count flag, and a
bare `intra_op_parallelism_threads` in `XLA_FLAGS` is silently ignored),
Eigen's own multi-threading is off, and OpenMP keeps to the same count.
Set before the backend starts: in the process's environment. `leave_out()`
marks absent the modules a training process never uses (`UNUSED`), as the
training job's entry point (workflow/scripts/train.py) and the benchmarks
that time its start-up do.

    python -m linked_neurons_core.threads 2   # VAR=value words for `env`
"""

import os
import shlex
import sys

#: What Keras imports at `import keras` when installed and a training run never
#: uses (its scikit-learn wrappers, plotting, pandas inputs): about 0.9 s of a
#: job's start-up (workflow/scripts/train.py).
UNUSED = ("sklearn", "matplotlib", "pandas")


def leave_out(names=UNUSED):
    """Mark `names` absent in `sys.modules`, before anything imports them:
    their `import` raises ImportError, which Keras reads as "not installed"."""
    for name in names:
        sys.modules.setdefault(name, None)


def environment(threads):
    """{variable: value} of a process that trains on `threads` threads."""
    threads = str(threads)
    return {"OMP_NUM_THREADS": threads, "PJRT_NPROC": threads,
            "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}


def keep_to(threads):
    """Keep this process to `threads` threads, as a training job is: set
    `environment(threads)` where the environment does not already choose, and
    the jax backend unless `KERAS_BACKEND` chooses (the benchmarks' start-up).
    Call it before the backend starts."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    for key, value in environment(threads).items():
        os.environ.setdefault(key, value)


def shell_words(threads):
    """`environment(threads)` as VAR=value words of a shell command."""
    return " ".join(f"{key}={value if value == '{threads}' else shlex.quote(value)}"
                    for key, value in environment(threads).items())


if __name__ == "__main__":
    print(shell_words(sys.argv[1] if len(sys.argv) > 1 else 1))
