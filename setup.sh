#!/usr/bin/env bash
# The README's first command: bubblewrap (the sandbox's strongest layer) where this user may
# install it, a virtualenv with the grader and its TensorFlow and test extras, `grade --doctor`,
# then the example submission graded into grades/.
#
# Safe to run again, from any folder.  Environment:
#   GRADER_VENV   the virtualenv to create or reuse (default: .venv in this repository)
#   PYTHON        the interpreter that creates it (default: python3; 3.11 or newer)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${GRADER_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

say() { echo "setup.sh: $*" >&2; }

# System packages this machine lacks: bubblewrap, and python3-venv where Debian's python3 has no
# ensurepip (without it `python3 -m venv` fails).
missing_packages() {
  command -v bwrap >/dev/null 2>&1 || echo bubblewrap
  if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then echo python3-venv; fi
}

# apt-get install, as root or through passwordless sudo; a fresh image has empty package lists,
# so a failed install is retried once after apt-get update.  Otherwise say the one line to run.
install_packages() {
  local packages sudo
  packages="$(missing_packages | tr '\n' ' ')"
  packages="${packages% }"
  [ -n "$packages" ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get here: install $packages with this system's package manager (e.g. dnf install $packages), then run $0 again"
    return 0
  fi
  if [ "$(id -u)" = 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    say "not installed: $packages (not root, no passwordless sudo); run: sudo apt-get update && sudo apt-get install -y $packages && $0"
    return 0
  fi
  say "installing $packages with apt-get"
  # $sudo unquoted on purpose: empty as root, two words otherwise.
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null 2>&1; then
    # In an && / || list, so that a failed update (no network) reaches the message instead of set -e.
    $sudo apt-get update -qq >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null ||
      say "apt-get could not install $packages; run: sudo apt-get update && sudo apt-get install -y $packages && $0"
  fi
}

check_python() {
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "$PYTHON is $("$PYTHON" -V 2>&1 || echo 'not found') but the grader needs Python 3.11 or newer; run: PYTHON=python3.11 $0"
    exit 1
  fi
}

install_packages
if [ -x "$VENV/bin/python" ]; then
  say "reusing the virtualenv $VENV"
else
  check_python
  "$PYTHON" -m venv "$VENV" || { say "$PYTHON -m venv $VENV failed; on Debian/Ubuntu run: sudo apt-get install python3-venv && $0"; exit 1; }
fi
"$VENV/bin/pip" install --quiet -e "$ROOT[tensorflow,test]"

# Leave MNIST in the grader's own cache (~/.cache/nn-grader/mnist, or under $XDG_CACHE_HOME), where
# grading and the tests (the README's second command) find it without a network: copied from
# $GRADER_MNIST_DIR or the shared copy beside the checkout when there, else the grader's verified download.
if [ -n "${GRADER_MNIST_DIR:-}" ]; then
  "$VENV/bin/python" -m grader.mnist --from "$GRADER_MNIST_DIR"
elif [ -d "$ROOT/../shared/data/mnist" ]; then
  "$VENV/bin/python" -m grader.mnist --from "$ROOT/../shared/data/mnist"
else
  "$VENV/bin/python" -m grader.mnist
fi
"$VENV/bin/grade" --doctor ||
  say "not every sandbox layer holds here (the fixes are above); grading still runs, with the layers that hold"
"$VENV/bin/grade" "$ROOT/submissions/2151131" --out "$ROOT/grades"
