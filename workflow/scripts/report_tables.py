"""The report's tables (`snakemake --report report.html`): CSV files and the
same tables as self-contained HTML pages, sortable and filterable, that the
report shows in place (Snakemake's report shows HTML, images and PDFs; it
offers a CSV file as a download only).

Three rules run this script (workflow/rules/report.smk), each with its function:

- `report_table`: an experiment's per-run table (EXPERIMENT_runs.csv) as HTML,
  `html_table`;
- `runs_page`: every run of the build with its configuration, best accuracy,
  convergence, divergence and the published value, `runs_page`;
- `claims_table`: the paper's claims with their verdicts (claims.json) as one
  row per claim, `claims_rows`.

The HTML pages need no server and load nothing: the data, the style and the
sorting code are in the file.
"""

import base64
import html
import json
import math
from pathlib import Path

import pandas as pd

from linked_neurons_core.analysis.claims import FLAGS
from linked_neurons_core.analysis.names import names
from linked_neurons_core.analysis.names import use_table
from linked_neurons_core.analysis.published import read_published
from linked_neurons_core.analysis.units import units
from linked_neurons_core.io import atomic_write_text

#: The configuration columns of the runs page, in this order (extract.CONFIG_KEYS).
CONFIG_COLUMNS = ("architecture", "activation", "normalization", "width_multiplier",
                  "width_scale", "filters", "input_offset", "optimizer.name",
                  "optimizer.learning_rate", "lr_boundaries", "epochs", "batch_size", "dataset",
                  "image_size", "augment", "early_stopping", "protocol")
#: The results columns of the runs page, in this order (extract.SUMMARY_KEYS and more).
RESULT_COLUMNS = ("test_accuracy", "best_test_accuracy", "best_val_accuracy", "best_epoch",
                  "epochs_run", "final_val_accuracy", "status", "convergence", "diverged",
                  "diverged_epoch", "stopped_early",
                  "dead_units", "wall_seconds", "device", "device_exclusive")
