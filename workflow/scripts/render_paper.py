"""Render paper/paper.tex from workflow/templates/paper.tex.j2, and
paper/numbers.json: every number of the prose with the runs it comes from.

Nothing in the prose is typed: numbers come from linked_neurons_core.analysis.numbers, the
claims' verdicts and counts from claims.py (results/SCALE/claims.json), the
method section's list of where this build follows the paper's text or its
authors' scripts from the experiment table (Table.protocol_differences)."""

from collections import Counter
from pathlib import Path

from latex import code_commit
from latex import template

from linked_neurons_core.analysis.names import use_table
from linked_neurons_core.analysis.numbers import numbers
from linked_neurons_core.analysis.tables import load_runs
from linked_neurons_core.analysis.tables import table_builder
from linked_neurons_core.io import atomic_write_json
from linked_neurons_core.io import atomic_write_text
from linked_neurons_core.io import read_json
from linked_neurons_core.table import Table


def protocol_rows(differences):
    """Table.protocol_differences grouped by setting: one row per (key, text
    value, scripts value, why), with the experiments (and variants) it concerns."""
    rows = {}
    for d in differences:
        key = (d["key"], repr(d["text"]), repr(d["scripts"]), d["why"])
        row = rows.setdefault(key, {**d, "where": []})
        row["where"].append(d["experiment"] if d["all_variants"]
                            else f"{d['experiment']} ({', '.join(d['variants'])})")
    return list(rows.values())


def provenance(experiments, figures):
    """What made each generated table and figure: rule, script, function."""
    rows = [{"output": f"tables/{e}.tex", "rule": "table", "script": "render_table.py",
             "function": f"tables.{table_builder(e).__name__}"} for e in experiments]
    rows.append({"output": "tables/claims.tex", "rule": "claims", "script": "claims.py",
                 "function": "claims.evaluate"})
    rows += [{"output": f"figures/{Path(f).name}", "rule": "figures", "script": "figures.py",
              "function": "figures.py"} for f in figures]
    rows.append({"output": "tables/cost.tex", "rule": "cost", "script": "cost.py",
                 "function": "cost.gpu_hours"})
    return rows


def devices(runs):
    """The devices the runs trained on, as they recorded them (a CPU with its
    instruction set: provenance.device), most runs first."""
    counts = Counter(name for table in runs.values() if "device" in table
                     for name in table["device"].dropna())
    return sorted(counts, key=lambda name: (-counts[name], name))


def main(sm):
    import logs

    logs.setup(sm)
    use_table(sm.config["table"])
    runs = load_runs(Path(sm.input.runs[0]).parent, sm.params.experiments)
    n = numbers(runs)
    claims = read_json(sm.input.claims)
    by_id = {c["id"]: c for c in claims["claims"]}
    table = Table(sm.params.table)
    protocol = table.protocol_differences(sm.params.scale, sm.params.experiments,
                                          overrides=sm.params.overrides)
    commit = code_commit()
    text = template(sm.input.template).render(
        experiments=sm.params.experiments, scale=sm.params.scale,
        n=n,
        claims=claims, claim=by_id, protocol=protocol_rows(protocol),
        used=sm.params.overrides.get("protocol", "text"),
        figures=bool(sm.input.figures), seeds=sorted({s for r in runs.values() for s in r["seed"]}),
        provenance=provenance(sm.params.experiments, sm.input.figures), commit=commit,
        devices=devices(runs),
        titles={e: table.resolve(e, table.variants(e)[0], sm.params.scale)["title"]
                for e in sm.params.experiments},
    )
    atomic_write_text(sm.output.tex, text)
    atomic_write_json(sm.output.numbers, n)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
