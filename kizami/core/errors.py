"""kizami's error types. The CLI turns any ``KizamiError`` into one line and exit code 1."""

from __future__ import annotations

__all__ = [
    "KizamiError",
    "UnknownName",
    "ManifestError",
    "CalibError",
    "BackendUnavailable",
    "Unsupported",
    "ToolMissing",
]


class KizamiError(Exception):
    """Root of every error kizami raises on purpose; the message says what failed and how to fix it."""


class UnknownName(KizamiError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ManifestError(KizamiError):
    """A build folder's manifest is missing, malformed or does not match the files."""


class CalibError(KizamiError):
    """A calibration recipe, source or task file is unusable."""


class BackendUnavailable(KizamiError):
    """An engine needed for this build is not installed."""


class Unsupported(KizamiError):
    """A backend lacks a capability a metric needs (e.g. FIM tokens)."""


class ToolMissing(KizamiError):
    """An external tool (llama.cpp binary, converter) is not found."""
