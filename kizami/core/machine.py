"""What this machine is: the CPU's vector features that decide which kernels engines use (``kizami doctor`` shows them;
every evaluation records them next to its timings)."""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["cpu_features"]

_CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "neon", "asimd")


def cpu_features() -> list[str]:
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
                break
    return [f for f in _CPU_FLAGS if f in flags]
