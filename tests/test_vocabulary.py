"""The activations are data (the experiment table's `activations`): a user's
own activation trains, and gets its column, without an edit of the project;
no activation name is written in the code that runs the experiments."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from linked_neurons_core.analysis import names as naming
from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import Table
from linked_neurons_core.vocabulary import Vocabulary

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_TABLE = ROOT / "linked_neurons_core" / "experiments.yaml"
PACKAGE = yaml.safe_load(PACKAGE_TABLE.read_text())
NAMES = list(PACKAGE["activations"])

# A user's activation, in a module of their own (written by the tests).
MODULE = textwrap.dedent('''
    import keras

    @keras.saving.register_keras_serializable(package="mine")
    def softsign_plus(x):
        return keras.ops.softsign(x) + 0.1 * x
''')


def own_table(tmp_path, experiments=("width",)):
    """The package's table with GELU, LK-GELU and a linked activation of the
    user's module added to the width grid (and nowhere else), and `shallow`,
    an experiment of the user's, in `experiments`."""
    (tmp_path / "mine_acts.py").write_text(MODULE)
    raw = yaml.safe_load(PACKAGE_TABLE.read_text())
    raw["activations"]["mine"] = {"label": "Mine", "function": "mine_acts:softsign_plus"}
    raw["activations"]["lkmine"] = {"label": "LK-Mine", "base": "mine", "policy": "mirror"}
    raw["activations"]["gelu"] = {"label": "GELU", "function": "gelu"}
    raw["activations"]["lkgelu"] = {"label": "LK-GELU", "base": "gelu"}
    width = raw["experiments"]["width"]["variants"][0]
    width["grid"]["activation"] = [*raw["activation_sets"]["paper"], "gelu", "lkgelu", "mine",
                                   "lkmine"]
    # A user's experiment: a shallow plain network, GELU against LK-GELU.
    raw["experiments"]["shallow"] = {
        "title": "A shallow plain network (a user's experiment)", "architecture": "depth",
        "dataset": "digits", "image_size": 16, "depth": 2, "filters": 4, "epochs": 2,
        "batch_size": 32, "seeds": [100], "variants": [{"name": "{activation}",
                                                        "grid": {"activation": ["gelu", "lkgelu"]}}]}
    raw["experiments"] = {e: raw["experiments"][e] for e in experiments}
    raw.pop("protocols", None)  # its rules name the other experiments
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_the_package_table_names_every_activation_once_with_its_label():
    vocabulary = Vocabulary.from_table()
    assert vocabulary.labels()["lkprelu"] == "LK-PReLU"
    assert vocabulary.bases() == ["relu", "prelu", "selu", "swish"]
    assert [n for n in NAMES if vocabulary.is_linked(n)] == ["lkrelu", "lkprelu", "lkselu", "lkswish"]
    assert PACKAGE["activation_sets"]["paper"] == NAMES


def test_a_users_activation_adds_runs_only_where_its_table_asks(tmp_path):
    table = Table(own_table(tmp_path, experiments=("width", "depth")))
    width = table.variants("width")
    assert {"w50_gelu", "w400_lkgelu", "w50_lkmine"} <= set(width)
    assert len(width) == 2 * 12
    assert len(table.variants("depth")) == len(Table().variants("depth"))
    config = table.resolve("width", "w50_lkgelu")
    assert config["activations"] == {"lkgelu": {"base": "gelu"}, "gelu": {"function": "gelu"}}


def test_an_edit_of_an_activation_entry_is_another_run(tmp_path):
    path = own_table(tmp_path)
    before = Table(path).resolve("width", "w50_lkgelu")
    raw = yaml.safe_load(path.read_text())
    raw["activations"]["lkgelu"]["policy"] = "minmax"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    after = Table(path).resolve("width", "w50_lkgelu")
    from linked_neurons_core.table import config_digest

    assert config_digest(before) != config_digest(after)
    del raw["activations"]["lkgelu"]["policy"]
    raw["activations"]["lkgelu"]["label"] = "LK GELU"  # a label names, it is not the run
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert config_digest(Table(path).resolve("width", "w50_lkgelu")) == config_digest(before)


