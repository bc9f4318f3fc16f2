"""Tests for linked_neurons_core.datasets.

Every on-disk format is exercised with tiny files written here in the real
layout (mnist.npz, gzipped IDX, CIFAR python pickles); no test touches the
network: the Keras download fallback is monkeypatched.
"""

import gzip
import os
import pickle
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from linked_neurons_core import datasets as ds

_REAL_KERAS_LOAD = ds._keras_load

# ---------------------------------------------------------------------------
# Writers for the real formats
# ---------------------------------------------------------------------------


def _images(rng, n, shape):
    x = rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8)
    x.flat[0] = 0
    x.flat[-1] = 255
    return x


def write_mnist_npz(root, n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": _images(rng, n_train, (28, 28)),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": _images(rng, n_test, (28, 28)),
        "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(root / "mnist.npz", **arrays)
    return arrays


def write_idx_gz(path, array):
    """Write a uint8 array as a gzipped IDX file (magic 0x00000803 etc.)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_fashion_dir(d, n_train=5, n_test=3, seed=1):
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": _images(rng, n_train, (28, 28)),
        "y_train": (np.arange(n_train) * 3 % 10).astype(np.uint8),
        "x_test": _images(rng, n_test, (28, 28)),
        "y_test": (np.arange(n_test) + 7).astype(np.uint8) % 10,
    }
    d.mkdir(parents=True, exist_ok=True)
    write_idx_gz(d / "train-images-idx3-ubyte.gz", arrays["x_train"])
    write_idx_gz(d / "train-labels-idx1-ubyte.gz", arrays["y_train"])
    write_idx_gz(d / "t10k-images-idx3-ubyte.gz", arrays["x_test"])
    write_idx_gz(d / "t10k-labels-idx1-ubyte.gz", arrays["y_test"])
    return arrays


def _cifar_rows(rng, n):
    """(n, 3072) uint8 rows: 1024 R, then 1024 G, then 1024 B, row-major."""
    rows = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    rows[0, 0] = 0
    rows[-1, -1] = 255
    return rows


def _dump(path, obj):
    # The originals are Python-2 cPickle protocol-2 files with bytes keys.
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10_dir(d, per_batch=2, n_test=3, seed=2):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    data, labels = [], []
    for i in range(1, 6):
        rows = _cifar_rows(rng, per_batch)
        lab = [int(v) for v in rng.integers(0, 10, per_batch)]
        _dump(d / f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": lab,
            b"data": rows,
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(per_batch)],
        })
        data.append(rows)
        labels += lab
    test_rows = _cifar_rows(rng, n_test)
    test_labels = [9, 0, 5][:n_test]
    _dump(d / "test_batch", {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": test_labels,
        b"data": test_rows,
        b"filenames": [f"test_{j}.png".encode() for j in range(n_test)],
    })
    return np.concatenate(data), np.array(labels), test_rows, np.array(test_labels)


def write_cifar100_dir(d, n_train=4, n_test=3, seed=3):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for split, n, fine in (("train", n_train, [0, 99, 42, 7]),
                           ("test", n_test, [99, 1, 50])):
        rows = _cifar_rows(rng, n)
        fine = fine[:n]
        _dump(d / split, {
            b"filenames": [f"{split}_{j}.png".encode() for j in range(n)],
            b"batch_label": f"{split} batch 1 of 1".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": rows,
        })
        out += [rows, np.array(fine)]
    return out


# ---------------------------------------------------------------------------
# Fixtures and checks
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No env var, no Debian dir, empty HOME/KERAS_HOME, no real download."""
    monkeypatch.delenv(ds.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST_DIR",
                        str(tmp_path / "no-debian" / "fashion-mnist"))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(home / ".keras"))

    def no_download(name):
        raise AssertionError(f"unexpected keras download of {name!r}")

    monkeypatch.setattr(ds, "_keras_load", no_download)


def check_split(split, n, image_shape, classes):
    x, y = split
    assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    assert x.shape == (n,) + image_shape
    assert x.dtype == np.float32
    assert y.shape == (n,)
    assert y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.min() >= 0 and y.max() < classes


def check_dataset(name, data, n_train, n_test):
    meta = ds.info(name)
    (train, test) = data
    check_split(train, n_train, meta["image_shape"], meta["num_classes"])
    check_split(test, n_test, meta["image_shape"], meta["num_classes"])


