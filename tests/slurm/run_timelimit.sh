#!/usr/bin/env bash
# A training group that outlasts its SLURM time limit, on the real one-node
# cluster (cluster.sh): a time limit must be a pause, not a failure.
#
# The group of tests/slurm/timelimit.yaml (depth/relu at depth 3, seeds 100
# and 101, trained one after the other by one job) is trained with
# `snakemake --profile profiles/slurm --until train` and a time limit of one
# minute (`--set-resources train:runtime=1`, SLURM's smallest). SLURM sends
# the job's steps SIGTERM `stop_signal_seconds` (10) before the limit, or up
# to 30 s earlier (it looks at time limits every 30 s): 20 to 50 s after the
# job starts, of which the start-up (two snakemakes, Python, jax) takes 10 to
# 20 s. The training process saves and exits 143, the job ends FAILED, and the
# profile's retries submit the group again until it is done. The epochs are set
# from a short calibration run so that the group needs about
# LN_TIMELIMIT_TRAIN_SECONDS (85) of training: more than twice the most that
# one job trains here (about 40 s), so at least three jobs, about four.
#
# Checks, printed: the group took >= 3 SLURM jobs (snakemake's log and
# sacct), every job but the last ended FAILED, TIMEOUT or CANCELLED and the
# last COMPLETED (a job that finished its last epoch just before SIGTERM may
# end FAILED: the next one must then find every seed complete); each job that
# got SIGTERM while training printed
# "linked-neurons: interrupted: SIGTERM: ... saved after epoch E, batch B"
# and the next job that trained resumed exactly there (no job was killed
# before it saved; jobs stopped during their start-up had nothing to save);
# snakemake saw the training process itself exit 143, not its shell killed
# by the SIGTERM (then the step ends without waiting for the save, and SLURM
# kills the saving process with the step: the rule must `exec` it);
# every resume point in metrics.json is such a save; no lock is left; and
# the metrics equal those of the same runs trained uninterrupted here, beside
# the SLURM jobs, as the rule trains them (python -m linked_neurons train):
# best and final validation accuracy exactly, each epoch's losses and
# accuracies to 1e-6 relative.
#
# The rule's log is rewritten by each attempt: a poller copies it while each
# job runs (captured/JOBID.log in the work directory).
#
# Run as root from the repository root, in the project's venv. Starts the
# cluster and tears it down at the end (LN_SLURM_KEEP_CLUSTER=1 keeps it up,
# LN_TIMELIMIT_KEEP_WORK=1 the work directory; LN_TIMELIMIT_CONFIG another
# configuration of one group). 4 to 7 minutes, mostly waiting for SLURM.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/ln-slurm-timelimit.XXXXXX)
CONFIG=${LN_TIMELIMIT_CONFIG:-$ROOT/tests/slurm/timelimit.yaml}
TARGET=${LN_TIMELIMIT_TRAIN_SECONDS:-85}
# Enough for about twice the jobs expected (the profile's 5 is for real runs).
RETRIES=${LN_TIMELIMIT_RETRIES:-12}
START=$SECONDS
POLLER= REFERENCE= CALIBRATION=