def test_users_activations_build_single_and_linked_layers(tmp_path, monkeypatch):
    import keras
    import numpy as np

    from linked_neurons.experiments import models

    monkeypatch.syspath_prepend(str(tmp_path))
    table = Table(own_table(tmp_path))
    x = np.linspace(-3, 3, 2 * 6 * 6 * 3, dtype="float32").reshape(2, 6, 6, 3)
    mine = models.activation_layer(table.resolve("width", "w50_mine"), "mine")
    linked = models.activation_layer(table.resolve("width", "w50_lkmine"), "lkmine")
    expected = x / (1 + np.abs(x)) + 0.1 * x
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mine(x)), expected, rtol=1e-6)
    out = keras.ops.convert_to_numpy(linked(x))
    assert out.shape == (2, 6, 6, 6)  # linked: twice the channels, f(x) and f(-x)
    np.testing.assert_allclose(out[..., :3], expected, rtol=1e-6)
    np.testing.assert_allclose(out[..., 3:], -x / (1 + np.abs(x)) - 0.1 * x, rtol=1e-6)


@pytest.mark.parametrize("entry, message", [
    ({"base": "relu", "layer": "linked_neurons:LKReLU"}, "give it a `label`"),
    ({"label": "X"}, "give it one of `layer`"),
    ({"label": "X", "layer": "a:B", "function": "relu"}, "give it one of `layer`"),
    ({"label": "X", "base": "nope"}, "its base 'nope' is not an activation of the table"),
    ({"label": "X", "base": "lkrelu"}, "its base 'lkrelu' must be a single activation"),
    ({"label": "X", "base": "prelu"}, "'prelu' has none: give this entry a layer"),
    ({"label": "X", "function": "relu", "colour": 1}, "unknown key 'colour'"),
    ({"label": "X", "base": "selu", "policy": "both"}, "policy 'both': use one of mirror, minmax"),
])
def test_a_bad_activation_entry_is_one_line_naming_it(tmp_path, entry, message):
    raw = yaml.safe_load(PACKAGE_TABLE.read_text())
    raw["activations"]["bad"] = entry
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as caught:
        Table(path)
    assert "activations.bad" in str(caught.value) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_activation_or_set_says_what_to_use(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown activation 'gelu': use one of relu, lkrelu.*"
                                          r"or add it to the table's `activations`"):
        Table().resolve("width", "w50_relu", overrides={"activation": "gelu"})
    raw = yaml.safe_load(PACKAGE_TABLE.read_text())
    raw["experiments"]["width"]["variants"][0]["grid"]["activation"] = "papers"
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="'papers' is no activation set: use a list or one of paper"):
        Table(tmp_path / "t.yaml")


def test_an_unimportable_layer_is_named():
    from linked_neurons.experiments import models

    config = {"activations": {"x": {"layer": "no_such_module:Layer"}}}
    with pytest.raises(ConfigError, match="activation 'x': cannot import 'no_such_module'"):
        models.activation_layer(config, "x")


def _strings(node, key=None):
    """Every string of a YAML document but its descriptions."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "description":
                yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield node


def test_no_activation_name_is_written_in_the_code_that_runs_the_experiments():
    """The table is the only list: the trainer, the schemas and the workflow
    read names from it (the layer library, linked_neurons/layers, is what the
    table's entries point at, and is not searched)."""
    code = [*(ROOT / "linked_neurons" / "experiments").glob("*.py"),
            *(ROOT / "linked_neurons_core").glob("**/*.py"),
            *(ROOT / "workflow" / "scripts").glob("*.py"),
            *(ROOT / "workflow" / "rules").glob("*.smk"), ROOT / "Snakefile"]
    quoted = re.compile(r"""["'](%s)["']""".replace("%s", "|".join(map(re.escape, NAMES))))
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in code for number, line in enumerate(path.read_text().splitlines(), 1)
             if quoted.search(line)]
    assert ROOT / "linked_neurons_core" / "analysis" / "tables.py" in code
    schemas = [*(ROOT / "linked_neurons_core").glob("*.schema.yaml"),
               *(ROOT / "workflow" / "schemas").glob("*.yaml")]
    found += [f"{path.relative_to(ROOT)}: {value}" for path in schemas
              for value in _strings(yaml.safe_load(path.read_text())) if value in NAMES]
    assert not found, "activation names outside the table:\n" + "\n".join(found)


