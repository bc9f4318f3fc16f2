"""What a run trained with: the versions of its software and of this code,
and its device (`device()`).

`environment()` is recorded in every run's metrics.json, so that two runs
made a month apart say whether they ran the same software:

    {"python": "3.11.7", "keras": "3.15.1", "backend": "jax",
     "backend_versions": {"jax": "0.10.2", "jaxlib": "0.10.2"},
     "numpy": "2.4.6", "linked_neurons": "0.1.0", "commit": "0953706-dirty"}

Only the backend in use is asked for its version, and without importing
anything new (the installed distributions' metadata). `commit` is the git
commit of the checkout the packages run from, "-dirty" when tracked files of
linked_neurons/ or linked_neurons_core/ differ from it, None when the package is not in a checkout (an
installed wheel, even one inside a checkout's virtual environment) or git is
missing or slow. Nothing here raises: a version that cannot be read is None.
"""

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

# The distributions that say which version of each Keras backend ran.
BACKEND_PACKAGES = {
    "jax": ("jax", "jaxlib"),
    "tensorflow": ("tensorflow",),
    "torch": ("torch",),
    "openvino": ("openvino",),
    "numpy": (),
}
GIT_TIMEOUT = 5.0  # seconds, for each of the three git calls
# The packages of this code: the layers and the runner, and this one (Keras-free).
PACKAGES = ("linked_neurons", "linked_neurons_core")
PACKAGE_DIRS = tuple(Path(__file__).resolve().parents[1] / name for name in PACKAGES)


def environment():
    """{python, keras, backend, backend_versions, numpy, linked_neurons, commit}."""
    backend = _guard(_keras_backend)
    return {
        "python": platform.python_version(),
        "keras": _version("keras"),
        "backend": backend,
        "backend_versions": {name: _version(name) for name in BACKEND_PACKAGES.get(backend, ())},
        "numpy": _version("numpy"),
        "linked_neurons": _guard(_package_version),
        "commit": git_commit(),
    }


def git_commit(package_dirs=PACKAGE_DIRS):
    """The short hash of HEAD of the checkout that `package_dirs` (a folder,
    or folders of one checkout) are tracked in, with "-dirty" when tracked
    files under them have changes; else None."""
    if isinstance(package_dirs, (str, os.PathLike)):
        package_dirs = [package_dirs]
    here = Path(package_dirs[0])
    relative = [os.path.relpath(folder, here) for folder in package_dirs]
    # Optional locks off: status must not take index.lock from a developer's git.
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env["GIT_OPTIONAL_LOCKS"] = "0"

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(here), *args],
            capture_output=True, text=True, timeout=GIT_TIMEOUT, check=True,
            stdin=subprocess.DEVNULL, env=env,
        ).stdout.strip()

    try:
        # Tracked here: a checkout, not a copy installed somewhere below one.
        git("ls-files", "--error-unmatch", "--", *(os.path.join(r, "__init__.py") for r in relative))
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *relative)
    except (OSError, ValueError, subprocess.SubprocessError):  # no git, not a checkout, too slow
        return None
    return f"{commit}-dirty" if dirty else commit or None


def _keras_backend():
    import keras  # already imported by the package

    return keras.backend.backend()


def _package_version():
    import linked_neurons

    return linked_neurons.__version__


def _version(distribution):
    """The version of an imported module, else of its installed distribution."""
    module = sys.modules.get(distribution)
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version(distribution)
    except Exception:  # not installed, or broken metadata
        return None


def _guard(function):
    try:
        return function()
    except Exception:
        return None


def device():
    """The device a run trains on, in words (recorded as the run's `device`);
    a CPU with its model and instruction sets (`cpu()`)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        first = jax.devices()[0]
        if first.platform == "cpu":
            return f"cpu: {cpu()}"
        return f"{first.platform}: {first.device_kind}"
    if backend == "torch":
        import torch

        return f"cuda: {torch.cuda.get_device_name()}" if torch.cuda.is_available() else f"cpu: {cpu()}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu: {gpus[0].name}" if gpus else f"cpu: {cpu()}"


#: The instruction sets that choose XLA's and oneDNN's CPU kernels, widest
#: first: (cpuinfo flag, name). Kernels of another width round otherwise,
#: and the runs of networks that rounding moves (benchmarks/sensitivity.py)
#: then differ, as they do between this machine and one with AVX2 only.
VECTOR_ISAS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"),
               ("sve", "SVE"), ("asimd", "NEON"))
#: Variables that cap the instruction set oneDNN's kernels use.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def cpu(cpuinfo="/proc/cpuinfo", environ=None):
    """The CPU in words: its model and its widest vector instruction set (and
    AMX), e.g. "Intel(R) Xeon(R) Processor (AVX-512, AMX)", with a oneDNN cap
    of the environment; from `cpuinfo` (Linux), else what `platform` knows.
    Never raises."""
    environ = os.environ if environ is None else environ
    fields = {}
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine() or "unknown"
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    isas = [name for flag, name in VECTOR_ISAS if flag in flags][:1]
    isas += ["AMX"] if "amx_tile" in flags else []
    caps = [f"{key}={environ[key]}" for key in ISA_CAPS if environ.get(key)]
    words = ", ".join(isas + caps)
    return f"{model} ({words})" if words else model
