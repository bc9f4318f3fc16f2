"""The activations of the experiment table, as data (its `activations:`).

Every activation a run may use is an entry of the table's `activations`
mapping; nothing else in the package or the workflow lists them. An entry:

    lkrelu:
      label: LK-ReLU                # how tables, figures and claims name it
      base: relu                    # linked: the single activation it links
      layer: linked_neurons:LKReLU  # a Keras layer class (module:name) ...
      # function: selu              # ... or a function: a Keras activation
      #                             # name or module:callable (then a linked
      #                             # entry is `Linked(function, policy)`)
      # policy: mirror              # linked, built from a function: mirror
      #                             # or minmax (linked_neurons.Linked)
      # arguments: {alpha_trainable: lkprelu_trainable}
      #                             # layer arguments taken from run keys

An entry with `base` is linked (its output has twice its input's units);
one without is single and is its own base. `activation_sets:` names lists of
activations for the grids (`paper`: the eight of the paper), so that adding
an activation adds no run to a grid that does not ask for it.

This module reads and checks the entries and never imports Keras: a run
carries the entries it builds (`run_entries`, its `activations` key) and
`linked_neurons.experiments.models` builds their layers.
"""

import importlib


def ConfigError(message):  # noqa: N802 (the table's error; table.py imports this module)
    from linked_neurons_core.table import ConfigError as error

    return error(message)

BUILD_KEYS = ("base", "layer", "function", "policy", "arguments")
KEYS = ("label",) + BUILD_KEYS
POLICIES = ("mirror", "minmax")


def _where(path, name):
    return f"experiment table {path}: activations.{name}"


def check(activations, sets, path):
    """Raise ConfigError, in one line naming the entry, for a malformed
    `activations` or `activation_sets` section."""
    if not isinstance(activations, dict) or not activations:
        raise ConfigError(f"experiment table {path}: `activations` must map each activation's "
                          "name to its entry (label, layer or function, base if linked)")
    for name, entry in activations.items():
        where = _where(path, name)
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: an entry is a mapping of {', '.join(KEYS)}")
        extra = sorted(set(entry) - set(KEYS))
        if extra:
            raise ConfigError(f"{where}: unknown key {extra[0]!r}; an entry has {', '.join(KEYS)}")
        if not isinstance(entry.get("label"), str) or not entry["label"].strip():
            raise ConfigError(f"{where}: give it a `label`, the name tables and figures print")
        base = entry.get("base")
        if base is not None:
            if base not in activations:
                raise ConfigError(f"{where}: its base {base!r} is not an activation of the table")
            if activations[base].get("base") is not None:
                raise ConfigError(f"{where}: its base {base!r} must be a single activation")
        if ("layer" in entry) == ("function" in entry):
            if base is not None and "layer" not in entry:
                if "function" not in activations[base]:
                    raise ConfigError(f"{where}: a linked entry without a `layer` links its base's "
                                      f"`function`; {base!r} has none: give this entry a layer")
            else:
                raise ConfigError(f"{where}: give it one of `layer` (a Keras layer class, "
                                  "module:Name) or `function` (an activation name or module:callable)")
        if "policy" in entry and entry["policy"] not in POLICIES:
            raise ConfigError(f"{where}: policy {entry['policy']!r}: use one of {', '.join(POLICIES)}")
        if not isinstance(entry.get("arguments", {}), dict):
            raise ConfigError(f"{where}: `arguments` maps layer arguments to run keys")
    for set_name, names in (sets or {}).items():
        if not isinstance(names, list) or not names:
            raise ConfigError(f"experiment table {path}: activation_sets.{set_name} must be a "
                              "list of activations")
        unknown = [n for n in names if n not in activations]
        if unknown:
            raise ConfigError(f"experiment table {path}: activation_sets.{set_name}: unknown "
                              f"activation {unknown[0]!r}: add it to `activations`")
        if set_name in activations:
            raise ConfigError(f"experiment table {path}: activation_sets.{set_name} has the name "
                              "of an activation: rename the set")


def base(activations, name):
    """The single activation `name` is built on (itself if it is single)."""
    return activations[name].get("base") or name


def is_linked(activations, name):
    return activations[name].get("base") is not None


def run_entries(activations, config):
    """The entries a run builds (its activation, that activation's base and
    `residual_activation`), without their labels: what the run carries in
    its configuration, so that an edit of an entry is another run."""
    names = [config["activation"], config.get("residual_activation")]
    if config["activation"] in activations:
        names.append(base(activations, config["activation"]))
    return {name: {k: v for k, v in activations[name].items() if k in BUILD_KEYS}
            for name in names if name in activations}


def resolve_object(reference, what):
    """`module:attribute` -> the attribute (ConfigError naming it if absent)."""
    module, sep, attribute = reference.partition(":")
    if not sep or not module or not attribute:
        raise ConfigError(f"{what}: {reference!r} is not module:name (e.g. linked_neurons:LKReLU)")
    try:
        target = importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(f"{what}: cannot import {module!r} ({error}): install it or fix the "
                          "module's name") from None
    try:
        for part in attribute.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise ConfigError(f"{what}: module {module!r} has no {attribute!r}") from None
    return target


class Vocabulary:
    """The activations of a table, for the code that names and groups them
    (tables, figures, claims): labels, linked or single, bases, order."""

    def __init__(self, activations, sets=None, path="(table)"):
        check(activations, sets or {}, path)
        self.activations = activations
        self.sets = sets or {}
        self.names = list(activations)

    @classmethod
    def from_table(cls, path=None):
        """The vocabulary of the table at `path` (default: the package's),
        read without resolving its runs."""
        from linked_neurons_core.table import default_table_path
        from linked_neurons_core.table import load_yaml

        path = path or default_table_path()
        raw = load_yaml(path)
        if not isinstance(raw, dict) or "activations" not in raw:
            raise ConfigError(f"experiment table {path}: it has no `activations` section")
        return cls(raw["activations"], raw.get("activation_sets"), path)

    def label(self, name):
        if name not in self.activations:
            raise ConfigError(f"unknown activation {name!r}: use one of {', '.join(self.names)}")
        return self.activations[name]["label"]

    def labels(self):
        """{name: label} in the table's order."""
        return {name: entry["label"] for name, entry in self.activations.items()}

    def is_linked(self, name):
        return name in self.activations and is_linked(self.activations, name)

    def base(self, name):
        return base(self.activations, name)

    def bases(self):
        """The single activations that some linked one is built on, in order."""
        linked_bases = {self.base(n) for n in self.names if self.is_linked(n)}
        return [n for n in self.names if n in linked_bases]

    def ordered(self, names):
        """`names` (any iterable) in the table's order; unknown names last."""
        names = set(names)
        return [n for n in self.names if n in names] + sorted(names - set(self.names))