def test_no_experiment_name_is_written_in_the_analysis():
    """The tables, units, published values, claims and labels read each
    experiment's layout from the table: no analysis code tests for an
    experiment's name (the prose's template, paper.tex.j2, is about them)."""
    experiments = list(PACKAGE["experiments"])
    code = [*(ROOT / "linked_neurons_core" / "analysis").glob("*.py"),
            *(ROOT / "workflow" / "scripts").glob("*.py")]
    assert len(code) > 10 and ROOT / "linked_neurons_core" / "analysis" / "claims.py" in code
    quoted = re.compile(r"""["'](%s)["']""".replace("%s", "|".join(map(re.escape, experiments))))
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in code for number, line in enumerate(path.read_text().splitlines(), 1)
             if quoted.search(line)]
    assert not found, "experiment names outside the table:\n" + "\n".join(found)


@pytest.mark.slow
def test_a_users_activation_gets_its_column_in_the_article_without_an_edit(tmp_path):
    """`snakemake --config table=mine.yaml`: a table that adds GELU and LK-GELU
    (and an activation of the user's own module) trains them and the width
    table gets their columns; no file of the project is edited."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_workflow import copy_repository
    finally:
        sys.path.remove(str(ROOT / "tests"))
    project = tmp_path / "project"
    project.mkdir()
    copy_repository(project)
    table = own_table(project, experiments=("width", "shallow"))
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                            text=True).stdout
    variants = ["w50_relu", "w50_lkrelu", "w50_gelu", "w50_lkgelu", "w50_mine", "w50_lkmine"]
    config = {"table": str(table), "experiments": ["width", "shallow"], "variants": {"width": variants},
              "seeds": [100], "set": {"epochs": 2, "max_train_samples": 64, "width_scale": 0.25}}
    (project / "mine_config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(project)}  # the user's module
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "paper/tables/width.tex", "paper/tables/shallow.tex",
         "--cores", "2",
         "--configfile", "mine_config.yaml"], cwd=project, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tex = (project / "paper" / "tables" / "width.tex").read_text()
    # Six columns or more are printed turned: one row an activation, in the table's order.
    labels = [line.split(" & ")[0].strip() for line in tex.splitlines() if " & " in line]
    assert [label for label in labels if label] == ["ReLU", "LK-ReLU", "Mine", "LK-Mine", "GELU",
                                                    "LK-GELU"]
    shallow = (project / "paper" / "tables" / "shallow.tex").read_text()
    assert "A shallow plain network" in shallow
    assert [line.split(" & ")[0].strip() for line in shallow.splitlines() if " & " in line] == \
        ["Variant", "gelu", "lkgelu"]
    import pandas as pd

    runs = pd.read_csv(project / "results" / "quick" / "tables" / "width_runs.csv")
    assert sorted(runs["variant"]) == sorted(variants)
    params = dict(zip(runs["variant"], runs["params"]))
    assert params["w50_lkgelu"] > params["w50_gelu"]  # linked: twice the classifier's inputs
    assert subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                          text=True).stdout == before


def test_a_claim_judges_a_users_units_by_their_labels(tmp_path, monkeypatch):
    """A project claim in config/claims.yaml's form names the units of a
    user's experiment; the evidence prints the table's labels."""
    from test_claims import CLAIMS
    from test_claims import claims
    from test_claims import runs

    monkeypatch.setattr(naming, "NAMES", naming.Names(own_table(tmp_path)))
    spec = {"id": "shallow_linked", "origin": "project", "source": "this project",
            "claim": "LK-GELU is more accurate than GELU.",
            "checks": [{"better": {"experiment": "shallow", "pairs": [["lkgelu", "gelu"]]}}]}
    frame = runs("shallow", {"lkgelu": [0.90, 0.92, 0.91], "gelu": [0.50, 0.52, 0.51]})
    [result] = claims.evaluate({**CLAIMS, "claims": [spec]}, {"shallow": frame})
    assert result["verdict"] == claims.HOLDS
    assert "LK-GELU" in result["evidence"] and "GELU" in result["evidence"]
    frame = runs("shallow", {"lkgelu": [0.50, 0.52, 0.51], "gelu": [0.90, 0.92, 0.91]})
    [result] = claims.evaluate({**CLAIMS, "claims": [spec]}, {"shallow": frame})
    assert result["verdict"] == claims.FAILS
