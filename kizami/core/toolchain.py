"""The llama.cpp toolchain from one pinned source: the llama-cpp-python source archive.

From that archive kizami takes llama.cpp's converter (``convert_hf_to_gguf.py`` with its own ``gguf-py``) and builds
the tools ``llama-quantize``, ``llama-imatrix``, ``llama-perplexity``, ``llama-bench``, ``llama-batched-bench`` (the
engine's own batched throughput, a benchmark's yardstick), ``llama-gguf-split`` and
``llama-server`` (without its web UI: nothing is downloaded) into a cache folder. A user
with a llama.cpp checkout of their own sets ``KIZAMI_LLAMA_CPP`` to it instead.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kizami.core.errors import KizamiError, ToolMissing

__all__ = ["LLAMA_CPP_PYTHON_VERSION", "TOOLS", "Toolchain", "cache_dir", "find", "source_archive", "build"]

log = logging.getLogger(__name__)

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
TOOLS = ("llama-quantize", "llama-imatrix", "llama-perplexity", "llama-bench", "llama-batched-bench", "llama-gguf-split",
         "llama-server")
# Intel AMX tiles: -march=native turns on ggml's AMX kernels where the CPU reports AMX, but a virtual machine may
# report it without letting a process use the tiles (seen here: every matmul segfaults). The kernels only help a
# few quantization types, so kizami builds without them. setup.sh passes the same flags to the Python bindings.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
_CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
    # llama-server runs the bundles' model-card snippets; its web UI would be fetched from the network or built
    # with npm, so it is left out (the HTTP API is all kizami and the cards use).
    "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF",
    *((f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}") if platform.machine() in ("x86_64", "AMD64") else ()),
)
_STAMP = "build-flags.txt"  # the flags the tools were built with: other flags mean a rebuild


def cache_dir() -> Path:
    root = os.environ.get("KIZAMI_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "kizami")
    return Path(root)


@dataclass(frozen=True, slots=True)
class Toolchain:
    root: Path  # a llama.cpp source tree
    bin_dir: Path

    @property
    def converter(self) -> Path:
        return self.root / "convert_hf_to_gguf.py"

    @property
    def gguf_py(self) -> Path:
        return self.root / "gguf-py"

    def tool(self, name: str) -> Path:
        path = self.bin_dir / name
        if not path.is_file():
            raise ToolMissing(f"{name} not found in {self.bin_dir}; run `kizami toolchain build` (about 5 min on 2 cores)")
        return path

    def missing(self) -> list[str]:
        lacking = [t for t in TOOLS if not (self.bin_dir / t).is_file()]
        if not self.converter.is_file():
            lacking.insert(0, "convert_hf_to_gguf.py")
        return lacking


def _default_root() -> Path:
    return cache_dir() / f"llama.cpp-{LLAMA_CPP_PYTHON_VERSION}"


def find() -> Toolchain:
    """The user's checkout (``KIZAMI_LLAMA_CPP``) if set, else kizami's cached build (which may be incomplete)."""
    if user := os.environ.get("KIZAMI_LLAMA_CPP"):
        root = Path(user).expanduser()
        if not (root / "convert_hf_to_gguf.py").is_file():
            raise ToolMissing(f"KIZAMI_LLAMA_CPP={user} has no convert_hf_to_gguf.py; point it at a llama.cpp checkout")
        return Toolchain(root, root / "build" / "bin")
    root = _default_root()
    return Toolchain(root / "src", root / "bin")


def _run(cmd: list[str], **kw) -> None:
    log.info("$ %s", " ".join(map(str, cmd)))
    proc = subprocess.run(cmd, **kw)
    if proc.returncode != 0:
        raise KizamiError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}")


def fetch_source(dest: Path) -> Path:
    """Download the pinned llama-cpp-python source archive with pip (which checks the index's hash) or reuse it."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    if not archive.is_file():
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python", "-q",
                  "-d", tmp, f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"])
            (found,) = Path(tmp).glob("*.tar.gz")
            os.replace(found, archive)
    return archive


def source_archive() -> Path:
    """The pinned source archive in kizami's cache (downloaded on first use)."""
    return fetch_source(_default_root())


def _extract_vendor(archive: Path, dest: Path) -> None:
    """Extract ``vendor/llama.cpp`` from the archive into ``dest`` (refusing links and paths that escape)."""
    stage = dest.with_name(dest.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    with tarfile.open(archive) as tar:
        members = []
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if len(parts) > 3 and parts[1:3] == ("vendor", "llama.cpp") and (m.isfile() or m.isdir()):
                if ".." in parts:
                    raise KizamiError(f"{archive}: refusing entry {m.name!r}")
                m.name = str(Path(*parts[3:]))
                members.append(m)
        tar.extractall(stage, members=members, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(stage, dest)


def build(*, jobs: int | None = None, force: bool = False) -> Toolchain:
    """Fetch the pinned source, extract llama.cpp and build the tools; a re-run skips what is complete."""
    root = _default_root()
    chain = Toolchain(root / "src", root / "bin")
    flags = " ".join(_CMAKE_FLAGS)
    stamp = chain.bin_dir / _STAMP
    if not force and not chain.missing() and stamp.is_file() and stamp.read_text() == flags:
        return chain
    archive = source_archive()
    if force or not chain.converter.is_file():
        _extract_vendor(archive, chain.root)
    if shutil.which("cmake") is None:
        raise ToolMissing("cmake not found; install it (apt-get install cmake) and re-run `kizami toolchain build`")
    build_dir = root / "build"
    jobs = jobs or os.cpu_count() or 2
    _run(["cmake", "-S", str(chain.root), "-B", str(build_dir), *_CMAKE_FLAGS])
    _run(["cmake", "--build", str(build_dir), "--config", "Release", "-j", str(jobs), "--target", *TOOLS])
    stage = root / "bin.partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    for tool in TOOLS:
        shutil.copy2(build_dir / "bin" / tool, stage / tool)
    (stage / _STAMP).write_text(flags)
    shutil.rmtree(chain.bin_dir, ignore_errors=True)
    os.replace(stage, chain.bin_dir)
    return chain