#: What the columns of the per-run tables mean (shown when hovering a column's name).
COLUMN_HELP = {
    "experiment": "the experiment (an article table) the run is listed in",
    "table": "the article's table this experiment reproduces",
    "variant": "the experiment's variant (a network and its training)",
    "seed": "the run's random seed",
    "run": "the run's directory (metrics.json, config.json, TensorBoard events)",
    "config_digest": "a digest of the configuration the run trained with",
    "unit": "the table cell the run counts in (its variant; for All-CNN, its activation "
            "under the best learning-rate policy); empty: the run is in no cell",
    "best_val_accuracy": "the best validation accuracy over the run's epochs (what chooses)",
    "test_accuracy": "the test accuracy at the epoch of the best validation accuracy (reported)",
    "best_test_accuracy": "the best test accuracy over the epochs (the paper's measure)",
    "status": "converged, still improving, collapsed, stuck, too short or diverged "
              "(linked_neurons_core/metrics.py)",
    "published": "the paper's value for the run's table cell",
    "best_minus_published": "the run's test accuracy minus the published value",
    "published_time_ratio": "the paper's wall-time ratio to LK-ReLU without BN (Table 6)",
    "converged": "whether the run had stopped improving by its last epochs "
                 "(linked_neurons_core/metrics.py)",
    "convergence": "why the run counts as converged or not",
    "diverged": "whether the run's loss became NaN or infinite",
    "diverged_epoch": "the epoch at which it did",
    "wall_seconds": "the run's whole training time",
    "dead_units": "units whose output is constant on every validation sample, all layers",
}

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em; color: #111; background: #fff; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
p { margin: .3em 0; max-width: 60em; }
.made { color: #555; font-size: .9em; }
input { margin: .5em 0; padding: .3em; width: 24em; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; white-space: nowrap; }
th { background: #eee; cursor: pointer; position: sticky; top: 0; user-select: none; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.yes { background: #e6f4e6; } td.no { background: #fbe9e9; }
tr:hover td { background: #f4f4ff; }
"""

SCRIPT = """
(function () {
  var table = document.getElementById("table");
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function key(cell) { return cell.getAttribute("data-v"); }
  function compare(a, b, numeric) {
    if (a === "" || b === "") { return (a === "") - (b === ""); }
    return numeric ? parseFloat(a) - parseFloat(b) : a.localeCompare(b, undefined, {numeric: true});
  }
  Array.prototype.forEach.call(heads, function (th, column) {
    th.addEventListener("click", function () {
      var descending = th.classList.contains("asc");
      Array.prototype.forEach.call(heads, function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(descending ? "desc" : "asc");
      var numeric = th.getAttribute("data-type") === "num";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (x, y) {
        var c = compare(key(x.cells[column]), key(y.cells[column]), numeric);
        return descending ? -c : c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  filter.addEventListener("input", function () {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var n = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var text = row.textContent.toLowerCase();
      var match = words.every(function (w) { return text.indexOf(w) >= 0; });
      row.style.display = match ? "" : "none";
      n += match;
    });
    shown.textContent = n;
  });
})();
"""


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric(series):
    values = [v for v in series if not _missing(v)]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                for v in values)


def _shown(value):
    """A cell's text: floats to four significant digits, booleans as yes/no."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def _cell(value, numeric):
    shown = _shown(value)
    key = "" if _missing(value) else (repr(float(value)) if numeric else shown)
    css = "num" if numeric else ({True: "yes", False: "no"}[value] if isinstance(value, bool)
                                 else "")
    attributes = f' data-v="{html.escape(key)}"' + (f' class="{css}"' if css else "")
    return f"<td{attributes}>{html.escape(shown)}</td>"


def _booleans(frame):
    """Columns of True/False (pandas reads them as bool or object) as booleans."""
    frame = frame.copy()
    for column in frame.columns:
        values = [v for v in frame[column] if not _missing(v)]
        if values and all(isinstance(v, bool) or v in ("True", "False") for v in values):
            frame[column] = [None if _missing(v) else v in (True, "True") for v in frame[column]]
    return frame


def html_table(frame, title, description, made_by, csv_name, help=COLUMN_HELP):
    """A self-contained HTML page of `frame`: click a column's name to sort by
    it (again: descending), type words to keep the rows that have them all;
    the table's CSV (`csv_name`) is inside, to download."""
    csv = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    frame = _booleans(frame)
    numeric = {column: _numeric(frame[column]) for column in frame.columns}
    head = "".join(
        f'<th data-type="{"num" if numeric[c] else "text"}"'
        + (f' title="{html.escape(help[c])}"' if c in help else "")
        + f">{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "\n".join(
        "<tr>" + "".join(_cell(v, numeric[c]) for c, v in zip(frame.columns, row)) + "</tr>"
        for row in frame.itertuples(index=False))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(description)}</p>
<p class="made">{html.escape(made_by)}
<a download="{html.escape(csv_name)}" href="data:text/csv;charset=utf-8;base64,{csv}">Download
{html.escape(csv_name)}</a></p>
<p><input id="filter" type="search" placeholder="Filter: words that a row must contain">
<span id="shown">{len(frame)}</span> of {len(frame)} rows. Click a column's name to sort
by it; click again to reverse.</p>
<table id="table"><thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""


def runs_page(runs_by_experiment, published, tables):
    """Every run of the build: one row per (experiment, variant, seed) with its
    configuration, results and the published value of the table cell it counts in."""
    rows = []
    for experiment, runs in runs_by_experiment.items():
        cell_of = {}
        for unit, group in units(experiment, runs).items():
            for index in group.index:
                cell_of[index] = unit
        for index, run in runs.iterrows():
            unit = cell_of.get(index)
            row = {"experiment": experiment, "table": tables.get(experiment),
                   "variant": run["variant"], "seed": int(run["seed"]), "unit": unit}
            row.update({key: run.get(key) for key in CONFIG_COLUMNS if key in runs})
            row.update({key: run.get(key) for key in RESULT_COLUMNS if key in runs})
            value, ratio = None, None
            if published is not None and len(published) and unit is not None:
                match = published[(published["experiment"] == experiment)
                                  & (published["variant"] == unit)]
                if len(match):
                    value = float(match["best_val_accuracy"].iloc[0])
                    if "wall_seconds" in match and not _missing(match["wall_seconds"].iloc[0]):
                        ratio = float(match["wall_seconds"].iloc[0])
            row["published"] = value
            best = run.get("test_accuracy", run.get("best_val_accuracy"))
            row["best_minus_published"] = None
            if value is not None and not _missing(best):
                row["best_minus_published"] = float(best) - value
            if names().kind(experiment) == "timed":
                row["published_time_ratio"] = ratio
            rows.append(row)
            row["run"] = run["run"]  # the last column
    frame = pd.DataFrame(rows)
    return frame[[c for c in frame.columns if c != "run"] + ["run"]]


def claims_rows(claims):
    """One row per claim of claims.json: source, claim, the paper's evidence and
    verdict, this build's evidence and verdict, the runs it rests on, and the
    runs and cells it names (claims.FLAGS: not converged, collapsed, stuck, at
    chance, seeds split between chance and learning, diverged), as the PDF's
    claims table prints them."""
    columns = ["id", "origin", "source", "quote", "claim", "paper_evidence", "paper_verdict",
               "evidence", "verdict", "runs", *FLAGS]
    return pd.DataFrame([{
        "id": c["id"],
        "origin": c.get("origin", "paper"),
        "source": c["source"],
        "quote": c.get("quote", ""),
        "claim": " ".join(str(c["claim"]).split()),
        "paper_evidence": c.get("paper_evidence") or "",
        "paper_verdict": c.get("paper_verdict") or "",
        "evidence": c["evidence"],
        "verdict": c["verdict"],
        "runs": len(c.get("runs", [])),
        **{flag: "; ".join(c.get(flag, [])) for flag in FLAGS},
    } for c in claims["claims"]], columns=columns)


def made_by(rule, function):
    return (f"Made by rule {rule}, workflow/scripts/report_tables.py, "
            f"report_tables.{function} (snakemake --report).")


def report_table(sm):
    experiment = sm.wildcards.experiment
    runs = pd.read_csv(sm.input.runs)
    title = f"{experiment}: every run ({sm.params.table}, {sm.params.scale} scale)"
    description = (f"{sm.params.title}. One row per run: its variant and seed, the "
                   f"configuration it trained with and its results, from {sm.input.runs} "
                   "(rule extract, workflow/scripts/extract.py, extract.extract_run).")
    atomic_write_text(sm.output.html, html_table(
        runs, title, description, made_by("report_table", "html_table"),
        Path(sm.input.runs).name))


def runs_page_job(sm):
    runs = {e: pd.read_csv(path) for e, path in zip(sm.params.experiments, sm.input.runs)}
    published = read_published(sm.params.published_dir) if sm.input.published else None
    frame = runs_page(runs, published, sm.params.tables)
    atomic_write_text(sm.output.csv, frame.to_csv(index=False))
    title = f"Every run of this build ({sm.params.scale} scale)"
    description = (
        f"{len(frame)} runs of {len(runs)} experiments: each with its configuration, its test "
        "accuracy at the epoch validation chose and its best test accuracy over the epochs, its "
        "status (converged, still improving, collapsed, stuck, diverged), and the paper's "
        "published value for the table cell it counts in (best_minus_published: its test "
        "accuracy minus that value). A run shared by two experiments is listed under each.")
    atomic_write_text(sm.output.html, html_table(
        frame, title, description, made_by("runs_page", "runs_page"), Path(sm.output.csv).name))


def claims_job(sm):
    with open(sm.input.claims, encoding="utf-8") as f:
        claims = json.load(f)
    frame = claims_rows(claims)
    atomic_write_text(sm.output.csv, frame.to_csv(index=False))
    counts = ", ".join(f"{n} {verdict}" for verdict, n in claims["counts"].items())
    description = (f"The paper's claims (config/claims.yaml), each judged by code on this "
                   f"build's runs and on the paper's published values ({counts}). "
                   "paper_evidence and paper_verdict: the published values judged the same way; "
                   "evidence and verdict: this build's runs (rule claims, "
                   "workflow/scripts/claims.py, claims.evaluate).")
    atomic_write_text(sm.output.html, html_table(
        frame, f"The claims ({sm.params.scale} scale)", description,
        made_by("claims_table", "claims_rows"), Path(sm.output.csv).name))


#: rule -> its job.
JOBS = {"report_table": report_table, "runs_page": runs_page_job, "claims_table": claims_job}

if __name__ == "__main__" and "snakemake" in globals():
    import logs

    log = logs.setup(snakemake, "report_tables")  # noqa: F821
    use_table(snakemake.config["table"])  # noqa: F821
    JOBS[snakemake.rule](snakemake)  # noqa: F821
    log.info("wrote %s", ", ".join(snakemake.output))  # noqa: F821
