#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image, with
# autograder.zip unpacked in /autograder/source.  Built by `grade-autograder`
# from grader/gradescope_files/setup.sh; the placeholders (upper-case names
# between @ signs) are filled in then.
#
# Needs Python >= 3.11 (pyproject.toml): pick the Ubuntu 24.04 base image in
# Gradescope's autograder settings (22.04 has Python 3.10).
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
MNIST_CACHE="$ROOT/cache"
# TORCH_INDEX: where the CPU build of torch comes from; a mirror, or (with PIP_FIND_LINKS naming a
# folder of wheels) a machine without download.pytorch.org, may override it.
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the grader's strongest sandbox layer (it falls back to rlimits where
# the container forbids namespaces); python3-venv: Ubuntu's python3 lacks venv.
apt-get install -y --no-install-recommends bubblewrap python3-venv

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: python3 is $(python3 -V 2>&1) but the grader needs >= 3.11;" \
         "choose the Ubuntu 24.04 base image in Gradescope's autograder settings" >&2
    exit 1
fi

python3 -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
# The CPU wheel first, so installing the grader finds the pin satisfied and never
# pulls the CUDA build from PyPI (gigabytes larger; Gradescope has no GPU).
"$VENV/bin/pip" install --index-url "$TORCH_INDEX" "@TORCH_REQUIREMENT@"
"$VENV/bin/pip" install "$SOURCE"

# MNIST once, with the grader's own downloader (it tries its mirrors and checks
# every file's digest), into the cache that run_autograder names in GRADER_MNIST_DIR.
env -u GRADER_MNIST_DIR XDG_CACHE_HOME="$MNIST_CACHE" "$VENV/bin/python" -c \
    'from grader.mnist import load_mnist; print("MNIST:", load_mnist(progress=False).source)'
# Fail the build now, not every submission later, if the copy landed anywhere else.
"$VENV/bin/python" -c \
    'import sys; from pathlib import Path; from grader.mnist import load_mnist; load_mnist(Path(sys.argv[1]))' \
    "$MNIST_CACHE/nn-grader/mnist"
