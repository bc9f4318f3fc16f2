"""A training job's fixed cost: the pipeline's lean entry against the CLI.

The quick scale is about a hundred short runs, so what a job spends before
and around its epochs (Python and Keras imports, compilation from the jax
cache, writing its outputs) is a large share of the article's time. This
times one tiny run (the width experiment's w50_relu, one epoch) started as

  cli   python -m linked_neurons train ...     (what users type), and
  lean  python workflow/scripts/train.py train ...   (the Snakemake job's entry,
        which keeps scikit-learn, matplotlib and pandas out of the process),

alternating, in fresh output directories, with a shared warm jax compilation
cache as in the pipeline, and prints the median wall time of each and their
ratio. A benchmark, not a test.

    python benchmarks/startup.py --repeats 5
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ["train", "width", "w50_relu", "--set", "epochs=1"]
ENTRIES = {
    "cli": [sys.executable, "-m", "linked_neurons"],
    "lean": [sys.executable, str(ROOT / "workflow" / "scripts" / "train.py")],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
               "JAX_COMPILATION_CACHE_DIR": str(Path(tmp) / "jax_cache"),
               "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
               "PYTHONPATH": str(ROOT)}
        times = {name: [] for name in ENTRIES}
        for repeat in range(args.repeats + 1):  # the first round fills the cache
            for name, entry in ENTRIES.items():
                out = Path(tmp) / f"{name}{repeat}"
                start = time.perf_counter()
                subprocess.run([*entry, *RUN, "--out", str(out)], cwd=ROOT, env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if repeat:
                    times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name:5} median {statistics.median(values):.2f} s over {len(values)} runs")
    ratio = statistics.median(times["cli"]) / statistics.median(times["lean"])
    print(f"cli / lean: {ratio:.2f}x")


if __name__ == "__main__":
    main()
