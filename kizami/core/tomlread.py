"""Reading a TOML file whose top-level keys are known: the one read-and-check both recipe loaders share (the run
recipe, ``kizami.run.recipe``; the calibration mixture, ``kizami.calib_data.recipe``)."""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any

from kizami.core.errors import KizamiError

__all__ = ["read_toml"]


def read_toml(path: Path, allowed: Collection[str], error: type[KizamiError], what: str, missing_hint: str) -> dict[str, Any]:
    """The file's tables; ``error`` (one line) when the ``what`` file is missing (with ``missing_hint``), not TOML, or
    has a top-level key outside ``allowed``."""
    if not path.is_file():
        raise error(f"{what} {path} not found; {missing_hint}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - set(allowed)
    if unknown:
        raise error(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return data
