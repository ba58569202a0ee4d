"""Peak resident memory of this process, resettable (Linux: /proc/self/clear_refs), for per-measurement peaks."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

__all__ = ["reset_peak_rss", "peak_rss_mib", "ProcessMemory"]


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark; False where the platform cannot (then peaks are process-wide)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ProcessMemory:
    """``memory``/``reset_memory`` of the Backend protocol for engines whose memory is this process's (CPU engines)."""

    def reset_memory(self) -> None:
        reset_peak_rss()

    def memory(self) -> dict[str, float]:
        return {"peak_rss_mib": peak_rss_mib()}
