#!/usr/bin/env bash
# The end-to-end test through the SLURM profile, on a real one-node cluster:
# starts the cluster (cluster.sh up), runs the tiny configuration
# (tests/tiny.yaml) with `snakemake --profile profiles/slurm` in a
# clean copy of the repository, checks that every training group (the seeds
# of one variant; a timed group's, one job a seed) was one SLURM job (sacct)
# and that the PDF was built, and
# tears the cluster down whatever happens. Run as root from the repository root, in the project's venv.
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

# Training jobs, as workflow/rules/common.smk forms them: one job trains the
# selected seeds of one trained variant, its owner (experiment, variant); a
# variant that trains exactly like one of another experiment is that one's
# (Table 6's BN networks are Table 5's); a timed group (Table 6, alone on its
# node) is one job a seed.
expected=$(python - <<'PY'
import yaml
# The checkout's (this folder is first on sys.path), as the Snakefile's.
import linked_neurons_core.table as module
config = {**yaml.safe_load(open("config/config.yaml")), **yaml.safe_load(open("tiny.yaml"))}
table = module.Table(config["table"])
overrides = {"protocol": config["protocol"], **module.coerce_overrides(config["set"])}
timed = {}
for e in config["experiments"]:
    for v in config["variants"].get(e) or table.variants(e):
        owner = table.trained_as(e, v, config["scale"], overrides)
        run = table.resolve(e, v, config["scale"], overrides)
        timed[owner] = timed.get(owner, False) or run["timed"]
seeds = len(config["seeds"])
print(sum(seeds if t and config["exclusive_timing"] else 1 for t in timed.values()))
PY
)
# This run's jobs (sacct keeps earlier ones too).
ids=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\) .*/\1/p' snakemake.log | paste -sd, -)
submitted=$(grep -c 'has been submitted with SLURM jobid' snakemake.log || true)
jobs=$(sacct -X -n -P -j "${ids:-0}" -o JobID,State,Comment | grep -c '|COMPLETED|rule_train_' || true)
echo "training jobs expected: $expected; SLURM jobs of rule train COMPLETED in sacct: $jobs; submitted: $submitted"
[ "$jobs" -eq "$expected" ] || { echo "FAIL: not every training job (a group, or a timed run) was one SLURM job"; exit 1; }
[ "$submitted" -eq "$expected" ] || { echo "FAIL: only training runs are SLURM jobs; the light rules run locally"; exit 1; }
[ -s paper/paper.pdf ] || { echo "FAIL: paper/paper.pdf was not built"; exit 1; }
# (not `pdftotext | grep -q`: grep stops at the first match, pdftotext gets
# SIGPIPE, and under pipefail the pipeline fails once the PDF is long enough)
pdftotext paper/paper.pdf paper.txt
grep -q "Table 6" paper.txt || { grep -i "table" paper.txt | head -n 20; echo "FAIL: the PDF lacks its tables"; exit 1; }
echo "SLURM end-to-end: PASS in $((SECONDS - START)) s (cluster start included)"
