"""Hostile or broken tables are refused in one short line, and whatever the
input, a command either fails in one line having written and deleted nothing,
or trains the run it was asked for (issue 21, point 4 and the property test).
"""

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from linked_neurons import cli
from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import Table

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_TABLE = ROOT / "linked_neurons_core" / "experiments.yaml"
# The package's defaults and its smallest experiment (no protocols: they name
# the other experiments).
_PACKAGE = yaml.safe_load(PACKAGE_TABLE.read_text())
SMALL_TABLE = {"activations": _PACKAGE["activations"], "activation_sets": _PACKAGE["activation_sets"],
               "defaults": _PACKAGE["defaults"], "experiments": {"width": _PACKAGE["experiments"]["width"]}}
SMALL_RUN = ["--set", "epochs=1", "--set", "max_train_samples=64"]
LONGEST_LINE = 500


def run_cli(*args, cwd):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "linked_neurons", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def refused(result):
    """The one error line of a refused command (and that it is one line)."""
    assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("linked-neurons:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert len(lines[0]) <= LONGEST_LINE, len(lines[0])
    return lines[0]


# --- the probes, through the command line ----------------------------------------


def test_an_alias_bomb_is_refused_at_once_in_one_short_line(tmp_path):
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for n, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[n]
        levels.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    # 9**9 boundaries in the experiment's own keys (the defaults' are overridden).
    text = yaml.safe_dump(SMALL_TABLE, sort_keys=False).replace(
        "  width:\n", "  width:\n    lr_boundaries: *i\n", 1)
    assert "lr_boundaries: *i" in text
    (tmp_path / "bomb.yaml").write_text("\n".join(levels) + "\n" + text)
    start = time.monotonic()
    line = refused(run_cli("--table", "bomb.yaml", "list", cwd=tmp_path))
    assert time.monotonic() - start < 60
    assert "bomb.yaml, line 2" in line and "alias (*a) is not allowed" in line


def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    text = yaml.safe_dump(SMALL_TABLE, sort_keys=False)
    text = text.replace("  width:\n", "  width:\n    epochs: 3\n    epochs: 4\n", 1)
    (tmp_path / "dup.yaml").write_text(text)
    first = text.splitlines().index("    epochs: 3") + 1
    line = refused(run_cli("--table", "dup.yaml", "list", cwd=tmp_path))
    assert f"dup.yaml, line {first + 1}: duplicate key 'epochs' (first at line {first})" in line


@pytest.mark.parametrize("text, what", [("", "empty"), ("- 1\n- 2\n", "a list"),
                                        ("just text\n", "a str"),
                                        ("activations: {relu: {label: ReLU, function: relu}}\n"
                                         "experiments: 5\n", "not of type"),
                                        ("experiments: {}\n", "'activations' is a required property")])
def test_a_table_that_is_not_a_mapping_of_experiments_is_one_line(tmp_path, text, what):
    (tmp_path / "t.yaml").write_text(text)
    line = refused(run_cli("--table", "t.yaml", "list", cwd=tmp_path))
    assert "t.yaml" in line and what in line


def test_long_culprits_are_cut(tmp_path):
    table = json.loads(json.dumps(SMALL_TABLE))
    table["experiments"]["width"]["optimizer"]["name"] = "x" * 100_000
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(table))
    line = refused(run_cli("--table", "long.yaml", "list", cwd=tmp_path))
    assert "optimizer/name" in line and "characters)" in line


def test_the_alias_bomb_costs_no_memory():
    text = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        with pytest.raises(ConfigError, match="alias"):
            Table(f.name)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


# --- the published values ---------------------------------------------------------


def load_published():
    from linked_neurons_core.analysis import published

    return published


@pytest.mark.parametrize("name, old, new, where", [
    ("width.csv", "0.5909", "0.59O9", "width.csv, line 2, column 'LK-ReLU': '0.59O9' is not a number"),
    ("depth.csv", "LK-ReLU,0.5667", "LK-RELU,0.5667",
     "depth.csv, line 3, column 'variant': unknown label 'LK-RELU'"),
    ("resnet50_nobatchnorm.csv", "2.09", "two", "line 3, column 'LK-ReLU BN': 'two' is not a number"),
    ("allcnn.csv", "ReLU,LK-ReLU", "ReLu,LK-ReLU", "allcnn.csv: column 'ReLu' is no activation's label"),
])
def test_a_bad_published_cell_is_named_by_file_line_and_column(tmp_path, name, old, new, where):
    published = load_published()
    for source in (ROOT / "paper" / "published").glob("*.csv"):
        (tmp_path / source.name).write_text(source.read_text())
    assert len(published.published_runs(tmp_path)) > 0
    path = tmp_path / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(published.PublishedValueError) as caught:
        published.published_runs(tmp_path)
    message = str(caught.value)
    assert where in message and str(path) in message and "\n" not in message


