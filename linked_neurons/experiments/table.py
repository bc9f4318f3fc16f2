"""The experiment table: load it, expand its variants, resolve one run.

A run's configuration is merged, later layers winning, from: the table's
defaults, the defaults of its scale, the experiment, the experiment's scale,
the variant, the rules of its protocol that select it, and command-line
overrides; then validated against `run.schema.yaml`. Errors name the culprit
and stop before any training.

A protocol (`protocols` in the table) is a list of rules `{why, when, set}`.
`text`, the paper's text, has none; `scripts` sets every value where the
authors' scripts differ from the text. A rule selects a run when each `when`
key (a run key, dotted for nested ones) has one of the listed values in the
configuration merged without the protocol (overrides included), so rules
select by the variant's keys; its `set` then wins over the variant and loses
to the overrides. `Table.protocol_differences` lists what a protocol changes.

No Keras here: the Snakefile loads this file by path.
"""

import copy
import hashlib
import itertools
import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

ACTIVATIONS = ["relu", "lkrelu", "prelu", "lkprelu", "selu", "lkselu", "swish", "lkswish"]
SCALES = ("quick", "paper")
# What names, schedules or judges a run without changing what it computes (a
# protocol's effect is in the keys it sets).
NAMING_KEYS = ("experiment", "variant", "seed", "title", "seeds", "resources",
               "checkpoint_seconds", "convergence", "timed", "protocol")
# The package's files that a training run executes and whose edits can change
# its numbers (relative to the package). Reading, naming and scheduling code
# (this table, the CLI, file and lock helpers) is not here.
CODE = (
    "__init__.py",
    "activations.py",
    "datasets.py",
    "layers/*.py",
    "experiments/models.py",
    "experiments/train.py",
    "experiments/loop.py",
    "experiments/optimizers.py",
    "experiments/schedules.py",
    "experiments/checkpoint.py",
)
# The protocol of the paper's text, against which others are compared.
TEXT = "text"
# What a protocol rule may hold, and keys it may not set.
RULE_KEYS = ("why", "when", "set")
_UNSETTABLE = ("experiment", "variant", "scale", "protocol")


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


