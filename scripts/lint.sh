#!/usr/bin/env bash
# Lint and type-check: ruff over the tree, mypy over an installed copy of the package (the editable install maps
# quantize/, export/, runtime/ and calib_data/ into kizami.*, which mypy cannot follow). Zero findings or exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${KIZAMI_VENV:-.venv}/bin/python"
"$PY" -m ruff check .
SITE="$(mktemp -d)"
trap 'rm -rf "$SITE"' EXIT
rm -rf build  # setuptools merges an old build/lib into the copy: a module moved away would still be type-checked
"$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --target "$SITE" . >/dev/null
(cd "$SITE" && "$OLDPWD/$PY" -m mypy --config-file "$OLDPWD/pyproject.toml" -p kizami)
