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

No Keras here, as nowhere in linked_neurons_core: the Snakefile imports it.
"""

import copy
import difflib
import hashlib
import itertools
import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from linked_neurons_core import vocabulary

SCALES = ("quick", "paper")
# What names, schedules or judges a run without changing what it computes (a
# protocol's effect is in the keys it sets). Everything else is the run's
# identity: its seed, its data, its configuration (and the code it runs,
# `code_digest`). `seeds` lists the experiment's seeds; a run's own `seed` is
# identity: two seeds are two runs.
NAMING_KEYS = ("experiment", "variant", "title", "paper_table", "published", "authors_hours", "layout",
               "seeds", "resources", "checkpoint_seconds", "convergence", "timed", "protocol")
# The files that a training run executes and whose edits can change its
# numbers, in linked_neurons/ and linked_neurons_core/ (relative to the folder
# that holds both: the checkout, or site-packages). Reading, naming and
# scheduling code (this table, the CLI, file and lock helpers) is not here;
# tests/test_identity.py names it and checks that every module a run loads is
# one or the other.
CODE = (
    "linked_neurons/__init__.py",
    "linked_neurons/activations.py",
    "linked_neurons_core/datasets.py",
    "linked_neurons/layers/*.py",
    "linked_neurons/experiments/models.py",
    "linked_neurons/experiments/train.py",
    "linked_neurons/experiments/data.py",
    "linked_neurons/experiments/build.py",
    "linked_neurons/experiments/reinit.py",
    "linked_neurons/experiments/seeding.py",
    "linked_neurons/experiments/epochs.py",
    "linked_neurons/experiments/signals.py",
    "linked_neurons/experiments/progress.py",
    "linked_neurons/experiments/probes.py",
    "linked_neurons/experiments/loop.py",
    "linked_neurons/experiments/blockdiag.py",
    "linked_neurons/experiments/losses.py",
    "linked_neurons/experiments/optimizers.py",
    "linked_neurons/experiments/schedules.py",
    "linked_neurons/experiments/checkpoint.py",
    "linked_neurons_core/vocabulary.py",
    "linked_neurons_core/stopping.py",
)
# The protocol of the paper's text, against which others are compared.
TEXT = "text"
# What a protocol rule may hold, and keys it may not set.
RULE_KEYS = ("why", "when", "set")
_UNSETTABLE = ("experiment", "variant", "scale", "protocol")
#: The most variants one grid may make (the paper's largest makes 16).
MAX_GRID = 1000


def _package_file(name):
    """A data file of this package (importlib.resources: wherever it is installed)."""
    return resources.files(__package__).joinpath(name)


# Package data, as is the default table: found where the package is installed.
SCHEMA = yaml.safe_load(_package_file("run.schema.yaml").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)  # built once: the table has ~400 runs


#: The longest message a ConfigError prints (its culprits are cut shorter).
MAX_MESSAGE = 400
#: How much of a culprit (a value, a YAML error's detail) an error message quotes.
QUOTE_CHARS = 200


class ConfigError(ValueError):
    """A configuration that cannot run: unknown name, bad key or value.

    `str()` is one line: whitespace runs (newlines included) become one space."""

    def __str__(self):
        text = " ".join(super().__str__().split())
        return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def cut(text, limit=QUOTE_CHARS):
    """`text` (anything: it is repr'd unless a string) cut to about `limit`
    characters, so that an error never quotes a whole hostile value."""
    text = text if isinstance(text, str) else repr(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def quote(value, limit=QUOTE_CHARS):
    """repr(value), cut to about `limit` characters."""
    return cut(repr(value), limit)


# --- reading YAML safely -------------------------------------------------------
#
# PyYAML's SafeLoader builds no objects but plain data; it still expands
# aliases (a "billion laughs" table: 9**9 list items from a few lines) and
# lets a repeated mapping key silently win. A table needs neither: aliases are
# refused (write the value out) and a repeated key is an error naming both
# lines.


class _TableLoader(yaml.SafeLoader):
    """SafeLoader without aliases and without repeated mapping keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None,
                f"an alias (*{event.anchor}) is not allowed in an experiment table: "
                "write the value out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
                if first != key_node.start_mark.line + 1:
                    raise yaml.constructor.ConstructorError(
                        None, None,
                        f"duplicate key {quote(key, 60)} (first at line {first}): keep one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path, what="experiment table"):
    """The data of the YAML file `path` (aliases and repeated keys refused).
    Raises ConfigError, one line naming the file, the line and the fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{what} {path} not found: run from the repository root or set LINKED_NEURONS_TABLE"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{what} {path} cannot be read: {cut(str(error))}") from None
    try:
        return yaml.load(text, Loader=_TableLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = error.problem or error.context or "not YAML"
        raise ConfigError(f"{what} {where}: {cut(problem)}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {path}: not YAML ({cut(str(error))})") from None
    except RecursionError:
        raise ConfigError(f"{what} {path}: nested too deeply to be a table") from None


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


def _expand(entry, where="variants", sets=None):
    """A variant entry's variants; a grid value that is a string names one
    of the table's `activation_sets`."""
    entry = dict(entry)
    grid = entry.pop("grid", None)
    template = entry.pop("name")
    if grid is None:
        return {template: entry}
    for key, values in grid.items():
        if isinstance(values, str):
            if values not in (sets or {}):
                raise ConfigError(f"{where}: the grid of {cut(template, 60)}: {key}: "
                                  f"{quote(values, 60)} is no activation set: use a list or one of "
                                  f"{', '.join(sets or {}) or '(none: add activation_sets)'}")
            grid[key] = sets[values]
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_GRID:
        raise ConfigError(f"{where}: the grid of {cut(template, 60)} makes {size} variants; "
                          f"at most {MAX_GRID} are allowed: split it into smaller grids")
    variants = {}
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        try:
            name = template.format(**point)
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            raise ConfigError(
                f"{where}: the variant name {cut(template, 60)} cannot be filled from its grid "
                f"({type(error).__name__}: {cut(str(error), 60)}): use {{KEY}} for grid keys "
                f"{', '.join(map(str, grid))}"
            ) from None
        variants[name] = {**entry, **point}
    return variants


# The table's own structure (its runs are validated by run.schema.yaml once
# resolved): checked before anything is read from it, so that a table of the
# wrong shape is a ConfigError naming where, not an AttributeError.
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_]+$"}
_SCALES = {"type": "object", "additionalProperties": False,
           "properties": {scale: {"type": ["object", "null"]} for scale in SCALES}}
_VARIANT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "grid": {"type": "object", "minProperties": 1, "propertyNames": _NAME,
                 "additionalProperties": {"anyOf": [{"type": "array", "minItems": 1},
                                                    _NAME]}},
    },
}
TABLE_SCHEMA = {
    "type": "object",
    "required": ["activations", "experiments"],
    "additionalProperties": False,
    "properties": {
        "activations": {"type": "object", "minProperties": 1, "propertyNames": _NAME,
                        "additionalProperties": {"type": "object"}},
        "activation_sets": {"type": "object", "propertyNames": _NAME,
                            "additionalProperties": {"type": "array", "minItems": 1}},
        "defaults": {"type": "object", "properties": {"scales": _SCALES}},
        "experiments": {
            "type": "object", "minProperties": 1, "propertyNames": _NAME,
            "additionalProperties": {
                "type": "object",
                "required": ["variants"],
                "properties": {"variants": {"type": "array", "minItems": 1, "items": _VARIANT},
                               "scales": _SCALES},
            },
        },
        "protocols": {"type": ["object", "null"], "propertyNames": _NAME},
    },
}
_TABLE_VALIDATOR = jsonschema.Draft202012Validator(TABLE_SCHEMA)