def flatten(config, prefix=""):
    """`{"optimizer": {"decay": 0}}` -> `{"optimizer.decay": 0}`."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_MISSING = object()


def _lookup(config, dotted):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _selects(rule, config):
    """Whether every `when` key of `rule` has one of its values in `config`."""
    for key, allowed in (rule.get("when") or {}).items():
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if _lookup(config, key) not in allowed:
            return False
    return True


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
        self.protocols = {TEXT: [], **(raw.get("protocols") or {})}
        self._check_protocols()
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
        selected = set()
        for protocol in self.protocols:  # the table validates as a whole
            for name in self.experiments:
                for scale in SCALES:
                    for variant in self._variants[name]:
                        self.resolve(name, variant, scale, protocol=protocol, _selected=selected)
        for protocol, rules in self.protocols.items():
            for index, rule in enumerate(rules):
                if (protocol, index) not in selected:
                    raise ConfigError(
                        f"{self.path}: protocols.{protocol}[{index}] ({rule['why']}) "
                        f"selects no run: check its `when` {rule.get('when')}"
                    )

    def _check_protocols(self):
        """The protocols' rules are well formed (their values are checked by
        resolving every run under every protocol)."""
        for protocol, rules in self.protocols.items():
            if not isinstance(rules, list):
                raise ConfigError(f"{self.path}: protocols.{protocol} must be a list of rules")
            for index, rule in enumerate(rules):
                where = f"{self.path}: protocols.{protocol}[{index}]"
                if not isinstance(rule, dict) or set(rule) - set(RULE_KEYS):
                    raise ConfigError(f"{where}: a rule has the keys {', '.join(RULE_KEYS)}")
                if not isinstance(rule.get("why"), str) or not rule["why"].strip():
                    raise ConfigError(f"{where}: say `why` in one line")
                if not isinstance(rule.get("set"), dict) or not rule["set"]:
                    raise ConfigError(f"{where}: `set` must map keys to the values it sets")
                if not isinstance(rule.get("when") or {}, dict):
                    raise ConfigError(f"{where}: `when` must map run keys to values")
                bad = sorted(set(rule["set"]) & set(_UNSETTABLE))
                if bad:
                    raise ConfigError(f"{where}: a rule cannot set {', '.join(bad)}")
                for key, values in (rule.get("when") or {}).items():
                    if key.split(".")[0] not in SCHEMA["properties"]:
                        raise ConfigError(f"{where}: `when` names an unknown run key {key!r}")
                    values = values if isinstance(values, list) else [values]
                    known = {"experiment": self.experiments, "scale": SCALES}.get(key)
                    for value in values:
                        if known is not None and value not in known:
                            raise ConfigError(
                                f"{where}: unknown {key} {value!r}: use one of {', '.join(known)}"
                            )

    def variants(self, experiment):
        self._check_experiment(experiment)
        return list(self._variants[experiment])

    def _check_experiment(self, experiment):
        if experiment not in self.experiments:
            raise ConfigError(
                f"unknown experiment {experiment!r}: use one of "
                f"{', '.join(self.experiments)}"
            )

    def resolve(self, experiment, variant, scale="quick", overrides=None, seed=None,
                protocol=None, _selected=None):
        """The validated configuration of one run.

        `protocol` (default: the overrides', else the table's `protocol` key,
        `text`) names the protocol whose rules apply; giving it is the same as
        the override `{"protocol": protocol}`."""
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
        overrides = dict(overrides or {})
        if protocol is not None:
            if overrides.get("protocol", protocol) != protocol:
                raise ConfigError(
                    f"protocol {protocol!r} and the override protocol={overrides['protocol']!r} differ"
                )
            overrides["protocol"] = protocol
        names = dict(experiment=experiment, variant=variant, scale=scale)
        unprotocolled = {**merge(config, overrides), **names}
        protocol = unprotocolled.get("protocol", TEXT)
        if protocol not in self.protocols:
            raise ConfigError(
                f"{experiment}/{variant}: unknown protocol {protocol!r}: use one of "
                f"{', '.join(self.protocols)}"
            )
        for index, rule in enumerate(self.protocols[protocol]):
            if _selects(rule, unprotocolled):
                config = merge(config, rule["set"])
                if _selected is not None:
                    _selected.add((protocol, index))
        config = merge(config, overrides)
        config.update(protocol=protocol, **names)
        if seed is not None:
            config["seed"] = seed
        validate(config)
        return config

    def trained_as(self, experiment, variant, scale="quick", overrides=None, protocol=None):
        """(experiment, variant) of the table's first run that trains exactly
        like this one (same configuration but for NAMING_KEYS): the pipeline
        trains it once and both experiments use it. The paper's Table 6 BN
        networks, for instance, are Table 5's."""
        key = (scale, repr(overrides), protocol)
        if key not in self._shared:
            first, index = {}, {}
            for name in self.experiments:
                for other in self._variants[name]:
                    config = self.resolve(name, other, scale, overrides, protocol=protocol)
                    index[name, other] = first.setdefault(config_digest(config), (name, other))
            self._shared[key] = index
        self.resolve(experiment, variant, scale, overrides, protocol=protocol)  # names checked
        return self._shared[key][experiment, variant]

    def runs(self, scale="quick", experiments=None, overrides=None, protocol=None):
        """(experiment, variant, seed) of every run at `scale`."""
        for experiment in experiments or self.experiments:
            for variant in self.variants(experiment):
                config = self.resolve(experiment, variant, scale, overrides, protocol=protocol)
                for seed in config["seeds"]:
                    yield experiment, variant, seed

    def protocol_differences(self, scale="paper", experiments=None, protocol=None,
                             overrides=None, other="scripts"):
        """Where protocol `other` (default scripts) and the paper's text give a
        run different values, for the article's method section and
        `linked-neurons list`.

        Returns one dict per (experiment, key, text value, other's value), in
        table order: `experiment`; `key` (dotted for nested keys); `text` and
        `scripts` (the two values; the latter under `other`'s name);
        `variants`, the variants it concerns, and `all_variants`, whether that
        is every variant of the experiment; `why`, the rule's; and `used`, the
        protocol this build uses (`protocol`, else the overrides', else the
        table's default), so `text` or `other`. Command-line `overrides`
        apply to both sides, so a key they set differs nowhere.
        """
        overrides = dict(overrides or {})
        used = protocol or overrides.pop("protocol", None)
        overrides.pop("protocol", None)
        for name in (other, used):
            if name is not None and name not in self.protocols:
                raise ConfigError(f"unknown protocol {name!r}: use one of {', '.join(self.protocols)}")
        rows = {}
        for experiment in experiments or self.experiments:
            for variant in self.variants(experiment):
                applied = set()
                before = flatten(self.resolve(experiment, variant, scale, overrides, protocol=TEXT))
                after = flatten(self.resolve(experiment, variant, scale, overrides,
                                             protocol=other, _selected=applied))
                if used is None:
                    used = self.resolve(experiment, variant, scale, overrides)["protocol"]
                for key in sorted(set(before) | set(after)):
                    if key == "protocol" or before.get(key) == after.get(key):
                        continue
                    why = [self.protocols[other][index]["why"] for _, index in sorted(applied)
                           if key in flatten(self.protocols[other][index]["set"])]
                    row = rows.setdefault(
                        (experiment, key, json.dumps(before.get(key)), json.dumps(after.get(key))),
                        {"experiment": experiment, "key": key, "text": before.get(key),
                         other: after.get(key), "variants": [], "why": why[-1] if why else ""},
                    )
                    row["variants"].append(variant)
        for row in rows.values():
            row["all_variants"] = row["variants"] == self.variants(row["experiment"])
            row["used"] = used
        return list(rows.values())


