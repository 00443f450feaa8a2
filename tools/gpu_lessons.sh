#!/usr/bin/env bash
# Lessons at full settings on the lent GPU machine, as one `run` command: install what running a
# notebook needs (from wheels carried along: that machine has no internet), then
# tools/run_lessons.py, which executes the lessons one after another into $OUT with a log.
#
# That machine has Python 3.12, torch, timm, transformers, matplotlib, tqdm and pytest, but no
# nbformat, nbclient, ipykernel or jupyter. Here, before the window:
#   bash tools/gpu_lessons.sh --download          # .gpu/wheels: nbclient, nbformat, ipykernel
#                                                 # and all they pull, for cp312 manylinux (17 MB)
#   bash tools/gpu_lessons.sh --download --slim   # .gpu/wheels.tar.xz: only what the device
#                                                 # lacks, stored uncompressed then xz'd (2.6 MB)
#   python tools/pack_data.py pack ~/.cache/minivision/data/cifar10-jpeg .gpu/cifar10-jpeg.pack
# (.gpu/ is in .git/info/exclude, so it travels only when carried.)
#
# The device tool carries at most 64 MiB (67,109 kB): the repository (about 6,600 kB), plus
#   .gpu/wheels (17,000 kB)                                fits: lessons that need no CIFAR-10
#   .gpu/cifar10-jpeg.pack (57,104 kB) + wheels.tar.xz (2,650 kB)   fits, about 750 kB spare
#   .gpu/cifar10-jpeg.pack + .gpu/wheels, full (17,000) or slim as wheels (3,980)  does NOT fit
# --download prints the total and says whether it fits. Why the tar.xz: a wheel is a zip that
# compresses each file alone; xz over the uncompressed wheels compresses across files, 1.5x less.
#
# There (lessons 06 and 07, 9 minutes per call at most; $OUT comes back):
#   run(command="LESSON_TIMEOUT=300 BUDGET=540 bash tools/gpu_lessons.sh 06 07",
#       carry=[".gpu"], timeout_s=600)
# Here, to try it first: MINIVISION_QUICK=1 OUT=/tmp/lessons-out bash tools/gpu_lessons.sh 00
# Environment: OUT (default build/lessons-gpu), LESSON_TIMEOUT (s per lesson, default 1800),
# BUDGET (s for all, default 540: the device tool stops a command at 600), PYTHON (python3);
# for --download, WHEEL_PYTHON (the device's Python version, 3.12).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=.gpu/wheels
SITE=.gpu/site  # where the wheels are installed: the device's own packages stay untouched
PACKAGES=(nbclient nbformat ipykernel)
# Not needed to run a notebook (debugger, completion) or already there beside pytest, matplotlib
# and transformers; the slim set leaves them out, and takes wcwidth's pure-Python 0.2.13.
SLIM_DROP=(debugpy jedi parso pygments packaging python_dateutil typing_extensions tzdata
           wcwidth six)

download() {  # here, with internet: the wheels for the device's Python
    rm -rf "$WHEELS" .gpu/wheels.tar.xz && mkdir -p "$WHEELS"
    local where=(--only-binary=:all: --python-version "${WHEEL_PYTHON:-3.12}"
                 --platform manylinux2014_x86_64
                 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
                 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d "$WHEELS")
    $PY -m pip download -q "${where[@]}" "${PACKAGES[@]}" || exit 1
    if [ "${1:-}" = --slim ]; then
        for name in "${SLIM_DROP[@]}"; do rm -f "$WHEELS/$name"-*.whl; done
        $PY -m pip download -q --no-deps "${where[@]}" "wcwidth==0.2.13" || exit 1
        $PY - "$WHEELS" <<'EOF'
import pathlib, sys, zipfile
for wheel in pathlib.Path(sys.argv[1]).glob("*.whl"):  # rewrite each one uncompressed
    with zipfile.ZipFile(wheel) as z:
        files = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as z:
        for info, data in files:
            info.compress_type = zipfile.ZIP_STORED
            z.writestr(info, data)
EOF
        tar cJf .gpu/wheels.tar.xz -C "$WHEELS" . && rm -rf "$WHEELS"
    fi
    local repo gpu
    repo=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } |
            xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s}')
    gpu=$(du -sb .gpu | cut -f1)
    echo ".gpu holds: $(ls .gpu | tr '\n' ' ')"
    echo "the repository $((repo / 1000)) kB + .gpu $((gpu / 1000)) kB =" \
         "$(((repo + gpu) / 1000)) kB of the 67108 kB (64 MiB) the device tool carries"
    [ $((repo + gpu)) -le 67108864 ] && echo "fits" || echo "does NOT fit: carry less"
}

