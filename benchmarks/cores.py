"""Does a second job on the other core slow the first? Each kernel timed in one process
alone, then in two processes at once (the pipeline runs one training job a core).

Kernels: a 1024x1024 float32 matmul (XLA), and the quick depth network's training step
(forward + backward, plain jax) with XLA's convolution and with patches plus a matmul
(`conv_candidates.py`'s). Each process trains with the training rule's one-thread
environment and prints its ms per step; the ratio is two-at-once over alone (1.0: the
cores do not share). Read the ratios, not the times, on a loaded machine.

    python benchmarks/cores.py [--seconds 15] [--repeats 2]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from linked_neurons_core.threads import environment as threads_environment  # noqa: E402

KINDS = ("matmul", "depth_conv", "depth_im2col")


def worker(kind, seconds):
    import jax
    import jax.numpy as jnp
    import numpy as np

    if kind == "matmul":
        a = jnp.asarray(np.random.default_rng(0).random((1024, 1024), dtype=np.float32))
        f = jax.jit(lambda a: a @ a)
        step, flop = (lambda: f(a)), 2 * 1024 ** 3
    else:
        sys.path.insert(0, str(HERE))
        from conv_candidates import im2col_conv
        from conv_candidates import init
        from conv_candidates import lax_conv
        from conv_candidates import make

        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(32, 16, 16, 1)).astype(np.float32))
        y = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, 32)), 10)
        params = init(jax.random.PRNGKey(0), False)
        grad = make(im2col_conv if kind == "depth_im2col" else lax_conv, False, 1)
        step, flop = (lambda: grad(params, x, y)), 0
    jax.block_until_ready(step())  # compiled
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        jax.block_until_ready(step())
        n += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"ms": 1e3 * elapsed / n, "gflops": flop * n / elapsed / 1e9}), flush=True)


def timed(kind, copies, seconds):
    env = {**os.environ, "KERAS_BACKEND": "jax", **threads_environment(1)}
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", kind, "--seconds", str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
             for _ in range(copies)]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate()
        if proc.returncode:
            sys.exit(f"cores.py: the {kind} worker failed (exit {proc.returncode}); run it alone: "
                     f"python {__file__} --worker {kind}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds a process")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.seconds)
    print(f"{os.cpu_count()} cores; each process with the training rule's one-thread environment")
    for kind in KINDS:
        for repeat in range(args.repeats):
            (alone,) = timed(kind, 1, args.seconds)
            both = timed(kind, 2, args.seconds)
            ratio = sum(b["ms"] for b in both) / len(both) / alone["ms"]
            rate = (f" ({alone['gflops']:.0f} GFLOP/s alone, {sum(b['gflops'] for b in both):.0f} the two)"
                    if kind == "matmul" else "")
            print(f"{kind} #{repeat + 1}: alone {alone['ms']:.2f} ms/step; two at once "
                  + ", ".join(f"{b['ms']:.2f}" for b in both)
                  + f" ms/step: each {ratio:.2f}x{rate}", flush=True)


if __name__ == "__main__":
    main()
