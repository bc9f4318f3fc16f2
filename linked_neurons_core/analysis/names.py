"""What the analysis names and how it lays tables out: the experiment table's
activations (`activations:`) and each experiment's `layout:`, as data.

A layout says how an experiment's runs become a table and how its units (a
table cell's runs) are named. Its `kind`:

- `variants`: one row a variant (the default: an experiment of a user's own);
- `grid`: one column an activation, one row a value of the run key `rows`
  (none: one row, `row_label`); `unit_label` names a unit from its run keys;
- `max_median`: one row a variant, its best and median run;
- `linking`: one row a single activation with its sqrt2-wide and linked
  variants (`{base}`, `{base}_sqrt2`, the linked one), and their parameters;
- `best_policy`: one column an activation, whose unit is the variant (a
  learning-rate policy, `{activation}_{policy}`) with the best validation
  accuracy; one row a policy below it;
- `timed`: one column a variant, with each variant's training time over
  `reference`'s; `suffixes` names a variant's part after its activation.

`beyond` lists the variants beyond the paper (marked so); `labels` names
variants that are not an activation's.
"""

from linked_neurons_core.table import default_table_path
from linked_neurons_core.table import load_yaml
from linked_neurons_core.table import merge
from linked_neurons_core.vocabulary import Vocabulary


def whole(value):
    """A float that is a whole number as an int (10.0: 10), else the value."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Names:
    """A table's vocabulary and layouts, for the code that names and groups runs."""

    def __init__(self, path=None):
        path = path or default_table_path()
        raw = load_yaml(path)
        self.vocab = Vocabulary(raw["activations"], raw.get("activation_sets"), path)
        default = (raw.get("defaults") or {}).get("layout") or {"kind": "variants"}
        self.layouts = {e: merge(default, spec.get("layout") or {})
                        for e, spec in (raw.get("experiments") or {}).items()}
        self.published = {e: spec.get("published") for e, spec in (raw.get("experiments") or {}).items()}
        self.templates = {e: [v.get("name") for v in spec.get("variants") or []
                              if isinstance(v, dict) and "grid" in v]
                          for e, spec in (raw.get("experiments") or {}).items()}

    def layout(self, experiment):
        """An experiment's layout (the default's for one the table lacks)."""
        return self.layouts.get(experiment) or {"kind": "variants"}

    def kind(self, experiment):
        return self.layout(experiment)["kind"]

    def beyond(self, experiment, variant):
        return variant in (self.layout(experiment).get("beyond") or [])

    def label(self, activation):
        return self.vocab.label(activation)

    def by_label(self):
        """{label: activation}: the table's activations by the label a published table prints."""
        return {label: name for name, label in self.vocab.labels().items()}

    def linked_of(self, base):
        """The linked activation built on the single `base` (None if none is)."""
        vocab = self.vocab
        return next((a for a in vocab.names if vocab.is_linked(a) and vocab.base(a) == base), None)

    def columns(self, runs):
        """The activations of a table's runs, in the experiment table's order."""
        return self.vocab.ordered(runs["activation"].dropna().unique()) if len(runs) else []

    def variant_label(self, experiment, variant, latex=False):
        """A variant named by its activation's label and its suffix: "ReLU
        sqrt2", "LK-SELU No BN"; one that is no activation's by `labels` (or
        its name), marked when beyond the paper."""
        layout = self.layout(experiment)
        base, _, suffix = variant.partition("_")
        if base in self.vocab.activations:
            suffixes = {"sqrt2": r"$\sqrt{2}$" if latex else "sqrt2", **(layout.get("suffixes") or {})}
            text = self.label(base) + (f" {suffixes.get(suffix, suffix)}" if suffix else "")
        else:
            text = (layout.get("labels") or {}).get(variant, variant)
        if latex:
            text = text.replace("_", r"\_")
        return text + (" (beyond the paper)" if latex and self.beyond(experiment, variant) else "")

    def variants_by_label(self, experiment):
        """{label: variant} of the variants `variant_label` can name: every
        activation, with each suffix of the layout, and its `labels`."""
        layout = self.layout(experiment)
        suffixes = ["", "sqrt2", *(layout.get("suffixes") or {})]
        out = {self.variant_label(experiment, f"{a}_{s}" if s else a): f"{a}_{s}" if s else a
               for a in self.vocab.names for s in suffixes}
        out.update({text: variant for variant, text in (layout.get("labels") or {}).items()})
        return out

    def unit_label(self, experiment, unit, rows=None):
        """A unit's name as the claims print it (the unit itself if unknown):
        a grid's by its `unit_label` over the unit's run keys."""
        layout = self.layout(experiment)
        try:
            if layout["kind"] == "grid":
                keys = rows.iloc[0].to_dict() if rows is not None and len(rows) else {}
                keys["activation"] = self.label(keys.get("activation", unit))
                return layout.get("unit_label", "{activation}").format(
                    **{k: whole(v) for k, v in keys.items()})
            if layout["kind"] == "best_policy":
                return self.label(unit)
            return self.variant_label(experiment, unit)
        except (KeyError, ValueError, IndexError):
            return unit

    def variant_name(self, experiment, **keys):
        """The name of a grid's variant for these run keys (its `name`
        template in the experiment table), or None."""
        for template in self.templates.get(experiment, []):
            try:
                return template.format(**keys)
            except (KeyError, AttributeError):
                continue
        return None


#: The names of the pipeline's table (`use_table` reads another's).
NAMES = Names()


def use_table(path):
    """Name and lay out as the table at `path` does (the pipeline's `table`)."""
    global NAMES
    NAMES = Names(path)
    return NAMES


def names():
    return NAMES
