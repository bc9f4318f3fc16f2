"""Dataset loaders for the linked-neurons experiments.

Every loader returns ``((x_train, y_train), (x_test, y_test))`` as NumPy
arrays:

* ``x``: ``float32``, NHWC ``(N, H, W, C)``, pixel values scaled to ``[0, 1]``;
* ``y``: ``int64`` class indices of shape ``(N,)``.

Supported names are listed in :data:`DATASETS`:

``digits``
    scikit-learn's bundled ``load_digits`` (1797 images, 8x8x1, always
    offline).  Raw values 0..16 are divided by 16.  Split: the indices
    ``0..1796`` are shuffled with ``numpy.random.default_rng(0).permutation``;
    the first 1437 shuffled indices are the training set and the last 360
    (``ceil(0.2 * 1797)``, i.e. 20 %) the test set.  The split is identical on
    every call and machine.
``mnist``, ``fashion_mnist``
    28x28x1, 60000 train / 10000 test, uint8 pixels divided by 255.
``cifar10``, ``cifar100``
    32x32x3, 50000 train / 10000 test, uint8 pixels divided by 255;
    ``cifar100`` uses the 100 *fine* labels.

Lookup order for the downloadable datasets (first hit wins):

1. A data directory: the ``data_dir`` argument, else the environment variable
   ``LINKED_NEURONS_DATA`` (the argument wins; the variable is then ignored).
   Inside it the same layouts that the ``keras.datasets`` cache uses:

   * ``mnist.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``);
   * ``fashion-mnist/`` holding the four gzipped IDX files
     ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
     ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``;
   * ``cifar-10-batches-py/`` (pickles ``data_batch_1`` .. ``data_batch_5``,
     ``test_batch``), as extracted from ``cifar-10-python.tar.gz``;
   * ``cifar-100-python/`` (pickles ``train``, ``test``), as extracted from
     ``cifar-100-python.tar.gz``.

   The Keras 3 cache variants ``cifar-10-batches-py-target/cifar-10-batches-py/``
   and ``cifar-100-python-target/cifar-100-python/`` are accepted as well, so
   ``~/.keras/datasets`` itself can be used as the data directory.
2. ``fashion_mnist`` only: Debian's ``dataset-fashion-mnist`` package
   (``/usr/share/datasets/fashion-mnist/``, same four gzipped IDX files).
3. ``keras.datasets.<name>.load_data()`` (uses ``~/.keras/datasets`` or
   ``$KERAS_HOME/datasets`` and downloads into it if needed).  Pass
   ``download=False`` to skip this step.

If nothing works, :class:`DatasetUnavailableError` is raised with a one-line
message that says which files are expected and where to put them.

The module imports neither TensorFlow nor Keras at import time; Keras is
imported lazily, only for the download fallback.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import socket
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "DATASET_INFO",
    "DATA_ENV_VAR",
    "DEBIAN_FASHION_MNIST_DIR",
    "DatasetUnavailableError",
    "image_shape",
    "info",
    "load",
    "num_classes",
]

#: Names accepted by :func:`load`.
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100")

#: Environment variable naming the data directory (used when ``data_dir`` is None).
DATA_ENV_VAR = "LINKED_NEURONS_DATA"

#: Where Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: Static facts per dataset: image shape (H, W, C), number of classes and the
#: nominal split sizes.
DATASET_INFO = {
    "digits": {"image_shape": (8, 8, 1), "num_classes": 10,
               "num_train": 1437, "num_test": 360},
    "mnist": {"image_shape": (28, 28, 1), "num_classes": 10,
              "num_train": 60000, "num_test": 10000},
    "fashion_mnist": {"image_shape": (28, 28, 1), "num_classes": 10,
                      "num_train": 60000, "num_test": 10000},
    "cifar10": {"image_shape": (32, 32, 3), "num_classes": 10,
                "num_train": 50000, "num_test": 10000},
    "cifar100": {"image_shape": (32, 32, 3), "num_classes": 100,
                 "num_train": 50000, "num_test": 10000},
}

# Seed and test fraction of the deterministic ``digits`` split.
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2

# Per-socket-operation timeout (seconds) applied around the Keras download
# when the process has no default timeout of its own, so that a black-holed
# network cannot hang a run forever.
DOWNLOAD_SOCKET_TIMEOUT = 60.0

_FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_CIFAR100_FILES = ("train", "test")

# What to tell the user for each downloadable dataset: the entry expected in
# the data directory and where it comes from.
_EXPECTED = {
    "mnist": "mnist.npz (https://storage.googleapis.com/tensorflow/"
             "tf-keras-datasets/mnist.npz)",
    "fashion_mnist": "fashion-mnist/ with " + ", ".join(_FASHION_FILES),
    "cifar10": "cifar-10-batches-py/ (extracted from cifar-10-python.tar.gz)",
    "cifar100": "cifar-100-python/ (extracted from cifar-100-python.tar.gz)",
}


class DatasetUnavailableError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable (e.g. no network)."""


