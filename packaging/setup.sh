#!/usr/bin/env bash
# Set up Dislocation Studio in ./.venv on a fresh machine.
#   bash packaging/setup.sh          # the application
#   bash packaging/setup.sh --dev    # plus the test tools
# Torch is installed first, pinned to the CPU build, and the same pin is a
# constraint for everything after it, so nothing pulls gigabytes of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

# Qt needs a few system libraries even offscreen; install only what is missing.
need=()
for pair in libEGL.so.1:libegl1 libGL.so.1:libgl1 libfontconfig.so.1:libfontconfig1 \
            libxkbcommon.so.0:libxkbcommon0 libxcb-cursor.so.0:libxcb-cursor0 \
            libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1 \
            libdbus-1.so.3:libdbus-1-3; do
    lib=${pair%%:*}; pkg=${pair##*:}
    ldconfig -p 2>/dev/null | grep -q "$lib" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing system libraries for Qt: ${need[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "setup: Qt needs these system packages, please install them: ${need[*]}" >&2
    fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
.venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
    || "${pip[@]}" torch==2.13.0
"${pip[@]}" -c packaging/constraints.txt -e ".${extras}"
echo "setup: ready (.venv)"