def check_arrays(data, arrays):
    """Loaded grayscale images are the written uint8 ones / 255, labels equal."""
    (x_train, y_train), (x_test, y_test) = data
    for x, key in ((x_train, "x_train"), (x_test, "x_test")):
        np.testing.assert_allclose(x[..., 0], arrays[key] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_train, arrays["y_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def chw_rows_to_nhwc(rows):
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------------------
# Metadata and name validation
# ---------------------------------------------------------------------------


def test_metadata():
    assert ds.DATASETS == ("digits", "mnist", "fashion_mnist", "cifar10",
                           "cifar100")
    assert set(ds.DATASET_INFO) == set(ds.DATASETS)
    assert ds.num_classes("cifar100") == 100
    assert ds.num_classes("mnist") == 10
    assert ds.image_shape("cifar10") == (32, 32, 3)
    assert ds.image_shape("digits") == (8, 8, 1)
    meta = ds.info("fashion_mnist")
    meta["num_classes"] = -1  # a copy: the module table is unchanged
    assert ds.num_classes("fashion_mnist") == 10


@pytest.mark.parametrize("fn", [ds.load, ds.num_classes, ds.info,
                                ds.image_shape])
def test_unknown_name_raises_value_error_listing_allowed(fn):
    with pytest.raises(ValueError) as err:
        fn("imagenet")
    msg = str(err.value)
    assert "imagenet" in msg
    for name in ds.DATASETS:
        assert name in msg


def test_module_does_not_import_tensorflow_or_keras_at_top_level():
    source = Path(ds.__file__).read_text()
    top = [line for line in source.splitlines()
           if line.startswith(("import ", "from "))]
    assert not any("tensorflow" in line or "keras" in line for line in top)
    assert "import tensorflow" not in source


# ---------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------


def test_digits_offline_shapes_and_determinism():
    pytest.importorskip("sklearn")
    data = ds.load("digits")
    check_dataset("digits", data, 1437, 360)
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.max() == 1.0 and x_test.min() == 0.0
    # 16 -> 1.0, so values are multiples of 1/16.
    np.testing.assert_array_equal(x_train * 16, np.round(x_train * 16))
    assert set(np.unique(y_train)) == set(range(10))
    assert set(np.unique(y_test)) == set(range(10))
    (x2, y2), (xt2, yt2) = ds.load("digits")
    np.testing.assert_array_equal(x_train, x2)
    np.testing.assert_array_equal(y_test, yt2)


def test_digits_split_is_the_documented_one():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sklearn_datasets.load_digits()
    order = np.random.default_rng(0).permutation(1797)
    (x_train, y_train), (x_test, y_test) = ds.load("digits")
    np.testing.assert_array_equal(y_train, bunch.target[order[:1437]])
    np.testing.assert_array_equal(y_test, bunch.target[order[1437:]])
    np.testing.assert_allclose(x_test[..., 0], bunch.images[order[1437:]] / 16)


def test_digits_ignores_data_dir(tmp_path):
    pytest.importorskip("sklearn")
    (x, _), _ = ds.load("digits", data_dir=tmp_path / "nothing")
    assert x.shape == (1437, 8, 8, 1)


# ---------------------------------------------------------------------------
# mnist.npz
# ---------------------------------------------------------------------------


def test_mnist_npz(tmp_path):
    arrays = write_mnist_npz(tmp_path)
    data = ds.load("mnist", data_dir=tmp_path)
    check_dataset("mnist", data, 6, 4)
    check_arrays(data, arrays)
    (x_train, _), _ = data
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_data_dir_accepts_str(tmp_path):
    write_mnist_npz(tmp_path)
    (x, _), _ = ds.load("mnist", data_dir=str(tmp_path))
    assert x.shape == (6, 28, 28, 1)


def test_env_var_is_honoured(tmp_path, monkeypatch):
    write_mnist_npz(tmp_path / "env", n_train=3)
    monkeypatch.setenv(ds.DATA_ENV_VAR, str(tmp_path / "env"))
    (x, _), _ = ds.load("mnist")
    assert x.shape == (3, 28, 28, 1)


def test_data_dir_wins_over_env_var(tmp_path, monkeypatch):
    write_mnist_npz(tmp_path / "env", n_train=3)
    write_mnist_npz(tmp_path / "arg", n_train=7)
    monkeypatch.setenv(ds.DATA_ENV_VAR, str(tmp_path / "env"))
    (x, _), _ = ds.load("mnist", data_dir=tmp_path / "arg")
    assert x.shape == (7, 28, 28, 1)


def test_empty_env_var_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv(ds.DATA_ENV_VAR, "")
    monkeypatch.chdir(tmp_path)
    write_mnist_npz(tmp_path)  # must not be found via the cwd
    with pytest.raises(ds.DatasetUnavailableError):
        ds.load("mnist", download=False)


# ---------------------------------------------------------------------------
# Fashion-MNIST (gzipped IDX)
# ---------------------------------------------------------------------------


def test_fashion_mnist_idx(tmp_path):
    arrays = write_fashion_dir(tmp_path / "fashion-mnist")
    data = ds.load("fashion_mnist", data_dir=tmp_path)
    check_dataset("fashion_mnist", data, 5, 3)
    check_arrays(data, arrays)


def test_fashion_mnist_from_debian_location(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share" / "fashion-mnist"
    write_fashion_dir(debian, n_train=4)
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST_DIR", str(debian))
    (x, _), _ = ds.load("fashion_mnist")
    assert x.shape == (4, 28, 28, 1)
    # A data directory that has the files wins over the Debian copy.
    write_fashion_dir(tmp_path / "data" / "fashion-mnist", n_train=2)
    (x, _), _ = ds.load("fashion_mnist", data_dir=tmp_path / "data")
    assert x.shape == (2, 28, 28, 1)
    # A data directory without them falls through to the Debian copy.
    (x, _), _ = ds.load("fashion_mnist", data_dir=tmp_path / "empty")
    assert x.shape == (4, 28, 28, 1)


def test_corrupt_idx_raises_value_error(tmp_path):
    d = tmp_path / "fashion-mnist"
    write_fashion_dir(d)
    with gzip.open(d / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", 5, 28, 28) + b"\x01")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        ds.load("fashion_mnist", data_dir=tmp_path)


@pytest.mark.skipif(
    not all(Path("/usr/share/datasets/fashion-mnist", f).is_file()
            for f in ds._FASHION_FILES),
    reason="Debian package dataset-fashion-mnist is not installed "
           "(apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_debian_package(monkeypatch):
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST_DIR",
                        "/usr/share/datasets/fashion-mnist")
    data = ds.load("fashion_mnist")
    check_dataset("fashion_mnist", data, 60000, 10000)
    (x_train, y_train), (x_test, y_test) = data
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.min() == 0.0 and x_train.max() == 1.0


# ---------------------------------------------------------------------------
# CIFAR pickles
# ---------------------------------------------------------------------------


def test_cifar10_pickles(tmp_path):
    x_rows, y, xt_rows, yt = write_cifar10_dir(tmp_path / "cifar-10-batches-py")
    data = ds.load("cifar10", data_dir=tmp_path)
    check_dataset("cifar10", data, 10, 3)
    (x_train, y_train), (x_test, y_test) = data
    np.testing.assert_array_equal(y_train, y)
    np.testing.assert_array_equal(y_test, yt)
    np.testing.assert_allclose(x_train, chw_rows_to_nhwc(x_rows) / 255.0,
                               rtol=1e-6)
    np.testing.assert_allclose(x_test, chw_rows_to_nhwc(xt_rows) / 255.0,
                               rtol=1e-6)
    # Channel order spot check: red of pixel (0, 1) is byte 1, green 1025.
    assert x_train[0, 0, 1, 0] == np.float32(x_rows[0, 1] / 255.0)
    assert x_train[0, 0, 1, 1] == np.float32(x_rows[0, 1025] / 255.0)
    assert x_train[0, 0, 1, 2] == np.float32(x_rows[0, 2049] / 255.0)


def test_cifar10_keras3_cache_layout(tmp_path):
    write_cifar10_dir(
        tmp_path / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    (x, _), _ = ds.load("cifar10", data_dir=tmp_path)
    assert x.shape == (10, 32, 32, 3)


def test_cifar100_fine_labels(tmp_path):
    x_rows, y, xt_rows, yt = write_cifar100_dir(tmp_path / "cifar-100-python")
    data = ds.load("cifar100", data_dir=tmp_path)
    check_dataset("cifar100", data, 4, 3)
    (x_train, y_train), (x_test, y_test) = data
    np.testing.assert_array_equal(y_train, [0, 99, 42, 7])
    np.testing.assert_array_equal(y_test, [99, 1, 50])
    np.testing.assert_allclose(x_test, chw_rows_to_nhwc(xt_rows) / 255.0,
                               rtol=1e-6)


def test_cifar100_env_var(tmp_path, monkeypatch):
    write_cifar100_dir(tmp_path / "cifar-100-python")
    monkeypatch.setenv(ds.DATA_ENV_VAR, str(tmp_path))
    (_, y), _ = ds.load("cifar100")
    assert y.tolist() == [0, 99, 42, 7]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_pickle_with_arbitrary_code_is_refused(tmp_path):
    d = tmp_path / "cifar-100-python"
    write_cifar100_dir(d)
    _dump(d / "train", {b"data": _Evil(), b"fine_labels": [0]})
    with pytest.raises(pickle.UnpicklingError):
        ds.load("cifar100", data_dir=tmp_path)


# ---------------------------------------------------------------------------
# Missing data: Keras fallback and the clear error
# ---------------------------------------------------------------------------

EXPECTED_FILE = {
    "mnist": "mnist.npz",
    "fashion_mnist": "train-images-idx3-ubyte.gz",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FILE))
def test_missing_dataset_without_network_raises_clear_error(
        name, tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    # Use the real keras fallback (not the autouse stub) ...
    monkeypatch.setattr(ds, "_keras_load", _REAL_KERAS_LOAD)
    seen = {}

    def failed_download(*args, **kwargs):  # ... and make keras' own fail
        seen["timeout"] = socket.getdefaulttimeout()
        raise Exception(
            "URL fetch failure on https://example.invalid/x: None -- "
            "[Errno -2] Name or service not known")

    monkeypatch.setattr(getattr(keras.datasets, name), "load_data",
                        failed_download)
    before = socket.getdefaulttimeout()
    with pytest.raises(ds.DatasetUnavailableError) as err:
        ds.load(name, data_dir=tmp_path / "empty")
    msg = str(err.value)
    assert "\n" not in msg
    assert repr(name) in msg
    assert EXPECTED_FILE[name] in msg
    assert ds.DATA_ENV_VAR in msg and "data_dir" in msg
    assert "Name or service not known" in msg
    assert ("apt-get install dataset-fashion-mnist" in msg) == (
        name == "fashion_mnist")
    assert isinstance(err.value, FileNotFoundError)
    assert isinstance(err.value.__cause__, Exception)
    # The download ran under a finite socket timeout, restored afterwards.
    assert seen["timeout"] == ds.DOWNLOAD_SOCKET_TIMEOUT
    assert socket.getdefaulttimeout() == before


def test_download_false_never_calls_keras(tmp_path):
    # The autouse fixture makes any keras call fail the test.
    with pytest.raises(ds.DatasetUnavailableError, match="cifar10"):
        ds.load("cifar10", data_dir=tmp_path, download=False)


def test_data_dir_wins_even_when_it_lacks_files(tmp_path, monkeypatch):
    write_mnist_npz(tmp_path / "env")
    monkeypatch.setenv(ds.DATA_ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(ds.DatasetUnavailableError, match="mnist.npz"):
        ds.load("mnist", data_dir=tmp_path / "arg", download=False)


@pytest.mark.parametrize("channels_first", [False, True])
def test_keras_fallback_result_is_converted(tmp_path, monkeypatch,
                                            channels_first):
    rng = np.random.default_rng(4)
    x = _images(rng, 5, (32, 32, 3))
    xt = _images(rng, 2, (32, 32, 3))
    y = np.arange(5, dtype=np.uint8).reshape(5, 1)
    yt = np.array([[3], [4]], dtype=np.uint8)

    def fake_keras_load(name):
        assert name == "cifar10"
        if channels_first:
            return ((x.transpose(0, 3, 1, 2), y), (xt.transpose(0, 3, 1, 2), yt))
        return (x, y), (xt, yt)

    monkeypatch.setattr(ds, "_keras_load", fake_keras_load)
    data = ds.load("cifar10", data_dir=tmp_path)
    check_dataset("cifar10", data, 5, 2)
    (x_train, y_train), (x_test, y_test) = data
    np.testing.assert_allclose(x_train, x / 255.0, rtol=1e-6)
    assert y_train.tolist() == [0, 1, 2, 3, 4]
    assert y_test.tolist() == [3, 4]
