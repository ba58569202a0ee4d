"""The engines and tools the set-up installs, as the tests ask for them.

On a developer's partial install a missing engine skips its tests with the reason. Under
``KIZAMI_REQUIRE_ENGINES=1`` (set by ``.ci/run``) it fails them instead: a broken set-up must never look like a
green run with most of the suite skipped.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

import pytest

__all__ = ["REQUIRED", "require", "require_tool"]

REQUIRED = os.environ.get("KIZAMI_REQUIRE_ENGINES") == "1"


def require(module: str) -> ModuleType:
    """Import an engine's module, or skip (fail under KIZAMI_REQUIRE_ENGINES=1) with the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is not installed ({exc}); `bash scripts/setup.sh` installs it"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)
        raise  # unreachable: skip raises


def require_tool(name: str) -> str:
    """A program on PATH (e.g. chromium), or skip (fail under KIZAMI_REQUIRE_ENGINES=1)."""
    path = shutil.which(name)
    if path is None:
        message = f"no {name} on PATH; `bash scripts/setup.sh` installs it where it can"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    assert path is not None
    return path
