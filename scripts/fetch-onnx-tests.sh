#!/usr/bin/env bash
# Fetches ONNX's backend test data (shipped inside the onnx==1.22.0 wheel; later wheels dropped
# it) from PyPI and unpacks node/, simple/, pytorch-converted/, pytorch-operator/ and light/
# into .cache/onnx-backend/ (outside git). Idempotent: does nothing when already unpacked.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/onnx-backend
stamp="$dest/.complete-1.22.0"
[ -f "$stamp" ] && exit 0
command -v python3 >/dev/null || { echo "error: python3 is needed to fetch the ONNX test data" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" onnx==1.22.0 \
  || { echo "error: could not download onnx==1.22.0 from PyPI" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "onnx-1.22.0-*.whl"))[0]
prefix = "onnx/backend/test/data/"
keep = ("node/", "simple/", "pytorch-converted/", "pytorch-operator/", "light/")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        rest = name[len(prefix):] if name.startswith(prefix) else None
        if rest and rest.startswith(keep) and not name.endswith("/"):
            out = os.path.join(sys.argv[2], rest)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(z.read(name))
PY
touch "$stamp"
