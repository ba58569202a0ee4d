"""Calibration recipes: a TOML file naming sources, their domain, language and share of calibration tokens."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kizami.core.errors import CalibError
from kizami.core.tomlread import read_toml

log = logging.getLogger(__name__)

__all__ = ["DOMAINS", "Source", "Recipe", "load_recipe", "builtin_recipe_path"]

DOMAINS = ("code", "ja", "en")
_RECIPE_KEYS = {"name", "version", "seed", "heldout", "source"}
_SOURCE_KEYS = {"name", "path", "domain", "language", "share", "license", "field", "glob", "split"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    name: str
    path: str
    domain: str
    language: str
    share: float
    license: str = "unknown"
    field: str = "text"  # JSONL / dataset column holding the text
    glob: str = "*"  # for folders
    split: str = "train"  # for hub datasets

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise CalibError(f"source {self.name!r}: domain {self.domain!r} is not one of {', '.join(DOMAINS)}")
        if not (isinstance(self.share, (int, float)) and self.share > 0):
            raise CalibError(f"source {self.name!r}: share must be a positive number, got {self.share!r}")
        if not self.path:
            raise CalibError(f"source {self.name!r}: 'path' is empty; give builtin:<folder>, a folder, a file or hf:<dataset>")


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    name: str
    sources: tuple[Source, ...]
    seed: int = 0
    heldout: float = 0.25
    version: int = 1
    base_dir: str = "."  # relative source paths resolve against the recipe's folder

    def __post_init__(self) -> None:
        if not self.sources:
            raise CalibError(f"recipe {self.name!r} has no [[source]] entries")
        if not 0.0 < self.heldout < 0.9:
            raise CalibError(f"recipe {self.name!r}: heldout must be between 0 and 0.9, got {self.heldout}")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise CalibError(f"recipe {self.name!r}: source names must be unique, got {names}")

    def shares(self) -> dict[str, float]:
        total = sum(s.share for s in self.sources)
        return {s.name: s.share / total for s in self.sources}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "seed": self.seed, "heldout": self.heldout,
                "source": [asdict(s) for s in self.sources]}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def builtin_recipe_path(name: str = "default") -> Path:
    return Path(str(resources.files("kizami.calib_data") / "recipes" / f"{name}.toml"))


def load_recipe(spec: str | Path) -> Recipe:
    """Load ``default`` (the built-in recipe) or a TOML file; unknown keys are errors."""
    path = builtin_recipe_path() if str(spec) == "default" else Path(spec)
    data = read_toml(path, _RECIPE_KEYS, CalibError, "calibration recipe",
                     "use 'default' or a .toml file (see `kizami calib show default`)")
    raw_sources = data.get("source", [])
    if not isinstance(raw_sources, list):
        raise CalibError(f"{path}: 'source' must be an array of tables ([[source]])")
    sources = []
    for i, raw in enumerate(raw_sources):
        if not isinstance(raw, dict):
            raise CalibError(f"{path}: source #{i + 1} must be a table")
        bad = set(raw) - _SOURCE_KEYS
        missing = {"name", "path", "domain", "language", "share"} - set(raw)
        if bad or missing:
            raise CalibError(f"{path}: source #{i + 1}: " + "; ".join(
                ([f"unknown key(s) {sorted(bad)}"] if bad else []) + ([f"missing {sorted(missing)}"] if missing else [])))
        try:
            sources.append(Source(**raw))
        except TypeError as exc:
            raise CalibError(f"{path}: source #{i + 1}: {exc}") from None
    total = sum(s.share for s in sources)
    if sources and abs(total - 1.0) > 1e-6:
        log.warning("%s: source shares sum to %.4g, not 1; each share was divided by %.4g", path, total, total)
    try:
        return Recipe(name=str(data.get("name", path.stem)), version=int(data.get("version", 1)), seed=int(data.get("seed", 0)),
                      heldout=float(data.get("heldout", 0.25)), sources=tuple(sources), base_dir=str(path.parent))
    except (TypeError, ValueError) as exc:
        raise CalibError(f"{path}: {exc}") from None