# --- what a run trains: its fingerprint ---------------------------------------
#
# A run is stale when its training configuration or the code it executes
# changes: the runner retrains it (or refuses, from the command line) and the
# pipeline passes the digests to Snakemake as the training job's params, so
# that Snakemake's own rerun triggers see them. Names, titles, seeds lists,
# resources, the checkpoint period, the convergence criterion and where the
# project lives do not change what a run trains, so they are not part of it.


def training_config(config):
    """The part of a run configuration that determines what it trains."""
    return {key: value for key, value in config.items() if key not in NAMING_KEYS}


def digest(data, length=12):
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def config_digest(config):
    return digest(training_config(config))


def _package_root():
    return Path(__file__).resolve().parents[1]


def code_files(package=None):
    package = Path(package or _package_root())
    files = set()
    for pattern in CODE:
        files.update(package.glob(pattern))
    return sorted(files)


def code_digest(package=None):
    """A digest of the contents of the code a run executes (paths relative to
    the package, so a moved or copied project has the same digest)."""
    package = Path(package or _package_root())
    sha = hashlib.sha256()
    for path in code_files(package):
        sha.update(str(path.relative_to(package)).encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()[:12]


def fingerprint(config, code=None):
    """{"config": ..., "code": ...}: a run with another fingerprint is another run."""
    return {"config": config_digest(config), "code": code or code_digest()}


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


def coerce_overrides(overrides, schema=None):
    """Overrides whose values came as text (Snakemake's `--config 'set={epochs:
    2}'` reads every value of a mapping as a string) with the types the run
    schema asks for: a string where the schema admits no string is read as a
    YAML value, so "2" becomes 2 for `epochs` and stays "2" for `title`."""
    schema = schema or SCHEMA
    out = {}
    for key, value in (overrides or {}).items():
        spec = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict):
            out[key] = coerce_overrides(value, spec)
            continue
        types = spec.get("type", [])
        types = types if isinstance(types, list) else [types]
        if isinstance(value, str) and "string" not in types and "enum" not in spec:
            value = _scalar(value)
        elif isinstance(value, list) and spec.get("items", {}).get("type") not in (None, "string"):
            value = [_scalar(v) if isinstance(v, str) else v for v in value]
        out[key] = value
    return out


def _scalar(text):
    """A YAML value; numbers YAML 1.1 reads as strings ("1e12") are numbers."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value
