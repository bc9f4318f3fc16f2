#!/usr/bin/env bash
# Wheels that a GPU image without Keras needs to run the benchmarks and the
# runner (Python ${DEVICE_PYTHON:-3.12}, manylinux x86_64): the versions installed here, so the
# device runs what the tests ran. The image is assumed to have jax, numpy,
# tensorboard, pyyaml, h5py, rich, absl-py, ml-dtypes, packaging and attrs.
#
#   bash benchmarks/device_wheels.sh [DIR]        # default: .whl (git-ignored)
#   # on the device, before the benchmark:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
python=${PYTHON:-python}
packages=(keras namex optree jsonschema jsonschema-specifications referencing rpds-py)
pins=()
for name in "${packages[@]}"; do
    version=$("$python" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name") ||
        { echo "device_wheels.sh: $name is not installed here; install .[pipeline] first" >&2; exit 2; }
    pins+=("$name==$version")
done
rm -rf "$dir" && mkdir -p "$dir"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version "${DEVICE_PYTHON:-3.12}" --implementation cp \
    "${platforms[@]}" -d "$dir" "${pins[@]}"
ls "$dir"
du -sh "$dir"
