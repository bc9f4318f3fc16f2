#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install it into a fresh
# virtual environment outside the checkout and, from a folder outside the
# checkout, check the layers, the command line's one-line error without its
# extra, `linked-neurons list` (the packaged table, and --table with one's
# own), and one tiny training run.
#
#   bash tests/wheel/run.sh          # KEEP=1 keeps its temporary folder
#
# Versions come from requirements/pipeline.lock.txt (as constraints), so the
# run is the same as CI's and pip's cache serves it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
lock="$repo/requirements/pipeline.lock.txt"
tmp=$(mktemp -d)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$tmp"' EXIT; fi
start=$SECONDS
say() { echo "wheel: $* ($((SECONDS - start)) s)"; }
fail() { echo "wheel: FAILED: $*" >&2; exit 1; }

# Build from the checkout's own files (tracked, or new and not ignored): no
# stale build/ folder or egg-info of a developer's checkout gets in.
mkdir "$tmp/src" "$tmp/work"
(
    cd "$repo"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done |
        tar --null --no-recursion -T - -cf -
) | tar -xf - -C "$tmp/src"

python3 -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
bin="$tmp/venv/bin"
"$py" -m pip wheel -v --no-deps -w "$tmp/dist" "$tmp/src" > "$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "the wheel did not build"; }
if grep -iE "warning: .*deprecat|deprecationwarning" "$tmp/build.log"; then
    fail "setuptools warns that the project's metadata is deprecated"
fi
wheel=$(ls "$tmp/dist"/linked_neurons-*.whl)
say "built $(basename "$wheel") with $(grep -o 'setuptools-[0-9.]*' "$tmp/build.log" | head -1)"

# Package data: the run schema and the default table, the table the same as the checkout's.
listing=$("$py" -m zipfile -l "$wheel")
for data in linked_neurons_core/run.schema.yaml linked_neurons_core/experiments.yaml; do
    grep -q "^$data " <<< "$listing" || fail "$data is not in the wheel"
done
"$py" - "$wheel" "$repo/config/experiments.yaml" <<'PY' || fail "the wheel's table is not config/experiments.yaml"
import sys, zipfile
packaged = zipfile.ZipFile(sys.argv[1]).read("linked_neurons_core/experiments.yaml")
sys.exit(packaged != open(sys.argv[2], "rb").read())
PY

# Everything below runs outside the checkout, with nothing pointing into it.
cd "$tmp/work"
unset LINKED_NEURONS_TABLE PYTHONPATH
export KERAS_BACKEND=jax

# 1. The package and a backend, no extra of the command line: the layers work ...
pip_install() { "$bin/pip" install -q -c "$lock" "$@" > "$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; fail "pip install $*"; }; }
pip_install "$wheel[jax]"
say "installed linked-neurons[jax]"
"$py" - "$tmp" <<'PY'
import sys
import numpy as np
import linked_neurons

assert linked_neurons.__file__.startswith(sys.argv[1]), linked_neurons.__file__
y = linked_neurons.LKReLU()(np.array([[-1.0, 2.0]], dtype="float32"))
assert np.asarray(y).tolist() == [[0.0, 2.0, 1.0, 0.0]], y
print("wheel: LKReLU()([-1, 2]) =", np.asarray(y).tolist())
PY
# ... and the command line says in one line which extra it needs.
set +e
"$bin/linked-neurons" list > "$tmp/out" 2> "$tmp/err"
status=$?
set -e
cat "$tmp/err"
[ "$status" = 2 ] || fail "linked-neurons list without the cli extra exited $status, not 2"
[ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'pip install "linked-neurons\[cli\]"' "$tmp/err" ||
    fail "linked-neurons list without the cli extra: not a one-line error naming the extra"

# 2. With the extra: list, list with one's own table, and one tiny run.
pip_install "$wheel[cli,jax]"
say "installed linked-neurons[cli,jax]"
"$bin/linked-neurons" list | tee "$tmp/list"
grep -q "^width: " "$tmp/list" || fail "linked-neurons list did not list the packaged table"
"$py" - <<'PY'
# One's own table: the packaged one, and an experiment of one's own.
import copy
from importlib import resources
import yaml
table = yaml.safe_load(resources.files("linked_neurons_core").joinpath("experiments.yaml").read_text())
# A deep copy: PyYAML writes an object met twice as an alias, which tables refuse.
table["experiments"]["mine"] = {**copy.deepcopy(table["experiments"]["width"]), "title": "my own"}
open("mine.yaml", "w").write(yaml.safe_dump(table))
PY
"$bin/linked-neurons" --table mine.yaml list mine > "$tmp/mine"
grep -q "^mine: " "$tmp/mine" || fail "linked-neurons --table mine.yaml list did not read that table"
echo "wheel: --table mine.yaml: $(head -1 "$tmp/mine")"
"$bin/linked-neurons" train width w50_lkrelu --set epochs=1 --set max_train_samples=64 --out "$tmp/run"
[ -s "$tmp/run/metrics.json" ] || fail "the tiny run wrote no metrics.json"
say "trained one tiny run: $tmp/run/metrics.json"
echo "wheel: passed"
