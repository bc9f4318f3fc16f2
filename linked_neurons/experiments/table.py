"""The experiment table: load it, expand its variants, resolve one run.

A run's configuration is merged from the table's defaults, the scale, the
experiment, the variant and command-line overrides, then validated against
`run.schema.yaml`. Errors name the culprit and stop before any training.
"""

import copy
import itertools
import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

ACTIVATIONS = ["relu", "lkrelu", "prelu", "lkprelu", "selu", "lkselu", "swish", "lkswish"]
SCALES = ("quick", "paper")
# What names a run or schedules it without changing what it computes.
NAMING_KEYS = ("experiment", "variant", "title", "seeds", "resources", "checkpoint_seconds",
               "convergence", "timed")


def _package_file(name):
    """A data file of this package: through importlib.resources where the
    package is installed; beside this file when the Snakefile loads it by path
    (no package, so importlib.resources cannot name one)."""
    if __package__:
        return resources.files(__package__).joinpath(name)
    return Path(__file__).with_name(name)


# Package data, as is the default table: found where the package is installed.
SCHEMA = yaml.safe_load(_package_file("run.schema.yaml").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)  # built once: the table has ~400 runs


class ConfigError(ValueError):
    """A configuration that cannot run: unknown name, bad key or value."""


def default_table_path():
    """`$LINKED_NEURONS_TABLE`, else ./config/experiments.yaml, else the
    package's own table (package data; config/experiments.yaml links to it)."""
    if os.environ.get("LINKED_NEURONS_TABLE"):
        return Path(os.environ["LINKED_NEURONS_TABLE"])
    local = Path("config/experiments.yaml")
    if local.exists():
        return local
    return Path(_package_file("experiments.yaml"))


def merge(base, override):
    """Deep merge of two dicts; `override` wins, nested dicts merge."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _expand(entry):
    entry = dict(entry)
    grid = entry.pop("grid", None)
    template = entry.pop("name")
    if grid is None:
        return {template: entry}
    grid = {k: ACTIVATIONS if v == "ACTIVATIONS" else v for k, v in grid.items()}
    variants = {}
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        variants[template.format(**point)] = {**entry, **point}
    return variants


class Table:
    """The experiment table (config/experiments.yaml)."""

    def __init__(self, path=None):
        self.path = Path(path or default_table_path())
        try:
            raw = yaml.safe_load(self.path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"experiment table {self.path} not found: run from the "
                "repository root or set LINKED_NEURONS_TABLE"
            ) from None
        self.defaults = raw.get("defaults", {})
        self.experiments = raw["experiments"]
        self._variants = {}
        self._shared = {}
        for name, experiment in self.experiments.items():
            variants = {}
            for entry in experiment.get("variants", []):
                for vname, spec in _expand(entry).items():
                    if vname in variants:
                        raise ConfigError(f"{self.path}: {name} has two variants named {vname!r}")
                    variants[vname] = spec
            self._variants[name] = variants
        for name in self.experiments:  # the table validates as a whole
            for scale in SCALES:
                for variant in self._variants[name]:
                    self.resolve(name, variant, scale)

    def variants(self, experiment):
        self._check_experiment(experiment)
        return list(self._variants[experiment])

    def _check_experiment(self, experiment):
        if experiment not in self.experiments:
            raise ConfigError(
                f"unknown experiment {experiment!r}: use one of "
                f"{', '.join(self.experiments)}"
            )

    def resolve(self, experiment, variant, scale="quick", overrides=None, seed=None):
        """The validated configuration of one run."""
        self._check_experiment(experiment)
        if variant not in self._variants[experiment]:
            raise ConfigError(
                f"unknown variant {variant!r} of {experiment}: use one of "
                f"{', '.join(self._variants[experiment])}"
            )
        if scale not in SCALES:
            raise ConfigError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
        exp = self.experiments[experiment]
        defaults = {k: v for k, v in self.defaults.items() if k != "scales"}
        config = merge(defaults, self.defaults.get("scales", {}).get(scale))
        config = merge(config, {k: v for k, v in exp.items() if k not in ("variants", "scales")})
        config = merge(config, exp.get("scales", {}).get(scale))
        config = merge(config, self._variants[experiment][variant])
        config = merge(config, overrides)
        config.update(experiment=experiment, variant=variant, scale=scale)
        if seed is not None:
            config["seed"] = seed
        validate(config)
        return config

    def trained_as(self, experiment, variant, scale="quick", overrides=None):
        """(experiment, variant) of the table's first run that trains exactly
        like this one (same configuration but for NAMING_KEYS): the pipeline
        trains it once and both experiments use it. The paper's Table 6 BN
        networks, for instance, are Table 5's."""
        key = (scale, repr(overrides))
        if key not in self._shared:
            first, index = {}, {}
            for name in self.experiments:
                for other in self._variants[name]:
                    config = self.resolve(name, other, scale, overrides)
                    training = json.dumps({k: v for k, v in config.items() if k not in NAMING_KEYS},
                                          sort_keys=True)
                    index[name, other] = first.setdefault(training, (name, other))
            self._shared[key] = index
        self.resolve(experiment, variant, scale, overrides)  # names checked
        return self._shared[key][experiment, variant]

    def runs(self, scale="quick", experiments=None, overrides=None):
        """(experiment, variant, seed) of every run at `scale`."""
        for experiment in experiments or self.experiments:
            for variant in self.variants(experiment):
                config = self.resolve(experiment, variant, scale, overrides)
                for seed in config["seeds"]:
                    yield experiment, variant, seed


def validate(config):
    """Raise ConfigError naming the first bad key of a run configuration."""
    error = jsonschema.exceptions.best_match(
        _VALIDATOR.iter_errors(config)
    )
    if error is None:
        if len(config["lr_multipliers"]) != len(config["lr_boundaries"]) + 1:
            raise ConfigError(
                f"{config['experiment']}/{config['variant']}: lr_multipliers needs "
                "one more entry than lr_boundaries"
            )
        return
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        raise ConfigError(
            f"{config.get('experiment')}/{config.get('variant')}: unknown key "
            f"{'.'.join([*map(str, error.absolute_path), extra[0]])!r}; allowed: {allowed}"
        )
    raise ConfigError(
        f"{config.get('experiment')}/{config.get('variant')}: {where}: {error.message}"
    )


def parse_overrides(pairs):
    """`["epochs=3", "optimizer.learning_rate=0.1"]` -> nested dict (YAML values)."""
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: write it as key=value, e.g. --set epochs=3")
        node = overrides
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _scalar(value)
    return overrides


def _scalar(text):
    """A YAML value; numbers YAML 1.1 reads as strings ("1e12") are numbers."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value