install() {  # there: the wheels into $SITE, minivision's metadata
    export PYTHONPATH="$PWD:$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"
    if ! $PY -c "import nbclient, nbformat, ipykernel" 2>/dev/null; then
        if [ -f .gpu/wheels.tar.xz ]; then  # the slim set: exactly these wheels, no resolving
            local slim=/tmp/gpu-lessons-wheels
            rm -rf "$slim" && mkdir -p "$slim" && tar xJf .gpu/wheels.tar.xz -C "$slim" &&
            $PY -m pip install -q --no-index --no-deps --target "$SITE" "$slim"/*.whl
        elif [ ! -d "$WHEELS" ]; then
            echo "error: neither .gpu/wheels.tar.xz nor $WHEELS: run 'bash" \
                 "tools/gpu_lessons.sh --download [--slim]' here first, and carry .gpu" >&2
            return 1
        else
            $PY -m pip install -q --no-index --find-links "$WHEELS" --target "$SITE" \
                "${PACKAGES[@]}"
        fi || return 1
        $PY -c "import nbclient, nbformat, ipykernel, IPython" ||
            { echo "error: the wheels installed but do not import (see above);" \
                   "try the full set: bash tools/gpu_lessons.sh --download" >&2; return 1; }
    fi
    # The lessons' install cells read minivision's version from its metadata. pip -e needs
    # setuptools, which a bare Python 3.12 lacks; else write the metadata pip would write.
    if $PY -c "import importlib.metadata as m; m.version('minivision')" 2>/dev/null; then
        :  # installed already (here, or by an earlier call on the same machine)
    elif ! $PY -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null; then
        local version
        version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' minivision/__init__.py)
        mkdir -p "$SITE/minivision-$version.dist-info"
        printf 'Metadata-Version: 2.1\nName: minivision\nVersion: %s\n' "$version" \
            > "$SITE/minivision-$version.dist-info/METADATA"
    fi
    # No kernel to register: where no kernelspec "python3" exists, jupyter_client starts this
    # Python's ipykernel under that name (a --user kernelspec would outlive the run and take
    # over every other notebook run on the machine).
}

if [ "${1:-}" = --download ]; then download "${2:-}"; exit; fi
[ $# -gt 0 ] || { echo "usage: bash tools/gpu_lessons.sh 01 02 ... (or --download [--slim])" >&2
                  exit 2; }
OUT=${OUT:-build/lessons-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MINIVISION_DATA=${MINIVISION_DATA:-/tmp/minivision-data}
{
    echo "== install ($(date -u +%T))"
    install || exit 1
    $PY -c "from minivision import lesson; print(lesson.hardware())"
    if [ -f .gpu/cifar10-jpeg.pack ] && [ ! -d "$MINIVISION_DATA/cifar10-jpeg/train" ]; then
        echo "== unpack CIFAR-10 (JPEG copy) ($(date -u +%T))"
        $PY tools/pack_data.py unpack .gpu/cifar10-jpeg.pack "$MINIVISION_DATA/cifar10-jpeg"
    fi
    echo "== lessons $* ($(date -u +%T))"
    $PY tools/run_lessons.py "$@" --out "$OUT" --timeout "${LESSON_TIMEOUT:-1800}" \
        --budget "${BUDGET:-540}"
} 2>&1 | tee "$OUT/gpu_lessons.txt"
exit "${PIPESTATUS[0]}"