def test_the_rules_scripts_log_a_bad_published_cell_as_one_line(tmp_path, caplog):
    published = load_published()
    for source in (ROOT / "paper" / "published").glob("*.csv"):
        (tmp_path / source.name).write_text(source.read_text().replace("0.5909", "0.59O9"))
    with pytest.raises(SystemExit) as exit_:
        published.read_published(tmp_path)
    assert exit_.value.code == 1
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "width.csv, line 2, column 'LK-ReLU'" in record.getMessage()
    assert "\n" not in record.getMessage()


# --- the property: a one-line error having touched nothing, or the run asked for ------------

RUN_KEYS = ["dropout", "optimizer", "lr_boundaries", "batch_size", "filters", "activation",
            "dataset", "width_scale", "augment", "title", "seed", "normalization", "epochz"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=10**6), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from(["relu", "lkrelu", "digits", "batchnorm", 0.3, 16, [], [3], {"name": "adam"}]),
)


@st.composite
def tables(draw):
    """(text of a table, what was done to it): the small table, valid or broken."""
    table = json.loads(json.dumps(SMALL_TABLE))
    width = table["experiments"]["width"]
    kind = draw(st.sampled_from(["valid", "valid", "value", "value", "value", "variant",
                                 "duplicate", "alias", "huge", "shape"]))
    if kind == "value":
        width[draw(st.sampled_from(RUN_KEYS))] = draw(VALUES)
    elif kind == "variant":
        width["variants"].append(draw(st.fixed_dictionaries(
            {"name": st.one_of(st.text(max_size=6), st.sampled_from(["w{filters}", "{oops}"]))},
            optional={"grid": st.dictionaries(st.sampled_from(["activation", "filters"]),
                                              st.lists(VALUES, max_size=3), max_size=2),
                      "activation": VALUES})))
    elif kind == "huge":
        width["lr_boundaries"] = list(range(draw(st.integers(10_000, 50_000))))
    elif kind == "shape":
        return yaml.safe_dump(draw(st.one_of(VALUES, st.just({"experiments": VALUES})))), kind
    text = yaml.safe_dump(table, sort_keys=False)
    if kind == "duplicate":
        text = text.replace("  width:\n", "  width:\n    dropout: 0.1\n    dropout: 0.2\n", 1)
    elif kind == "alias":
        text = "x: &x [0.1, 0.2]\n" + text.replace("lr_boundaries: []", "lr_boundaries: *x")
    return text, kind


def snapshot(directory):
    """Every path under `directory`, with its content (files) or None (directories)."""
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(Path(directory).rglob("*"))}


def main(argv):
    """`linked-neurons ARGV` in this process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(argv)
        except SystemExit as exit:  # argparse's own errors
            status = exit.code
    return status, err.getvalue()


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=tables(),
       experiment=st.sampled_from(["width"] * 4 + ["depth"]),
       variant=st.sampled_from(["w50_relu"] * 3 + ["w400_lkrelu", "w50_relux"]),
       seed=st.one_of(st.integers(0, 200), st.integers(0, 2**32 - 1), st.integers(2**32, 2**40)),
       foreign=st.booleans(), replace=st.booleans())
def test_any_table_and_arguments_give_one_line_or_the_run_asked_for(
        table, experiment, variant, seed, foreign, replace):
    text, kind = table
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "table.yaml").write_text(text)
        out = tmp / "out" / "run"
        if foreign:
            (out / "checkpoint").mkdir(parents=True)
            (out / "checkpoint" / "notes.txt").write_text("mine")
            (out / "events.out.tfevents.1.elsewhere").write_bytes(b"theirs")
        before = snapshot(tmp)
        argv = ["--table", str(tmp / "table.yaml"), "train", experiment, variant,
                "--seed", str(seed), "--out", str(out), *SMALL_RUN, *(["--replace"] * replace)]
        status, err = main(argv)
        after = snapshot(tmp)
        event(f"{kind}: {'trained' if status == 0 else 'refused'}")
        if status != 0:
            lines = [line for line in err.splitlines() if line.startswith("linked-neurons:")]
            assert len(lines) == 1 and len(lines[0]) <= LONGEST_LINE, (kind, err[-2000:])
            assert after == before, (kind, lines)
            return
        metrics = json.loads((out / "metrics.json").read_text())
        assert (metrics["experiment"], metrics["variant"], metrics["seed"]) == (
            experiment, variant, seed)
        assert metrics["epochs_planned"] == 1 and metrics["epochs_run"] == 1
        for name, content in before.items():
            assert after.get(name, "missing") == content, name
