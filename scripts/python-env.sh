#!/usr/bin/env bash
# python-env.sh: create or reuse qweave's Python virtual environment at <repo>/.cache/venv.
#
# The Python side of qweave (the generators of the real-model test fixtures under
# tests/models/, which use onnx, onnxruntime, qonnx, numpy and scikit-learn) runs in this venv.
# Callers run this script first and then use `.cache/venv/bin/python`, for example:
#
#     scripts/python-env.sh && .cache/venv/bin/python tests/models/make_digits.py
#
# It needs only `python3` (>= 3.11, with the standard venv/ensurepip modules) and access to
# PyPI. The packages of scripts/requirements.txt are installed only when that file changed
# since the last install: the sha256 of the file installed last is kept in the venv as a stamp.
# A venv whose interpreter no longer runs (for example after python3 itself was replaced) is
# rebuilt. Concurrent callers are serialised with flock when it is available.
#
# Prints nothing on success; on failure prints the failing step's output to stderr and exits
# non-zero.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$repo/.cache"
venv="$cache/venv"
req="$repo/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"

mkdir -p "$cache"

# Serialise concurrent runs (two scripts setting up the venv at the same time would clash).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/venv.lock"
    flock 9
fi

log="$(mktemp "${TMPDIR:-/tmp}/qweave-python-env.XXXXXX")"
trap 'rm -f "$log"' EXIT

# Runs "$@" with its output captured; on failure prints that output and a message, and exits.
run() {
    local what="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: python-env.sh: $what failed" >&2
        exit 1
    fi
}

command -v python3 >/dev/null 2>&1 || {
    echo "error: python-env.sh: python3 (>= 3.11) is needed" >&2
    exit 1
}

# Create the venv, or rebuild it when its interpreter is broken.
if ! { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' >/dev/null 2>&1; }; then
    rm -rf "$venv"
    run "creating the venv with 'python3 -m venv' (on Debian/Ubuntu install python3-venv)" \
        python3 -m venv "$venv"
fi

# sha256 of requirements.txt, computed with the venv's Python so no sha256sum is needed.
want="$("$venv/bin/python" -c \
    'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$req")"
have="$(cat "$stamp" 2>/dev/null || true)"

if [[ "$want" != "$have" ]]; then
    rm -f "$stamp"
    run "installing scripts/requirements.txt" \
        "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$req"
    printf '%s\n' "$want" >"$stamp"
fi
