"""``kizami doctor``: what is installed, what the machine can do, and what is missing with the command that fixes it."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from kizami.core import toolchain
from kizami.core.languages import TOOLCHAINS, missing_tool, toolchain_version
from kizami.core.machine import cpu_features

__all__ = ["Check", "run_checks"]

_SETUP = "bash scripts/setup.sh"
# (distribution, why kizami needs it, the command that installs it)
_ENGINES = (
    ("torch", "bf16 reference, GPTQ/AWQ runtime", f"{_SETUP}  (installs torch==2.13.0 from the constraints file)"),
    ("transformers", "model loading and tokenizers", _SETUP),
    ("tokenizers", "fast tokenizers", _SETUP),
    ("safetensors", "weights I/O", _SETUP),
    ("llama-cpp-python", "GGUF runtime", f"{_SETUP}  (builds llama-cpp-python {toolchain.LLAMA_CPP_PYTHON_VERSION} from source)"),
    ("onnxruntime", "ONNX runtime (CPU)", _SETUP),
    ("onnxruntime-genai", "ONNX model builder and runtime", _SETUP),
    ("gptqmodel", "GPTQ and AWQ quantizers", _SETUP),
    ("optimum", "transformers' GPTQ loader", _SETUP),
)


@dataclass(frozen=True, slots=True)
class Check:
    group: str
    name: str
    ok: bool
    value: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _gpu() -> Check:
    if _version("torch") is None:
        return Check("machine", "GPU", True, "unknown (torch not installed)")
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return Check("machine", "GPU", True, f"{names} (CUDA {torch.version.cuda})")
    return Check("machine", "GPU", True, "none (CPU only; GPTQ/AWQ on the 8B need a CUDA GPU)")


def run_checks() -> list[Check]:
    checks = []
    for dist, why, fix in _ENGINES:
        version = _version(dist)
        checks.append(Check("engines", dist, version is not None, version or f"missing — {why}", "" if version else fix))
    if _version("onnxruntime") and _version("onnxruntime-gpu"):
        checks.append(Check("engines", "onnxruntime packages", False, "both onnxruntime and onnxruntime-gpu are installed; "
                            "they overwrite one package folder and one of them is broken",
                            "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu  (or onnxruntime on CPU)"))
    try:
        chain = toolchain.find()
        missing = chain.missing()
        checks.append(Check("llama.cpp", "source", chain.converter.is_file(), str(chain.root),
                            "" if chain.converter.is_file() else "kizami toolchain build"))
        for tool in toolchain.TOOLS:
            path = chain.bin_dir / tool
            checks.append(Check("llama.cpp", tool, tool not in missing, str(path) if tool not in missing else "missing",
                                "" if tool not in missing else "kizami toolchain build  (≈5 min on 2 cores)"))
    except Exception as exc:  # a bad KIZAMI_LLAMA_CPP is reported, not raised
        checks.append(Check("llama.cpp", "source", False, str(exc), "unset KIZAMI_LLAMA_CPP or fix the path"))
    for lang in TOOLCHAINS.values():  # HumanEval in other languages: the sandbox compiles and runs with these
        absent = missing_tool(lang.language)
        version = None if absent else toolchain_version(lang.language)
        checks.append(Check("languages", f"{lang.name} ({lang.language})", absent is None,
                            version or (f"missing {absent}" if absent else "installed (no version answer)"),
                            f"apt-get install {lang.debian}  (or {_SETUP} as root)" if absent else ""))
    checks.append(Check("machine", "platform", True, f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"))
    checks.append(Check("machine", "CPU", True, f"{os.cpu_count()} cores; features: {' '.join(cpu_features()) or 'none detected'}"))
    checks.append(_gpu())
    for label, path in (("disk (cache)", toolchain.cache_dir()), ("disk (here)", Path.cwd())):
        probe = path if path.exists() else path.parent if path.parent.exists() else Path.home()
        free = shutil.disk_usage(probe).free / 2**30
        checks.append(Check("machine", label, free > 20, f"{free:.1f} GiB free at {probe}",
                            "" if free > 20 else "an 8B model needs ≈ 16 GiB (bf16) plus ≈ 5–9 GiB per build"))
    return checks