# ---------------------------------------------------------------------------
# Public helpers
# ---------------------------------------------------------------------------

def _check_name(name):
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; allowed values: {', '.join(DATASETS)}"
        )
    return name


def info(name):
    """Return a fresh dict ``{image_shape, num_classes, num_train, num_test}``."""
    return dict(DATASET_INFO[_check_name(name)])


def num_classes(name):
    """Number of classes of dataset ``name``."""
    return DATASET_INFO[_check_name(name)]["num_classes"]


def image_shape(name):
    """Image shape ``(H, W, C)`` of dataset ``name``."""
    return DATASET_INFO[_check_name(name)]["image_shape"]


def load(name, data_dir=None, *, download=True):
    """Load dataset ``name``.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: directory holding the raw files (see module docstring);
            defaults to ``$LINKED_NEURONS_DATA``.
        download: whether to fall back on ``keras.datasets.<name>.load_data()``
            (Keras cache, then network download).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``; ``x`` float32 NHWC in
        ``[0, 1]``, ``y`` int64 of shape ``(N,)``.

    Raises:
        ValueError: unknown ``name`` (or a malformed data file).
        DatasetUnavailableError: the data could not be found or downloaded.
    """
    _check_name(name)
    if name == "digits":
        return _load_digits()

    searched = []
    root = _resolve_data_dir(data_dir)
    if root is not None:
        searched.append(str(root))
        raw = _LOCAL_READERS[name](root)
        if raw is not None:
            return _finish(name, raw)

    if name == "fashion_mnist":
        debian = Path(DEBIAN_FASHION_MNIST_DIR)
        searched.append(str(debian))
        if _all_exist(debian, _FASHION_FILES):
            return _finish(name, _read_fashion_dir(debian))

    reason, cause = "download disabled", None
    if download:
        try:
            raw = _keras_load(name)
        except Exception as exc:  # keras raises a bare Exception on URL failure
            reason, cause = "keras download failed: " + _one_line(exc), exc
        else:
            return _finish(name, raw)

    raise DatasetUnavailableError(
        _unavailable_message(name, searched, reason)) from cause


# ---------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------

def _resolve_data_dir(data_dir):
    if data_dir is None:
        data_dir = os.environ.get(DATA_ENV_VAR) or None
    if data_dir is None:
        return None
    return Path(data_dir).expanduser()


def _one_line(exc, limit=200):
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unavailable_message(name, searched, reason):
    where = "; searched " + ", ".join(searched) if searched else ""
    msg = (
        f"dataset {name!r} is not available offline ({reason}{where}): "
        f"put {_EXPECTED[name]} in ${DATA_ENV_VAR} or pass data_dir=..."
    )
    if name == "fashion_mnist":
        msg += "; or apt-get install dataset-fashion-mnist"
    return msg


def _all_exist(directory, files):
    return all((directory / f).is_file() for f in files)


