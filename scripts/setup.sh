#!/usr/bin/env bash
# Install kizami and every engine it drives into ./.venv. Idempotent: a re-run installs only what is missing.
#
#   bash scripts/setup.sh              CPU machine: torch 2.13.0 (CPU), transformers, gptqmodel 7.6.0 + optimum,
#                                      llama.cpp (bindings + tools), onnxruntime + onnxruntime-genai, Ray (the `ray`
#                                      extra: `kizami run --ray`, and its tests on a local cluster), test tools
#                                      and, as root, the Debian toolchains that run HumanEval in other languages
#   bash scripts/setup.sh --gpu        GPU machine: reuse the machine's CUDA torch (system site-packages) and install
#                                      onnxruntime-gpu instead of onnxruntime (never both: they share one package dir)
set -euo pipefail
cd "$(dirname "$0")/.."

GPU=0
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    *) echo "setup.sh: unknown option $arg (use --gpu)" >&2; exit 2 ;;
  esac
done

VENV="${KIZAMI_VENV:-.venv}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q -c requirements/constraints.txt)
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -x "$PY" ]; then
  step "creating $VENV"
  if [ "$GPU" = 1 ]; then python3 -m venv --system-site-packages "$VENV"; else python3 -m venv "$VENV"; fi
fi

step "installing kizami and its Python dependencies"
if [ "$GPU" = 1 ]; then
  # Keep the machine's CUDA torch (visible through --system-site-packages): drop the CPU pins from the constraints.
  "$PY" -c "import torch" 2>/dev/null || { echo "setup.sh --gpu: no torch on this machine; install a CUDA torch first" >&2; exit 1; }
  GPU_CONSTRAINTS="$(mktemp)"
  grep -v -E '^(torch|torchao|onnxruntime|onnxruntime-genai)==' requirements/constraints.txt > "$GPU_CONSTRAINTS"
  "$PY" -m pip install --disable-pip-version-check -q -c "$GPU_CONSTRAINTS" -e ".[test,ray]" \
    "onnxruntime-gpu>=1.31,<1.32" "onnxruntime-genai-cuda>=0.18,<0.19" onnx onnx-ir gptqmodel==7.6.0 optimum
  rm -f "$GPU_CONSTRAINTS"
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_CUDA=ON}"
else
  # onnx + onnx-ir: the ONNX builder imports them undeclared. gptqmodel compiles nothing at install (its kernels are
  # JIT-built on first use, which kizami turns off on CPU).
  "${PIP[@]}" -e ".[test,quantize,ray]" onnxruntime onnxruntime-genai onnx onnx-ir
fi

# No Intel AMX kernels (see kizami/core/toolchain.py: a VM may report AMX that a process cannot use; every matmul
# crashes). CMake takes its initial C/C++ flags from CFLAGS/CXXFLAGS.
NO_AMX=""
[ "$(uname -m)" = x86_64 ] && NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
WHEEL_TAG="noamx1"  # bump when the build flags change: a cached wheel built otherwise is not reused
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '0.3.36')" 2>/dev/null \
   || [ "$(cat "$VENV/.llama-cpp-build" 2>/dev/null)" != "$WHEEL_TAG" ]; then
  step "building llama-cpp-python 0.3.36 from its source archive (≈5 min on 2 cores, cached afterwards)"
  ARCHIVE="$("$VENV/bin/kizami" toolchain source)"
  WHEELS="$(dirname "$ARCHIVE")/wheels-$WHEEL_TAG"
  mkdir -p "$WHEELS"
  if ! ls "$WHEELS"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    CFLAGS="$NO_AMX" CXXFLAGS="$NO_AMX" CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" "$PY" -m pip wheel --disable-pip-version-check -q --no-deps \
      -c requirements/constraints.txt -w "$WHEELS" "$ARCHIVE"
  fi
  # replace a same-version install built with other flags, then add its dependencies (diskcache, ...) if missing
  "${PIP[@]}" --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-0.3.36-*.whl
  "${PIP[@]}" "$WHEELS"/llama_cpp_python-0.3.36-*.whl
  echo "$WHEEL_TAG" > "$VENV/.llama-cpp-build"
fi

step "llama.cpp converter and tools (llama-quantize, llama-imatrix, llama-perplexity, llama-bench, llama-server)"
"$VENV/bin/kizami" toolchain build

if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  step "Debian's chromium (renders the HTML report in the tests)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; } ||
    echo "setup.sh: could not install chromium; the HTML rendering test will be skipped" >&2
fi

# HumanEval in other languages (kizami.calib_data.multipl) runs programs with these toolchains, from the system
# folders the sandbox's unprivileged uid can run (a rustup compiler under /root is not one of them).
on_sandbox_path() { for d in /usr/local/bin /usr/bin /bin; do [ -x "$d/$1" ] && return 0; done; return 1; }
LANG_MISSING=""
for tool_pkg in node:nodejs tsc:node-typescript g++:g++ javac:default-jdk-headless go:golang-go rustc:rustc \
                php:php-cli ruby:ruby perl:perl bash:bash Rscript:r-base-core; do
  on_sandbox_path "${tool_pkg%%:*}" || LANG_MISSING="$LANG_MISSING ${tool_pkg#*:}"
done
if [ -n "$LANG_MISSING" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  step "Debian toolchains for HumanEval in other languages:$LANG_MISSING"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # one package per word
  { apt-get install -y -qq --no-install-recommends $LANG_MISSING >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $LANG_MISSING >/dev/null; }; } ||
    echo "setup.sh: could not install$LANG_MISSING; those languages' programs cannot be run" >&2
elif [ -n "$LANG_MISSING" ]; then
  echo "setup.sh: not root or no apt-get: install$LANG_MISSING for HumanEval in those languages" >&2
fi

step "ready — $VENV/bin/kizami doctor shows what is installed"
