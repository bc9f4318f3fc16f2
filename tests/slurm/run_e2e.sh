#!/usr/bin/env bash
# The end-to-end test through the SLURM profile, on a real one-node cluster:
# starts the cluster (cluster.sh up), runs the tiny configuration
# (tests/tiny.yaml) with `snakemake --profile profiles/slurm` in a
# clean copy of the repository, checks that every training run was a SLURM
# job (sacct) and that the PDF was built, and tears the cluster down whatever
# happens. Run as root from the repository root, in the project's venv.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/ln-slurm-e2e.XXXXXX)
START=$SECONDS

cleanup() {
    "$ROOT/tests/slurm/cluster.sh" down || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$ROOT/tests/slurm/cluster.sh" up
. "${SLURM_TEST_DIR:-/tmp/ln-slurm}/env.sh"

(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$ROOT" && xargs -0 cp --parents -t "$WORK")
cp "$ROOT/tests/tiny.yaml" "$WORK/tiny.yaml"
cd "$WORK"
python -m snakemake --profile profiles/slurm --configfile tiny.yaml > snakemake.log 2>&1 || {
    tail -n 60 snakemake.log; exit 1; }

# Distinct training runs: a run shared by two experiments is trained once.
expected=$(python - <<'PY'
import importlib.util
import yaml
# By path, as the Snakefile does: the package would import Keras.
spec = importlib.util.spec_from_file_location("table", "linked_neurons/experiments/table.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
tiny, table = yaml.safe_load(open("tiny.yaml")), module.Table("config/experiments.yaml")
runs = {table.trained_as(e, v, "quick", tiny["set"]) for e, vs in tiny["variants"].items() for v in vs}
print(len(runs) * len(tiny["seeds"]))
PY
)
jobs=$(sacct -a -X -n -P -S now-1day -o JobID,State,Comment | grep -c '|COMPLETED|rule_train_' || true)
submitted=$(grep -c 'has been submitted with SLURM jobid' snakemake.log || true)
echo "training runs expected: $expected; SLURM jobs of rule train COMPLETED in sacct: $jobs; submitted: $submitted"
[ "$jobs" -eq "$expected" ] || { echo "FAIL: not every training run was a SLURM job"; exit 1; }
[ "$submitted" -eq "$expected" ] || { echo "FAIL: only training runs are SLURM jobs; the light rules run locally"; exit 1; }
[ -s paper/paper.pdf ] || { echo "FAIL: paper/paper.pdf was not built"; exit 1; }
pdftotext paper/paper.pdf - | grep -q "Table 6" || { echo "FAIL: the PDF lacks its tables"; exit 1; }
echo "SLURM end-to-end: PASS in $((SECONDS - START)) s (cluster start included)"