def _finish(name, raw):
    """Convert raw uint8 arrays to the public float32 NHWC / int64 format."""
    (x_train, y_train), (x_test, y_test) = raw
    h, w, c = DATASET_INFO[name]["image_shape"]

    def images(x):
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., None]
        elif x.ndim == 4 and x.shape[1] == c and x.shape[-1] != c:
            x = x.transpose(0, 2, 3, 1)  # channel-first -> NHWC
        if x.shape[1:] != (h, w, c):
            raise ValueError(
                f"dataset {name!r}: expected images of shape (N, {h}, {w}, {c}),"
                f" got {x.shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32) / np.float32(255.0)

    def labels(y, n):
        y = np.asarray(y).reshape(-1).astype(np.int64)
        if y.shape[0] != n:
            raise ValueError(
                f"dataset {name!r}: {n} images but {y.shape[0]} labels"
            )
        return y

    x_train, x_test = images(x_train), images(x_test)
    return ((x_train, labels(y_train, len(x_train))),
            (x_test, labels(y_test, len(x_test))))


def _digits_arrays():
    """(images 0..16 as (N, 8, 8), labels) of scikit-learn's digits.

    Reads the file that `sklearn.datasets.load_digits` reads, located through
    the installed distribution's metadata without importing scikit-learn
    (about half a second), so it also works where a training job keeps
    scikit-learn out of its process; falls back to `load_digits` itself if the
    file is not where it used to be.
    """
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution("scikit-learn")
    except importlib.metadata.PackageNotFoundError:  # an optional dependency
        raise ImportError("dataset 'digits' needs scikit-learn: pip install scikit-learn") from None
    path = Path(dist.locate_file("sklearn/datasets/data/digits.csv.gz"))
    if path.is_file():
        data = np.loadtxt(path, delimiter=",")
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def _load_digits():
    images, target = _digits_arrays()
    x = (images.astype(np.float32) / np.float32(16.0))[..., None]
    y = target.astype(np.int64)
    n = len(y)
    n_test = math.ceil(DIGITS_TEST_FRACTION * n)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(n)
    train, test = order[: n - n_test], order[n - n_test:]
    return ((np.ascontiguousarray(x[train]), y[train]),
            (np.ascontiguousarray(x[test]), y[test]))


# --- mnist.npz ---------------------------------------------------------------

def _local_mnist(root):
    path = root / "mnist.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


# --- gzipped IDX (Fashion-MNIST) --------------------------------------------

def _read_idx_gz(path, ndim):
    """Read a gzipped IDX file of unsigned bytes with ``ndim`` dimensions."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = 4 + 4 * ndim
    if len(data) < header or data[0] != 0 or data[1] != 0 or data[2] != 0x08 \
            or data[3] != ndim:
        raise ValueError(f"{path}: not a uint8 IDX file with {ndim} dimension(s)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big")
                  for i in range(ndim))
    count = math.prod(shape)
    if len(data) - header != count:
        raise ValueError(
            f"{path}: header says shape {shape} but holds {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_fashion_dir(d):
    x_train = _read_idx_gz(d / "train-images-idx3-ubyte.gz", 3)
    y_train = _read_idx_gz(d / "train-labels-idx1-ubyte.gz", 1)
    x_test = _read_idx_gz(d / "t10k-images-idx3-ubyte.gz", 3)
    y_test = _read_idx_gz(d / "t10k-labels-idx1-ubyte.gz", 1)
    return (x_train, y_train), (x_test, y_test)


def _local_fashion_mnist(root):
    d = root / "fashion-mnist"
    if not _all_exist(d, _FASHION_FILES):
        return None
    return _read_fashion_dir(d)


# --- CIFAR python pickles ----------------------------------------------------

_ALLOWED_PICKLE_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
})


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays (never runs arbitrary code)."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name} from a CIFAR batch file"
        )


def _read_cifar_batch(path, label_key):
    """Return ``(data (N, 3, 32, 32) uint8, labels (N,))`` from a CIFAR pickle."""
    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core alias
        d = _RestrictedUnpickler(f, encoding="bytes").load()
    d = {(k.decode("utf-8") if isinstance(k, bytes) else k): v
         for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise ValueError(f"{path}: CIFAR pickle lacks 'data' or {label_key!r}")
    data = np.asarray(d["data"], dtype=np.uint8)
    return data.reshape(data.shape[0], 3, 32, 32), np.asarray(d[label_key])


def _find_dir(root, name):
    for d in (root / name, root / f"{name}-target" / name):
        if d.is_dir():
            return d
    return None


def _local_cifar10(root):
    d = _find_dir(root, "cifar-10-batches-py")
    if d is None or not _all_exist(d, _CIFAR10_FILES):
        return None
    parts = [_read_cifar_batch(d / f"data_batch_{i}", "labels")
             for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return (x_train, y_train), _read_cifar_batch(d / "test_batch", "labels")


def _local_cifar100(root):
    d = _find_dir(root, "cifar-100-python")
    if d is None or not _all_exist(d, _CIFAR100_FILES):
        return None
    return (_read_cifar_batch(d / "train", "fine_labels"),
            _read_cifar_batch(d / "test", "fine_labels"))


_LOCAL_READERS = {
    "mnist": _local_mnist,
    "fashion_mnist": _local_fashion_mnist,
    "cifar10": _local_cifar10,
    "cifar100": _local_cifar100,
}


# --- Keras fallback ----------------------------------------------------------

def _keras_load(name):
    """``keras.datasets.<name>.load_data()`` with a per-socket timeout."""
    import keras  # lazy: importing keras pulls in the backend (slow)

    module = getattr(keras.datasets, name)
    kwargs = {"label_mode": "fine"} if name == "cifar100" else {}
    old_timeout = socket.getdefaulttimeout()
    if old_timeout is None:
        socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT)
    try:
        return module.load_data(**kwargs)
    finally:
        socket.setdefaulttimeout(old_timeout)
