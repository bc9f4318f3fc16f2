"""Does a second job on the other core slow the first? Each kernel timed in one process
alone, then in two processes at once (the pipeline runs one training job a core).

Kernels: a 1024x1024 float32 matmul (XLA), and the quick depth network's training step
(forward + backward, plain jax) with XLA's convolution and with patches plus a matmul
(`conv_candidates.py`'s). With `--networks EXPERIMENT/VARIANT ...`, instead, those quick
networks as a run trains them (`floor.py`'s `Network`: the runner's epochs, evaluation
excluded): each alone, each beside a copy of itself, and each pair of them side by side.
Each process trains with the training rule's one-thread environment, compiles first,
waits until the others have compiled too, and prints its ms per step; the ratio is
two-at-once over alone (1.0: the cores do not share). Read the ratios, not the times,
on a loaded machine.

    python benchmarks/cores.py [--seconds 15] [--repeats 2]
    python benchmarks/cores.py --networks depth/relu resnet50/relu allcnn/relu_fixed
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


def network_step(name):
    """(step, flop) of one quick network's training epoch, compiled: one call is an
    epoch, and ms are per training step."""
    sys.path.insert(0, str(HERE))
    from floor import Network

    from linked_neurons_core.table import Table

    experiment, _, variant = name.partition("/")
    import jax

    jax.config.update("jax_threefry_partitionable", False)  # as the runs train
    network = Network(Table().resolve(experiment, variant, "quick", None, seed=100))
    return network.epoch, network.steps


def ready():
    """Say this process has compiled, and wait until every process has."""
    print("ready", flush=True)
    input()


def worker(kind, seconds):
    import jax
    import jax.numpy as jnp
    import numpy as np

    if "/" in kind:
        epoch, steps = network_step(kind)
        ready()
        epoch()
        n, start = 1, time.perf_counter()
        while time.perf_counter() - start < seconds:
            epoch()
            n += 1
        print(json.dumps({"ms": 1e3 * (time.perf_counter() - start) / (n - 1) / steps,
                          "gflops": 0}), flush=True)
        return
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
    ready()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        jax.block_until_ready(step())
        n += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"ms": 1e3 * elapsed / n, "gflops": flop * n / elapsed / 1e9}), flush=True)


def timed(kinds, seconds):
    """[{ms, gflops}] of one process per kind in `kinds`, run at once."""
    env = {**os.environ, "KERAS_BACKEND": "jax", **threads_environment(1)}
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", kind, "--seconds", str(seconds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
             for kind in kinds]
    for proc in procs:  # each has compiled ("ready") or failed (end of its output)
        while proc.stdout.readline() not in ("ready\n", ""):
            pass
    for proc in procs:  # and all start together: the timed windows overlap
        try:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        except BrokenPipeError:  # it failed: said below
            pass
    out = []
    for proc, kind in zip(procs, kinds):
        stdout, _ = proc.communicate()
        if proc.returncode:
            sys.exit(f"cores.py: the {kind} worker failed (exit {proc.returncode}); run it alone: "
                     f"python {__file__} --worker {kind}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def kernels(args):
    for kind in KINDS:
        for repeat in range(args.repeats):
            (alone,) = timed([kind], args.seconds)
            both = timed([kind, kind], args.seconds)
            ratio = sum(b["ms"] for b in both) / len(both) / alone["ms"]
            rate = (f" ({alone['gflops']:.0f} GFLOP/s alone, {sum(b['gflops'] for b in both):.0f} the two)"
                    if kind == "matmul" else "")
            print(f"{kind} #{repeat + 1}: alone {alone['ms']:.2f} ms/step; two at once "
                  + ", ".join(f"{b['ms']:.2f}" for b in both)
                  + f" ms/step: each {ratio:.2f}x{rate}", flush=True)


def networks(args):
    """Each network alone, beside itself and beside each other one: ms per step, and
    each process's ratio to the same network alone in the same repeat."""
    names = args.networks
    for name in names:
        if name.count("/") != 1:
            sys.exit(f"cores.py: --networks takes EXPERIMENT/VARIANT (for example depth/relu), "
                     f"not {name!r}")
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i:]]
    for repeat in range(args.repeats):
        alone = {name: timed([name], args.seconds)[0]["ms"] for name in names}
        print(f"#{repeat + 1} alone: " + ", ".join(f"{n} {ms:.2f}" for n, ms in alone.items())
              + " ms/step", flush=True)
        for a, b in pairs:
            first, second = (r["ms"] for r in timed([a, b], args.seconds))
            print(f"#{repeat + 1} {a} beside {b}: {first:.2f} ({first / alone[a]:.2f}x), "
                  f"{second:.2f} ({second / alone[b]:.2f}x) ms/step", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds a process")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--networks", nargs="+", metavar="EXPERIMENT/VARIANT",
                        help="quick networks as a run trains them, instead of the kernels")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.seconds)
    print(f"{os.cpu_count()} cores; each process with the training rule's one-thread environment")
    return networks(args) if args.networks else kernels(args)


if __name__ == "__main__":
    main()
