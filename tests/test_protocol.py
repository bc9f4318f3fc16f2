"""The paper's networks as the authors built them, and the switch to their scripts.

ResNet50's stem and post-add activations are the variant's single base
activation; the LK-SELU network without BN keeps its stem's BN. `protocol:
scripts` changes exactly the values where the authors' scripts differ from the
paper's text (../shared/PROTOCOL.md, issue 16).
"""

import keras
import numpy as np
import pytest
import yaml
from keras import layers
from keras import ops

import linked_neurons as ln
from linked_neurons.experiments.models import ACT_PREFIX
from linked_neurons.experiments.models import build_model
from linked_neurons.experiments.optimizers import Keras2RMSprop
from linked_neurons.experiments.optimizers import make_optimizer
from linked_neurons.experiments.schedules import PaperSchedule
from linked_neurons_core.table import SCALES
from linked_neurons_core.table import ConfigError
from linked_neurons_core.table import Table
from linked_neurons_core.table import flatten

TABLE = Table()
RESNETS = [(e, v) for e in ("resnet50", "resnet50_nobn") for v in TABLE.variants(e)]
BASE = {"relu": "relu", "prelu": "prelu", "selu": "selu", "swish": "swish"}
BASE.update({f"lk{k}": v for k, v in BASE.items()})
LINKED = {"lkrelu": ln.LKReLU, "lkprelu": ln.LKPReLU, "lkselu": ln.LKSELU, "lkswish": ln.LKSwish}


def kind(layer):
    """The activation a layer computes, by the names of the run configuration."""
    for name, cls in LINKED.items():
        if type(layer) is cls:
            return name
    if isinstance(layer, layers.ReLU):
        return "relu"
    if isinstance(layer, layers.PReLU):
        return "prelu"
    if isinstance(layer, layers.Activation):
        fn = layer.activation
        return {keras.activations.selu: "selu", ln.swish: "swish"}.get(fn, repr(fn))
    return type(layer).__name__


def consumers(model, tensor):
    return [layer for layer in model.layers if getattr(layer, "input", None) is tensor]


def structure(model):
    """(stem activation layer, the layer after each Add, BN layers, the stem's BN)."""
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    (after_conv,) = consumers(model, convs[0].output)  # the stem: conv [-> BN] -> act
    stem_bn = after_conv if isinstance(after_conv, layers.BatchNormalization) else None
    (stem_act,) = consumers(model, after_conv.output) if stem_bn else (after_conv,)
    adds = [layer for layer in model.layers if isinstance(layer, layers.Add)]
    after_adds = [consumers(model, add.output)[0] for add in adds]
    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    return stem_act, after_adds, bns, stem_bn


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("experiment, variant", RESNETS)
def test_resnet50_is_the_authors_network(experiment, variant, scale):
    config = TABLE.resolve(experiment, variant, scale)
    # Narrower than published, the same layers: a quarter of the units.
    config["width_scale"] = 0.25
    model = build_model(config, (32, 32, 3), 10)
    stem_act, after_adds, bns, stem_bn = structure(model)
    base = BASE[config["activation"]]
    assert len(after_adds) == 16
    # The stem and every post-add activation: the variant's single base one.
    assert [kind(stem_act)] + [kind(layer) for layer in after_adds] == [base] * 17
    # Inside the blocks: the variant's own activation, two per block.
    acts = [layer for layer in model.layers if layer.name.startswith(ACT_PREFIX)]
    assert len(acts) == 49
    own = [layer for layer in acts if layer is not stem_act and layer not in after_adds]
    assert [kind(layer) for layer in own] == [config["activation"]] * 32
    expected_bns = {
        "lkrelu_none": 0, "selu_none": 0, "lkselu_none": 1, "lkselu_nobnall": 0,
    }.get(variant, 53)  # with BN: the stem's, three a block, four shortcuts
    assert len(bns) == expected_bns
    assert (stem_bn is not None) == (expected_bns > 0)


