#!/usr/bin/env bash
# Build helper for the Python service.
#
#   ./build.sh lint      run formatters and linters in check mode
#   ./build.sh test      run the test suite with coverage
#   ./build.sh package   build a wheel and a tarball under dist/
#   ./build.sh all       lint + test + package
#   ./build.sh clean     remove build artifacts
#
# Environment:
#   PYTHON   interpreter to use (default: python3)
#   CI       when set, fail on warnings and disable colors

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
VENV=".venv"
DIST="dist"
VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)"

if [[ -t 1 && -z "${CI:-}" ]]; then
    BOLD=$'\e[1m'; RED=$'\e[31m'; RESET=$'\e[0m'
else
    BOLD=""; RED=""; RESET=""
fi

step() { echo "${BOLD}==> $*${RESET}"; }
fail() { echo "${RED}error:${RESET} $*" >&2; exit 1; }

ensure_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        step "creating virtualenv in $VENV"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --upgrade pip
    fi
    # Reinstall dev deps only when the lock file changed since last time.
    local stamp="$VENV/.deps-stamp"
    if [[ ! -f "$stamp" || requirements-dev.txt -nt "$stamp" ]]; then
        step "installing dev dependencies"
        "$VENV/bin/pip" install --quiet -r requirements-dev.txt
        touch "$stamp"
    fi
}

do_lint() {
    ensure_venv
    step "ruff"
    "$VENV/bin/ruff" check src tests
    step "format check"
    "$VENV/bin/ruff" format --check src tests
    step "mypy"
    "$VENV/bin/mypy" src
}

do_test() {
    ensure_venv
    step "pytest"
    local extra=()
    [[ -n "${CI:-}" ]] && extra+=(-W error)
    "$VENV/bin/pytest" -q --cov=src --cov-report=term-missing "${extra[@]}" tests
}

do_package() {
    ensure_venv
    step "building version $VERSION"
    rm -rf "$DIST"
    mkdir -p "$DIST"
    SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION#v}" "$VENV/bin/python" -m build --outdir "$DIST" >/dev/null
    # Record checksums so the deploy job can verify what it downloads.
    (cd "$DIST" && sha256sum -- * > SHA256SUMS)
    step "artifacts"
    ls -lh "$DIST"
}

do_clean() {
    step "cleaning"
    rm -rf "$DIST" build ./*.egg-info .pytest_cache .mypy_cache .coverage htmlcov
    find . -name __pycache__ -type d -prune -not -path "./$VENV/*" -exec rm -rf {} +
}

main() {
    [[ $# -gt 0 ]] || set -- all
    local started=$SECONDS
    for target in "$@"; do
        case "$target" in
            lint)    do_lint ;;
            test)    do_test ;;
            package) do_package ;;
            clean)   do_clean ;;
            all)     do_lint; do_test; do_package ;;
            *)       fail "unknown target: $target" ;;
        esac
    done
    step "done in $((SECONDS - started))s"
}

main "$@"