cleanup() {
    local pid
    for pid in $POLLER $REFERENCE $CALIBRATION; do kill "$pid" 2>/dev/null; done
    [ "${LN_SLURM_KEEP_CLUSTER:-0}" = 1 ] || "$ROOT/tests/slurm/cluster.sh" down || true
    if [ "${LN_TIMELIMIT_KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$ROOT" && xargs -0 cp --parents -t "$WORK")
cd "$WORK"

# The training environment of the rule train (workflow/rules/train.smk) at the
# quick scale (threads 1), for the local runs; the same jax compilation cache.
local_train() {
    # shellcheck disable=SC2046 # VAR=value words, split on purpose
    env KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3 $(python -m linked_neurons_core.threads 1) \
        JAX_COMPILATION_CACHE_DIR=results/.jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
        XLA_PYTHON_CLIENT_PREALLOCATE=false \
        python -m linked_neurons train "$@"
}
read -r EXPERIMENT VARIANT SEEDS SETS < <(python - "$CONFIG" <<'PY'
import json, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
[experiment] = c["experiments"]
[variant] = c["variants"][experiment]
sets = ",".join(f"{k}={json.dumps(v)}" for k, v in c["set"].items())
print(experiment, variant, ",".join(map(str, c["seeds"])), sets)
PY
)
SEEDS=${SEEDS//,/ }
set_args=()
for kv in ${SETS//,/ }; do set_args+=(--set "$kv"); done

# Calibration (the seconds of an epoch here, from a short run) while the
# cluster starts.
local_train "$EXPERIMENT" "$VARIANT" --seed 100 --out calibration "${set_args[@]}" \
    --set epochs=25 > calibration.log 2>&1 &
CALIBRATION=$!
"$ROOT/tests/slurm/cluster.sh" up
. "${SLURM_TEST_DIR:-/tmp/ln-slurm}/env.sh"
wait "$CALIBRATION" || { tail -n 30 calibration.log; fail "the calibration run failed"; }
CALIBRATION=
EPOCHS=$(python - "$TARGET" $SEEDS <<'PY'
import json, math, statistics, sys
target, seeds = float(sys.argv[1]), len(sys.argv[2:])
history = json.load(open("calibration/metrics.json"))["history"]
epoch = statistics.median(h["wall"] for h in history[1:])
print(max(40, math.ceil(target / (seeds * epoch))))
PY
)
echo "calibration: $EPOCHS epochs a seed make about $TARGET s of training for seeds $SEEDS"
python - "$CONFIG" "$EPOCHS" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["set"]["epochs"] = int(sys.argv[2])
yaml.safe_dump(c, open("timelimit.yaml", "w"))
PY

# The same runs, uninterrupted, beside the SLURM jobs.
local_train "$EXPERIMENT" "$VARIANT" --seed $SEEDS --out 'reference/{seed}' "${set_args[@]}" \
    --set epochs="$EPOCHS" > reference.log 2>&1 &
REFERENCE=$!

# While a job of the rule runs, copy the rule's log once it is newer than the
# job's start (each attempt truncates it).
mkdir -p captured
(
    set +e
    while sleep 0.5; do
        squeue -h -t R,CG -o '%A|%k|%S' 2>/dev/null | while IFS='|' read -r job comment started; do
            case "$comment" in rule_train_*) ;; *) continue ;; esac
            since=$(date -d "$started" +%s 2>/dev/null) || continue
            for f in logs/quick/train/*/*.log; do
                if [ -f "$f" ] && [ "$(stat -c %Y "$f")" -ge "$since" ]; then
                    cp "$f" "captured/$job.log"
                fi
            done
        done
    done
) &
POLLER=$!

# Status checks from 2 s after a submission (the profile's 5), then every
# 12, 22, 32 ... s (the plugin's schedule): a stopped job is seen sooner.
SLURM_START=$SECONDS
timeout 1200 python -m snakemake --profile profiles/slurm --configfile timelimit.yaml \
    --until train --set-resources train:runtime=1 --retries "$RETRIES" \
    --slurm-init-seconds-before-status-checks 2 > snakemake.log 2>&1 || {
    tail -n 60 snakemake.log; fail "snakemake did not finish the group"; }
SLURM_WALL=$((SECONDS - SLURM_START))
kill "$POLLER"; wait "$POLLER" 2>/dev/null || true
POLLER=
wait "$REFERENCE" || { tail -n 30 reference.log; fail "the reference run failed"; }
REFERENCE=

# This run's jobs of the rule, in order (sacct keeps earlier ones too).
ids=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\) .*/\1/p' snakemake.log | paste -sd, -)
submitted=$(grep -c 'has been submitted with SLURM jobid' snakemake.log || true)
[ -n "$ids" ] || fail "snakemake submitted no SLURM job"
sacct -X -n -P -j "$ids" -o JobID,State,ExitCode,Elapsed,Start,End,Comment | grep '|rule_train_' > sacct.txt || true

python - "$submitted" "$EPOCHS" $SEEDS <<'PY' || exit 1
import datetime, glob, json, math, os, pathlib, re, sys

submitted, epochs, seeds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
problems = []
jobs = [line.split("|")[:6] for line in open("sacct.txt").read().splitlines()]
saved = re.compile(r"interrupted: SIGTERM: \S+ seed (\d+) saved after epoch (\d+), batch (\d+)")
resumed = re.compile(r"resuming \S+/(\d+) after epoch (\d+), batch (\d+)")
done = re.compile(r"^done: \S+ seed (\d+)", re.M)
complete = re.compile(r"INFO \S+/(\d+) is complete; nothing to do")

print(f"SLURM jobs of the rule train: {submitted} submitted (snakemake's log), {len(jobs)} in sacct")
pauses, pending, finished, finished_by = [], None, [], None
for i, (job, state, code, elapsed, started, ended) in enumerate(jobs):
    path = f"captured/{job}.log"
    text = open(path, errors="replace").read() if os.path.exists(path) else ""
    last = i == len(jobs) - 1
    expected = ("COMPLETED",) if last else ("FAILED", "TIMEOUT", "CANCELLED")
    if state not in expected:
        problems.append(f"job {job} ended {state}, not {' or '.join(expected)}")
    if finished_by:
        # A job can finish its last epoch just before SIGTERM and still end
        # FAILED; what it saved must stand: the next job finds every seed
        # complete and trains nothing.
        if sorted(complete.findall(text)) != sorted(seeds):
            problems.append(f"job {finished_by} finished the group and ended FAILED, but job "
                            f"{job} did not find every seed complete: {complete.findall(text)}")
        finished_by = None
    points = resumed.findall(text)
    if pending and points:  # the first job to train after a save
        if pending not in points:
            problems.append(f"job {job} resumed at {points}, not where the last save was: {pending}")
        pending = None
    stop = saved.search(text)
    slurm_log = "".join(open(f, errors="replace").read() for f in
                        glob.glob(f".snakemake/slurm_logs/rule_train/*/{job}.log"))
    if "SIGTERM received" in text and "died with <Signals.SIGTERM" in slurm_log:
        # The shell died of the signal before the training process, and
        # snakemake and the step ended without waiting for it: where SLURM
        # kills a step's leftovers (cgroup, pgid) the save races that kill.
        problems.append(f"job {job}: the rule's shell died of SIGTERM before the training process "
                        "had saved, and the step ended without waiting for it; where SLURM kills "
                        "a step's leftovers the save races that kill (the rule must `exec` the "
                        "training process, tests/slurm/README.md)")
    if points or stop:  # it trained: the seeds finished before are kept, not trained again
        again = [seed for seed in finished if seed not in complete.findall(text)]
        if again:
            problems.append(f"job {job} trained seeds {again} again, finished by an earlier job")
    if stop:
        finished = seeds[:seeds.index(stop.group(1))]
        pending = stop.groups()
        pauses.append(pending)
        what = f"SIGTERM: saved seed {pending[0]} after epoch {pending[1]}, batch {pending[2]}"
    elif sorted(done.findall(text)) == sorted(seeds):
        what = "finished the group"
        if not last:  # SIGTERM came after the last epoch: the next job must train nothing
            finished_by = job
    elif "SIGTERM received" in text:
        what = "SIGTERM while training: KILLED BEFORE IT SAVED"
        problems.append(f"job {job} got SIGTERM while training and was killed before it saved:\n"
                        + "\n".join(text.splitlines()[-5:]))
    else:
        what = "stopped in its start-up, before training (nothing to save)"
    start = f"resumed at {points}; " if points else ""
    if "exit status 143" in slurm_log:
        what += " (training exited 143)"
    elif "died with <Signals.SIGTERM" in slurm_log:
        what += " (the shell was killed by SIGTERM)"
    signal = re.search(r"CANCELLED AT (\S+) \*\*\*", slurm_log)  # slurmstepd's note of the signal
    if signal:
        at = datetime.datetime.fromisoformat
        sent = at(signal.group(1))
        what += (f"; SIGTERM {(sent - at(started)).total_seconds():.0f} s after the start, "
                 f"the job ended {(at(ended) - sent).total_seconds():.0f} s later")
    print(f"  job {job}: {state:9} exit {code:4} after {elapsed}: {start}{what}")
print(f"paused by SIGTERM and resumed: {len(pauses)}")
if submitted < 3 or len(jobs) != submitted:
    problems.append(f"{submitted} submissions ({len(jobs)} in sacct): the group did not "
                    "outlast two time limits")

groups = sorted(pathlib.Path("results/quick/runs").glob("*/*"))
if len(groups) != 1:
    problems.append(f"expected one group directory, found {groups}")
for seed in seeds:
    run = groups[0] / seed
    if not (run / "metrics.json").exists():
        problems.append(f"{run}/metrics.json is missing")
        continue
    got = json.load(open(run / "metrics.json"))
    ref = json.load(open(f"reference/{seed}/metrics.json"))
    if list(run.glob(".lock*")):
        problems.append(f"locks left behind: {list(run.glob('.lock*'))}")
    print(f"seed {seed}: resumed at {got['resumed_at']}; best val_accuracy "
          f"{got['best_val_accuracy']} (uninterrupted {ref['best_val_accuracy']}), final "
          f"{got['final_val_accuracy']} (uninterrupted {ref['final_val_accuracy']})")
    for point in got["resumed_at"]:
        if (seed, *map(str, point)) not in pauses:
            problems.append(f"seed {seed} resumed at {point}, which no SIGTERM saved")
    if got["fingerprint"]["config"] != ref["fingerprint"]["config"]:
        problems.append(f"seed {seed}: the reference is another configuration")
    for key in ("best_val_accuracy", "final_val_accuracy", "best_epoch", "epochs_run", "diverged"):
        if got[key] != ref[key]:
            problems.append(f"seed {seed}: {key} {got[key]} != {ref[key]} uninterrupted")
    if not len(got["history"]) == len(ref["history"]) == epochs:
        problems.append(f"seed {seed}: {len(got['history'])} epochs, uninterrupted "
                        f"{len(ref['history'])}, planned {epochs}")
    for a, b in zip(got["history"], ref["history"]):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if not math.isclose(a[key], b[key], rel_tol=1e-6, abs_tol=1e-12):
                problems.append(f"seed {seed} epoch {a['epoch']}: {key} {a[key]} != {b[key]}")
                break
if problems:
    print("FAIL:\n- " + "\n- ".join(problems))
    sys.exit(1)
PY
echo "SLURM time limit: PASS: $submitted submissions; snakemake $SLURM_WALL s, $((SECONDS - START)) s in all (cluster start included)"