def test_parameter_counts_of_the_paper_resnets():
    """The published networks' sizes (CIFAR-10, full width). PReLU's slopes are
    per unit (Keras's default), so its stem and post-add PReLUs add 325,632."""
    counts = {}
    for experiment, variant in (("resnet50", "relu"), ("resnet50", "prelu"),
                                ("resnet50", "lkprelu"), ("resnet50_nobn", "lkselu_none"),
                                ("resnet50_nobn", "lkselu_nobnall")):
        config = TABLE.resolve(experiment, variant, "paper")
        counts[variant] = build_model(config, (32, 32, 3), 10).count_params()
    assert counts == {"relu": 248042, "prelu": 732394, "lkprelu": 1034218,
                      "lkselu_none": 380010, "lkselu_nobnall": 379978}


def test_residual_activation_names_another_one():
    config = TABLE.resolve("resnet50", "lkselu", "quick", {"residual_activation": "relu"})
    stem_act, after_adds, _, _ = structure(build_model(config, (16, 16, 1), 10))
    assert {kind(layer) for layer in [stem_act, *after_adds]} == {"relu"}
    with pytest.raises(ConfigError, match="residual_activation"):
        TABLE.resolve("resnet50", "lkselu", "quick", {"residual_activation": "lkrelu"})


def test_frozen_lkprelu_is_lkrelu():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(64, 5)), np.zeros((1, 5))]).astype("float32")
    frozen = ln.LKPReLU(alpha_trainable=False)
    frozen.build(x.shape)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    np.testing.assert_array_equal(ops.convert_to_numpy(frozen(x)), ops.convert_to_numpy(ln.LKReLU()(x)))
    assert ln.LKPReLU.from_config(frozen.get_config()).alpha_trainable is False


def test_scripts_lkprelu_network_trains_as_lkrelu():
    """Under `protocol: scripts` an LK-PReLU network is its LK-ReLU twin:
    same outputs from the same weights, before and after training."""
    overrides = {"depth": 2}
    frozen = build_model(TABLE.resolve("depth", "lkprelu", "quick", overrides, protocol="scripts"),
                         (16, 16, 1), 10)
    twin = build_model(TABLE.resolve("depth", "lkrelu", "quick", overrides), (16, 16, 1), 10)
    linked = [layer for layer in frozen.layers if isinstance(layer, ln.LKPReLU)]
    assert len(linked) == 3 and all(not layer.trainable_weights for layer in linked)
    # The trainable weights are the twin's, so they carry over one to one.
    assert [w.shape for w in frozen.trainable_weights] == [w.shape for w in twin.trainable_weights]
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(64, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 10, size=64)
    frozen.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    frozen.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(twin.trainable_weights, frozen.trainable_weights):
        a.assign(b)
    for layer in linked:
        assert not np.any(ops.convert_to_numpy(layer.alpha_a))
        assert not np.any(ops.convert_to_numpy(layer.alpha_b))
    np.testing.assert_allclose(ops.convert_to_numpy(frozen(x)), ops.convert_to_numpy(twin(x)), rtol=1e-6)


def scripts_changes(experiment, variant, scale):
    """What the authors' scripts change in one run, written out from issue 16."""
    config = TABLE.resolve(experiment, variant, scale)
    changes = {}
    if experiment == "width" and scale == "paper":
        changes["epochs"] = (50, 200)
    if experiment == "depth":
        changes["optimizer.decay"] = (1e-6, 0.0)
    if experiment == "allcnn" and config["activation"] == "lkrelu" and scale == "paper":
        changes["batch_size"] = (32, 128)
    if experiment in ("width", "depth", "extended"):
        changes["shuffle"] = (True, False)
    if config["activation"] == "lkprelu":
        changes["lkprelu_trainable"] = (True, False)
    if config["optimizer"]["name"] == "rmsprop":
        changes["optimizer.epsilon_style"] = ("keras3", "keras2")
    return changes