def _check_structure(raw, path):
    if not isinstance(raw, dict):
        got = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(
            f"experiment table {path}: the file is {got}; it must be a mapping with "
            "`experiments` (and `defaults`, `protocols`), e.g. the package's experiments.yaml"
        )
    error = jsonschema.exceptions.best_match(_TABLE_VALIDATOR.iter_errors(raw))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"experiment table {path}: {cut(where, 80)}: {cut(error.message)}")


class Table:
    """The experiment table (config/experiments.yaml)."""

    def __init__(self, path=None):
        self.path = Path(path or default_table_path())
        raw = load_yaml(self.path)
        _check_structure(raw, self.path)
        try:
            self._load(raw)
        except ConfigError:
            raise
        except (TypeError, KeyError, ValueError, AttributeError, IndexError) as error:
            # A shape the checks above do not describe: still one line naming the table.
            raise ConfigError(
                f"experiment table {self.path} cannot be read ({type(error).__name__}: "
                f"{cut(str(error))}): compare it with the package's experiments.yaml"
            ) from None

    def _load(self, raw):
        self.activations = raw["activations"]
        self.activation_sets = raw.get("activation_sets") or {}
        vocabulary.check(self.activations, self.activation_sets, self.path)
        self.defaults = raw.get("defaults") or {}
        self.experiments = raw["experiments"]
        self.protocols = {TEXT: [], **(raw.get("protocols") or {})}
        self._check_protocols()
        self._variants = {}
        self._shared = {}
        for name, experiment in self.experiments.items():
            variants = {}
            for entry in experiment.get("variants", []):
                for vname, spec in _expand(entry, f"{self.path}: {name}",
                                           self.activation_sets).items():
                    if vname in variants:
                        raise ConfigError(f"{self.path}: {name} has two variants named {cut(vname, 80)}")
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
                        f"{self.path}: protocols.{protocol}[{index}] ({cut(rule['why'], 80)}) "
                        f"selects no run: check its `when` {cut(rule.get('when'))}"
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
                        raise ConfigError(f"{where}: `when` names an unknown run key {quote(key, 60)}")
                    values = values if isinstance(values, list) else [values]
                    known = {"experiment": self.experiments, "scale": SCALES,
                             "activation": self.activations}.get(key)
                    for value in values:
                        if known is not None and value not in known:
                            raise ConfigError(
                                f"{where}: unknown {key} {quote(value, 60)}: use one of {', '.join(known)}"
                            )

    def variants(self, experiment):
        self._check_experiment(experiment)
        return list(self._variants[experiment])

    def _check_experiment(self, experiment):
        if experiment not in self.experiments:
            raise ConfigError(
                f"unknown experiment {quote(experiment, 60)}: use one of "
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
                f"unknown variant {quote(variant, 60)} of {experiment}: use one of "
                f"{', '.join(self._variants[experiment])}"
            )
        if scale not in SCALES:
            raise ConfigError(f"unknown scale {quote(scale, 60)}: use one of {', '.join(SCALES)}")
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
                    f"protocol {quote(protocol, 60)} and the override "
                    f"protocol={quote(overrides['protocol'], 60)} differ"
                )
            overrides["protocol"] = protocol
        names = dict(experiment=experiment, variant=variant, scale=scale)
        unprotocolled = {**merge(config, overrides), **names}
        protocol = unprotocolled.get("protocol", TEXT)
        if protocol not in self.protocols:
            raise ConfigError(
                f"{experiment}/{variant}: unknown protocol {quote(protocol, 60)}: use one of "
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
        self._check_activations(config)
        config["activations"] = vocabulary.run_entries(self.activations, config)
        validate(config)
        return config

    def _check_activations(self, config):
        for key in ("activation", "residual_activation"):
            name = config.get(key)
            if name is None and key == "residual_activation":
                continue
            if not isinstance(name, str) or name not in self.activations:
                raise ConfigError(
                    f"{cut(config['experiment'], 40)}/{cut(config['variant'], 40)}: unknown "
                    f"{key} {quote(name, 60)}: use one of {', '.join(self.activations)}, or add "
                    f"it to the table's `activations` ({self.path})"
                )
            if key == "residual_activation" and vocabulary.is_linked(self.activations, name):
                raise ConfigError(
                    f"{config['experiment']}/{config['variant']}: residual_activation "
                    f"{quote(name, 60)} is linked; it must be a single activation")

    def label(self, activation):
        """How tables, figures and claims name an activation."""
        return self.activations[activation]["label"]

    def is_linked(self, activation):
        return vocabulary.is_linked(self.activations, activation)

    def base(self, activation):
        return vocabulary.base(self.activations, activation)

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
                raise ConfigError(f"unknown protocol {quote(name, 60)}: use one of "
                                  f"{', '.join(self.protocols)}")
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


def _source_root():
    """The folder holding linked_neurons/ and this package: the checkout, or site-packages."""
    return Path(__file__).resolve().parents[1]


def code_files(root=None):
    root = Path(root or _source_root())
    files = set()
    for pattern in CODE:
        files.update(root.glob(pattern))
    return sorted(files)


def code_digest(root=None):
    """A digest of the contents of the code a run executes (paths relative to
    `root`, the folder of both packages, so a moved or copied project has the
    same digest)."""
    root = Path(root or _source_root())
    sha = hashlib.sha256()
    for path in code_files(root):
        sha.update(str(path.relative_to(root)).encode() + b"\0")
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
    run = f"{cut(config.get('experiment'), 40)}/{cut(config.get('variant'), 40)}"
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(map(str, set(error.instance) - set(known)))
        close = difflib.get_close_matches(extra[0], known, n=3)
        hint = (f"did you mean {' or '.join(close)}?" if close
                else f"allowed: {cut(', '.join(known), 120)}")
        raise ConfigError(
            f"{run}: unknown key {quote('.'.join([*map(str, error.absolute_path), extra[0]]), 80)}"
            f"; {hint} (every key: run.schema.yaml)"
        )
    raise ConfigError(f"{run}: {cut(where, 60)}: {cut(error.message)}")


def parse_overrides(pairs):
    """`["epochs=3", "optimizer.learning_rate=0.1"]` -> nested dict (YAML values)."""
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {quote(pair, 80)}: write it as key=value, e.g. --set epochs=3")
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
