"""The experiment runner end to end: runs, event files, faults, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import Table
from linked_neurons_core.table import parse_overrides

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "epochs=2", "--set", "max_train_samples=256"]


def cli(*args, env=None, check=True, **kwargs):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "linked_neurons", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, **kwargs,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def scalars(run_dir):
    from tbparse import SummaryReader

    df = SummaryReader(str(run_dir)).scalars
    return {tag: group.sort_values("step") for tag, group in df.groupby("tag")}


def test_the_table_covers_the_paper_at_both_scales():
    table = Table()
    runs = list(table.runs("paper"))
    assert len(table.variants("depth")) == 14  # 13 of the paper + batch renorm
    assert {"relu", "lkrelu", "relu_sqrt2", "bn", "brn"} <= set(table.variants("depth"))
    assert len(table.variants("width")) == 16 and len(table.variants("allcnn")) == 24
    assert len(table.variants("input_shift")) == 24
    # Table 6's six of the paper and LK-SELU without its stem's BN (beyond the paper).
    assert table.variants("resnet50_nobn") == [
        "lkrelu_batchnorm", "lkrelu_none", "selu_batchnorm", "selu_none",
        "lkselu_batchnorm", "lkselu_none", "lkselu_nobnall",
    ]
    assert table.resolve("resnet50_nobn", "lkselu_none", "paper")["stem_normalization"] == "batchnorm"
    paper = table.resolve("allcnn", "lkrelu_step001", "paper")
    assert paper["dataset"] == "cifar10" and paper["epochs"] == 3000
    assert paper["optimizer"] == {
        "name": "sgd", "learning_rate": 0.001, "momentum": 0.9, "nesterov": True, "decay": 1e-6,
        "epsilon_style": "keras3",
    }
    assert table.resolve("depth", "relu_sqrt2", "paper")["width_multiplier"] == 2**0.5
    assert table.resolve("input_shift", "relu_shift40", "paper")["dataset"] == "mnist"
    assert all(seed == 100 for _, _, seed in runs)


def test_runs_that_train_alike_are_shared_and_nothing_else_is():
    table = Table()
    for scale in ("quick", "paper"):
        shared = {
            (e, v): table.trained_as(e, v, scale)
            for e in table.experiments for v in table.variants(e)
            if table.trained_as(e, v, scale) != (e, v)
        }
        # Table 6's BN networks are Table 5's; every other run is its own.
        assert shared == {
            ("resnet50_nobn", f"{a}_batchnorm"): ("resnet50", a) for a in ("lkrelu", "selu", "lkselu")
        }
    # An override that makes the two experiments differ unshares them.
    assert table.trained_as("resnet50_nobn", "selu_batchnorm", "quick", {"epochs": 2}) == ("resnet50", "selu")
    table.experiments["resnet50_nobn"]["scales"]["quick"]["epochs"] = 4
    table._shared.clear()
    assert table.trained_as("resnet50_nobn", "selu_batchnorm") == ("resnet50_nobn", "selu_batchnorm")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epochs": -1}, "epochs: -1 is less than the minimum"),
        ({"epoch": 3}, "unknown key 'epoch'"),
        ({"optimizer": {"lr": 0.1}}, "unknown key 'optimizer.lr'"),
        ({"activation": "relux"}, "unknown activation 'relux': use one of relu"),
        ({"dataset": "imagenet"}, "'imagenet' is not one of"),
    ],
)
def test_bad_overrides_are_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Table().resolve("depth", "relu", "quick", overrides)


def test_unknown_names_are_rejected():
    with pytest.raises(ConfigError, match="unknown experiment 'deep'.*depth"):
        Table().resolve("deep", "relu")
    with pytest.raises(ConfigError, match="unknown variant 'lk_relu' of depth.*lkrelu"):
        Table().resolve("depth", "lk_relu")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])
    assert parse_overrides(["epochs=3", "optimizer.learning_rate=0.1"]) == {
        "epochs": 3, "optimizer": {"learning_rate": 0.1},
    }


def test_cli_rejects_configuration_errors_before_training(tmp_path):
    for args in (
        ["train", "nope", "relu"],
        ["train", "depth", "relux"],
        ["train", "depth", "relu", "--set", "epochs=-2"],
        ["train", "depth", "relu", "--set", "epoch=2"],
    ):
        result = cli(*args, "--out", str(tmp_path / "run"), check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "error:" in result.stderr
        assert not (tmp_path / "run").exists()


def test_cli_lists_experiments_and_variants():
    out = cli("list", "depth").stdout
    assert out.startswith("depth: depth on digits")
    assert "  relu_sqrt2\n" in out and "  bn\n" in out
    assert "  selu_batchnorm  (trained as resnet50/selu)\n" in cli("list", "resnet50_nobn").stdout
    assert "input_shift" in cli("list").stdout


@pytest.mark.slow
def test_training_writes_metrics_events_and_config(tmp_path):
    runs = {
        "width": ("width", "w50_lkrelu", []),
        "depth": ("depth", "bn", ["--set", "depth=3"]),
    }
    for name, (experiment, variant, extra) in runs.items():
        out = tmp_path / name
        result = cli("train", experiment, variant, "--seed", "7", "--out", str(out), *TINY, *extra)
        assert "best val_accuracy" in result.stdout
        metrics = json.loads((out / "metrics.json").read_text())
        config = json.loads((out / "config.json").read_text())
        assert config["seed"] == 7 and config["epochs"] == 2 and config["variant"] == variant
        assert metrics["epochs_run"] == 2 and not metrics["diverged"]
        assert 0 <= metrics["best_val_accuracy"] <= 1
        assert metrics["params"] > 0 and metrics["median_epoch_seconds"] > 0
        # What it trained with: versions, code and configuration, device.
        env = metrics["environment"]
        assert env["backend"] == "jax" and env["keras"] and env["backend_versions"]["jax"]
        assert env["python"] and env["numpy"] and env["linked_neurons"]
        assert set(metrics["fingerprint"]) == {"config", "code"}
        assert metrics["device"].startswith("cpu") and metrics["wall_seconds"] >= 0
        assert all(d["units"] > 0 and 0 <= d["dead"] <= d["units"] for d in metrics["dead_units"].values())
        tags = scalars(out)
        assert set(tags) == {f"epoch/{t}" for t in
                             ("loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy",
                              "learning_rate", "seconds")}
        val = tags["epoch/val_accuracy"]
        assert list(val["step"]) == [1, 2]
        assert max(val["value"]) == pytest.approx(metrics["best_val_accuracy"])
        # The test accuracy reported is the one at the epoch validation chose.
        test = tags["epoch/test_accuracy"]
        best = list(val["value"]).index(max(val["value"]))
        assert metrics["test_accuracy"] == pytest.approx(list(test["value"])[best])
        assert list(val["value"])[-1] == pytest.approx(metrics["final_val_accuracy"])
    # Units of a linked layer are its pre-activation units (50 filters at the
    # quick scale's width), not its doubled output channels.
    width = json.loads((tmp_path / "width" / "metrics.json").read_text())
    scale = json.loads((tmp_path / "width" / "config.json").read_text())["width_scale"]
    assert list(width["dead_units"]) == ["act_01"]
    assert width["dead_units"]["act_01"]["units"] == int(50 * scale)
    depth = json.loads((tmp_path / "depth" / "metrics.json").read_text())
    assert len(depth["dead_units"]) == 4  # the stem and three 3x3 layers
    # Hyperparameters reach TensorBoard's HParams dashboard.
    from tbparse import SummaryReader

    hparams = SummaryReader(str(tmp_path / "depth")).hparams
    values = dict(zip(hparams["tag"], hparams["value"]))
    assert values["normalization"] == "batchnorm" and values["optimizer.name"] == "adam"
    # A finished run is not trained again.
    again = cli("train", "depth", "bn", "--seed", "7", "--out", str(tmp_path / "depth"), *TINY,
                "--set", "depth=3")
    assert "best val_accuracy" in again.stdout
    # The same directory with another configuration is refused.
    clash = cli("train", "depth", "bn", "--seed", "7", "--out", str(tmp_path / "depth"), *TINY,
                "--set", "depth=4", check=False)
    assert clash.returncode == 2 and "depth: 3 there, 4 now" in clash.stderr


def test_a_run_trains_on_the_torch_backend(tmp_path):
    """One step a call there (Keras's torch trainer allows no more)."""
    pytest.importorskip("torch")
    out = tmp_path / "run"
    cli("train", "width", "w50_lkrelu", "--out", str(out), *TINY, env={"KERAS_BACKEND": "torch"})
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "torch" and metrics["epochs_run"] == 2
    assert list(scalars(out)["epoch/val_accuracy"]["step"]) == [1, 2]


def test_the_pipeline_training_job_starts_lean(tmp_path):
    """The Snakemake job's entry trains a run without importing what a run
    never uses: each costs start-up time in every one of the ~100 jobs."""
    out = tmp_path / "run"
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['train.py', 'train', 'width', 'w50_relu', '--out', {str(out)!r}, "
        f"{', '.join(map(repr, TINY))}]\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / 'workflow/scripts/train.py')!r}, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(sorted(m for m in ('tensorflow', 'sklearn', 'matplotlib', 'pandas', 'torch')"
        " if sys.modules.get(m)))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 2


@pytest.mark.slow
def test_a_diverging_run_is_recorded_and_exits_zero(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "width", "w50_swish", "--out", str(out), *TINY,
                 "--set", "epochs=5", "--set", "optimizer.learning_rate=1e30")
    assert result.stdout.startswith("diverged")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["diverged"] and metrics["epochs_run"] < 5
    # The epoch whose loss is not finite does not count: its accuracy was
    # computed with weights that are not numbers.
    assert metrics["diverged_epoch"] == metrics["epochs_run"]
    counted = [r for r in metrics["history"] if r["epoch"] < metrics["diverged_epoch"]]
    assert metrics["best_val_accuracy"] == (max(r["val_accuracy"] for r in counted) if counted else None)
    assert metrics["convergence"]["converged"] is False


def test_a_missing_dataset_offline_names_dataset_and_file(tmp_path):
    env = {"LINKED_NEURONS_DATA": str(tmp_path / "data"), "HOME": str(tmp_path),
           "KERAS_HOME": str(tmp_path / "keras")}
    result = cli("train", "width", "w50_relu", "--out", str(tmp_path / "run"),
                 "--set", "dataset=cifar10", "--set", "image_size=null", env=env, check=False)
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert "'cifar10'" in message and "cifar-10-batches-py" in message
    assert "LINKED_NEURONS_DATA" in message
    assert not (tmp_path / "run" / "metrics.json").exists()


def _compiled_model(config, x):
    import keras

    from linked_neurons.experiments.models import build_model
    from linked_neurons.experiments.optimizers import make_optimizer

    keras.utils.set_random_seed(3)
    model = build_model(config, x.shape[1:], 10)
    model.compile(optimizer=make_optimizer(config, len(x) // 32), jit_compile=True,
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_the_scan_loop_trains_like_fit():
    import keras
    import numpy as np

    from linked_neurons.experiments.loop import EpochRunner

    if keras.backend.backend() != "jax":
        pytest.skip("the scan loop is jax's")
    # SGD: Adam's normalized steps would turn float noise in near-zero
    # gradients into learning-rate-sized weight differences.
    config = Table().resolve("depth", "bn", overrides={"depth": 2, "optimizer": {"name": "sgd"}})
    config["seed"] = 3
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(128, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 10, size=128)
    order = rng.permutation(128)
    logs = {}
    for scan in (False, True):
        model = _compiled_model(config, x)
        runner = EpochRunner(model, x, y, 32, scan=scan)
        logs[scan] = [runner.run(order), runner.run(order[::-1])]
        logs[scan].append([np.asarray(w) for w in model.get_weights()])
    for a, b in zip(logs[False][:2], logs[True][:2]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["accuracy"] == pytest.approx(b["accuracy"])
    for a, b in zip(logs[False][2], logs[True][2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("experiment, variant, overrides, exact", [
    ("depth", "bn", {"depth": 2}, True),  # BN's moving statistics, Adam
    ("resnet50", "relu", {"width_scale": 0.25}, True),  # residual blocks, BN, Adam with decay
    # Table 6's timed networks (their exclusive jobs call fit, the others pack)
    ("resnet50_nobn", "lkselu_none", {"width_scale": 0.25}, True),
    ("allcnn", "lkrelu_fixed", {}, True),  # dropout's random state, SGD with momentum
    # XLA compiles the packed step as another program than fit's: here it
    # rounds one weight of the first convolution 1 ulp apart within 8 steps.
    ("allcnn", "prelu_fixed", {}, False),
])
def test_the_jax_runner_trains_like_fit(experiment, variant, overrides, exact):
    """The runner's packed-state steps (loop.py) are `model.fit`'s steps: the
    same losses, weights, optimizer and random states over spans that split an
    epoch; to the bit where XLA rounds both programs alike, and to float
    rounding where it does not."""
    import keras
    import numpy as np

    from linked_neurons.experiments.loop import EpochRunner

    if keras.backend.backend() != "jax":
        pytest.skip("other backends' runner calls model.fit itself")
    config = Table().resolve(experiment, variant, overrides=overrides)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(128, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=128)
    order = rng.permutation(128)
    spans = [(0, 1), (1, 4), (0, 4)]  # a split epoch, then a whole one
    fitted = _compiled_model(config, x)
    expected = [fitted.fit(x[order[a * 32:b * 32]], y[order[a * 32:b * 32]], batch_size=32,
                           epochs=1, shuffle=False, verbose=0).history for a, b in spans]
    expected = [{key: values[-1] for key, values in h.items()} for h in expected]
    runner = EpochRunner(_compiled_model(config, x), x, y, 32)
    assert runner.packed
    got = [runner.run(order, a, b) for a, b in spans]
    assert got[0]["loss"] != got[1]["loss"]
    assert int(runner.model.optimizer.iterations.value) == 8
    pairs = list(zip(fitted.variables + fitted.optimizer.variables,
                     runner.model.variables + runner.model.optimizer.variables))
    if exact:
        assert got == expected
        for a, b in pairs:
            np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value), err_msg=a.path)
    else:
        assert [{k: pytest.approx(v, rel=1e-6) for k, v in e.items()} for e in expected] == got
        unequal = 0
        for a, b in pairs:
            np.testing.assert_allclose(np.asarray(b.value), np.asarray(a.value), rtol=1e-6, atol=1e-9,
                                       err_msg=a.path)
            unequal += not np.array_equal(np.asarray(a.value), np.asarray(b.value))
        assert unequal  # else: exact, and this case belongs with the others


def test_mixed_precision_trains_every_layer_kind():
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 10, size=64)
    try:
        for variant in ("lkprelu", "brn", "lkswish"):
            config = Table().resolve("depth", variant, overrides={"depth": 2, "precision": "mixed_bfloat16"})
            keras.config.set_dtype_policy(config["precision"])
            model = _compiled_model(config, x)
            assert model.layers[3].compute_dtype == "bfloat16"
            assert model.output.dtype == "float32"
            loss = model.fit(x, y, batch_size=32, epochs=2, verbose=0).history["loss"]
            assert all(np.isfinite(loss))
    finally:
        keras.config.set_dtype_policy("float32")