def test_scripts_change_exactly_the_listed_values():
    seen = set()
    for scale in SCALES:
        for experiment in TABLE.experiments:
            for variant in TABLE.variants(experiment):
                text = flatten(TABLE.resolve(experiment, variant, scale))
                scripts = flatten(TABLE.resolve(experiment, variant, scale, protocol="scripts"))
                assert (text.pop("protocol"), scripts.pop("protocol")) == ("text", "scripts")
                assert set(text) == set(scripts)
                changed = {k: (text[k], scripts[k]) for k in text if text[k] != scripts[k]}
                assert changed == scripts_changes(experiment, variant, scale), (experiment, variant)
                seen.update(changed)
    assert seen == {"epochs", "optimizer.decay", "batch_size", "shuffle", "lkprelu_trainable",
                    "optimizer.epsilon_style"}


def test_protocol_differences_rows_come_from_the_configuration():
    rows = TABLE.protocol_differences("paper")
    expected = {}
    for experiment in TABLE.experiments:
        for variant in TABLE.variants(experiment):
            for key, (text, scripts) in scripts_changes(experiment, variant, "paper").items():
                expected.setdefault((experiment, key, text, scripts), []).append(variant)
    assert {(r["experiment"], r["key"], r["text"], r["scripts"]): r["variants"] for r in rows} == expected
    assert all(r["why"] and r["used"] == "text" for r in rows)
    allcnn = [r for r in rows if r["experiment"] == "allcnn" and r["key"] == "batch_size"]
    assert allcnn[0]["variants"] == ["lkrelu_fixed", "lkrelu_step01", "lkrelu_step001"]
    assert not allcnn[0]["all_variants"] and "128" in allcnn[0]["why"]
    width = TABLE.protocol_differences("paper", ["width"], protocol="scripts")
    assert {r["key"] for r in width if r["all_variants"]} == {"epochs", "shuffle"}
    assert {r["used"] for r in width} == {"scripts"}
    # An override applies to both sides: a value it sets differs nowhere.
    width = TABLE.protocol_differences("paper", ["width"], overrides={"epochs": 3, "protocol": "scripts"})
    assert "epochs" not in {r["key"] for r in width} and {r["used"] for r in width} == {"scripts"}


def test_the_merge_order_of_protocols():
    # The command line wins over a rule; --set protocol=... is the argument.
    assert TABLE.resolve("depth", "relu", overrides={"shuffle": True}, protocol="scripts")["shuffle"]
    assert TABLE.resolve("depth", "relu", overrides={"protocol": "scripts"}) == \
        TABLE.resolve("depth", "relu", protocol="scripts")
    # A rule selects by the configuration before it, overrides included.
    moved = TABLE.resolve("depth", "relu", overrides={"activation": "lkprelu"}, protocol="scripts")
    assert moved["lkprelu_trainable"] is False
    # A rule wins over the variant.
    table = Table()
    table._variants["depth"]["relu"]["shuffle"] = True
    assert table.resolve("depth", "relu", protocol="scripts")["shuffle"] is False
    with pytest.raises(ConfigError, match="unknown protocol 'paper': use one of text, scripts"):
        TABLE.resolve("depth", "relu", protocol="paper")
    with pytest.raises(ConfigError, match="differ"):
        TABLE.resolve("depth", "relu", overrides={"protocol": "text"}, protocol="scripts")
    # Table 6's BN networks are Table 5's under either protocol.
    assert TABLE.trained_as("resnet50_nobn", "lkselu_batchnorm", "paper", protocol="scripts") == \
        ("resnet50", "lkselu")


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"why": "x", "when": {"experiment": "deep"}, "set": {"epochs": 2}}, "unknown experiment 'deep'"),
        ({"why": "x", "when": {"activation": "lk_relu"}, "set": {"epochs": 2}},
         "unknown activation 'lk_relu'"),
        ({"why": "x", "when": {"activation": "lkrelu", "scale": "quick", "architecture": "allcnn",
                               "depth": 3}, "set": {"epochs": 2}}, "selects no run"),
        ({"why": "x", "when": {"activaton": "lkrelu"}, "set": {"epochs": 2}}, "unknown run key 'activaton'"),
        ({"why": "x", "set": {"epoch": 2}}, "unknown key 'epoch'"),
        ({"why": "x", "set": {"protocol": "text"}}, "cannot set protocol"),
        ({"when": {"scale": "paper"}, "set": {"epochs": 2}}, "say `why`"),
        ({"why": "x", "set": {"optimizer": {"epsilon_style": "keras2"}}}, "rmsprop"),
    ],
)
def test_bad_protocol_rules_are_rejected(rule, message, tmp_path):
    raw = yaml.safe_load(TABLE.path.read_text())
    raw["protocols"]["scripts"].append(rule)
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        Table(path)


def test_list_shows_what_the_scripts_change(capsys):
    from linked_neurons import cli

    assert cli.main(["list", "width", "--scale", "paper"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("width: width on cifar10, 50 epochs, seeds [100] (16 variants, protocol text)")
    assert "  text -> scripts: epochs: 50 -> 200\n" in out
    assert "  text -> scripts: lkprelu_trainable: true -> false  [w50_lkprelu w400_lkprelu]\n" in out
    assert cli.main(["list", "--scale", "paper", "--protocol", "scripts"]) == 0
    out = capsys.readouterr().out
    assert "width: width on cifar10, 200 epochs, seeds [100] (16 variants, protocol scripts)" in out
    assert "  text -> scripts: batch_size: 32 -> 128  [lkrelu_fixed lkrelu_step01 lkrelu_step001]\n" in out
    assert "  text -> scripts: optimizer.epsilon_style: \"keras3\" -> \"keras2\"\n" in out


def keras2_rmsprop(params, grads, lrs, rho=0.9, epsilon=1e-7):
    """Keras 2.1's RMSprop.get_updates, step by step, in numpy (float64)."""
    p, a = params.astype("float64"), np.zeros_like(params, "float64")
    for g, lr in zip(grads, lrs):
        a = rho * a + (1.0 - rho) * np.square(g)
        p = p - lr * g / (np.sqrt(a) + epsilon)
    return p


def test_keras2_rmsprop_steps_as_keras_2():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(7,)).astype("float32")
    # Tiny gradients too: there the two epsilon placements differ most.
    grads = [rng.normal(size=(7,)).astype("float32") * scale for scale in (1.0, 1e-4, 1e-6, 0.3, 2.0)]
    schedule = PaperSchedule(0.01, decay=0.1)  # Keras 2's lr / (1 + decay * iterations)
    lrs = [0.01 / (1 + 0.1 * step) for step in range(len(grads))]
    expected = keras2_rmsprop(start, grads, lrs)
    for optimizer, close in ((Keras2RMSprop(schedule), True), (keras.optimizers.RMSprop(schedule), False)):
        variable = keras.Variable(start)
        for g in grads:
            optimizer.apply_gradients([(ops.convert_to_tensor(g), variable)])
        got = ops.convert_to_numpy(variable)
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-7) == close, (got, expected)


def test_keras2_rmsprop_is_serializable_and_chosen_by_the_configuration(tmp_path):
    config = TABLE.resolve("extended", "relu", "quick", protocol="scripts")
    optimizer = make_optimizer(config, 10)
    assert type(optimizer) is Keras2RMSprop
    assert type(make_optimizer(TABLE.resolve("extended", "relu", "quick"), 10)) is keras.optimizers.RMSprop
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is Keras2RMSprop and restored.get_config() == optimizer.get_config()
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(optimizer, "mse")
    model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    assert type(keras.saving.load_model(tmp_path / "model.keras").optimizer) is Keras2RMSprop
    with pytest.raises(ValueError, match="momentum"):
        Keras2RMSprop(momentum=0.9)
    with pytest.raises(ConfigError, match="rmsprop"):
        TABLE.resolve("depth", "relu", overrides={"optimizer": {"epsilon_style": "keras2"}})
