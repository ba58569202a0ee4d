"""The building side of each format, next to its converter: the typed config (which lives in the converter's module,
where the converter reads it), the one build verb, and the build names derived from the config. Mixed precision
(``mixed``) chooses per-layer types for the GPTQ and GGUF builders.

A format's reading side (``kizami.formats``) names its builder by a ``"module:attr"`` string; ``get_builder``
resolves it, so only making a build (or parsing a recipe) imports a converter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, no_progress
from kizami.formats import get_format

__all__ = ["Builder", "NameTag", "Progress", "get_builder", "build_names", "default_of"]

NameTag = Callable[[Any], str] | str | None


class Builder:
    """The building side of one format: its typed config and build verb, and how its builds are named. Subclasses set
    the class attributes and implement ``build`` (and override what differs)."""

    name: ClassVar[str]  # the format's name (``kizami.formats``)
    config: ClassVar[type]  # a frozen dataclass; its fields are the recipe keys of a [[build]] table
    label_fields: ClassVar[tuple[str, ...]] = ()  # fields the name always shows (``label``)
    # How each other non-default field appears in the build name: a tag, a function of the value, or None (the field
    # does not change the weights: threads, device, metadata). Fields not listed appear as ``<field><value>``.
    name_tags: ClassVar[Mapping[str, NameTag]] = {}
    recipe_exclude: ClassVar[tuple[str, ...]] = ("version",)  # config fields a recipe may not set
    plural_keys: ClassVar[Mapping[str, str]] = {}  # recipe key holding a list → one build per item of that field
    fixed_type_keys: ClassVar[tuple[str, ...]] = ()  # keys that fix the type, which a `budget` build chooses itself

    def needs_calibration(self, cfg: Any) -> bool:
        return False

    def check_config(self, model: Path, cfg: Any) -> None:
        """Checks of ``cfg`` against the checkpoint ``model``, made before any work (a calibration set included)."""

    def label(self, cfg: Any) -> list[str]:
        return []

    def name_ignores(self, cfg: Any, stem: str) -> tuple[str, ...]:
        """Fields that do not change the build ``stem`` (e.g. imatrix settings for a type that learns none)."""
        return ()

    def outputs(self, cfg: Any) -> tuple[str, ...]:
        """The stems of the builds one config makes (the keys of ``build``'s result); "" = one build, named by
        ``label``."""
        return ("",)

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = no_progress) -> dict[str, Path]:
        """Make the builds of ``cfg`` from the checkpoint ``model`` under ``out``; keys as in ``outputs``."""
        raise NotImplementedError


def get_builder(name: str) -> Builder:
    """The building side of format ``name``; a one-line error for a source format or an unknown name."""
    fmt = get_format(name)
    found = fmt.builder
    if found is None:
        raise KizamiError(f"{name} builds are not made by kizami (it is a source format)")
    if isinstance(found, str):
        module, _, attr = found.partition(":")
        found = getattr(importlib.import_module(module), attr)
    if not isinstance(found, Builder):
        raise KizamiError(f"format {name!r} names {fmt.builder!r} as its builder, which is not a kizami Builder")
    return found


def default_of(cls: type, name: str) -> Any:
    """A config class's default for one field: the CLI's option defaults come from here, never from a copy."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise KeyError(name)


def _tag(field: str, value: Any, how: NameTag) -> str:
    if callable(how):
        return how(value)
    if isinstance(how, str):
        return how
    if isinstance(value, (tuple, list)):
        value = hashlib.sha256(repr(value).encode()).hexdigest()[:6]
    return f"{field.replace('_', '')}{value}".replace("/", "_").replace(" ", "")


def _suffix(fmt: Builder, cfg: Any, ignore: tuple[str, ...]) -> list[str]:
    base = type(cfg)(**{f: getattr(cfg, f) for f in fmt.label_fields})  # defaults as they resolve for this label
    skip = {*fmt.label_fields, "version", *ignore}
    return [_tag(f.name, getattr(cfg, f.name), fmt.name_tags.get(f.name, "") or None)
            for f in dataclasses.fields(cfg) if f.name not in skip and fmt.name_tags.get(f.name, "") is not None
            and getattr(cfg, f.name) != getattr(base, f.name)]


def build_names(fmt: Builder, cfg: Any) -> tuple[str, dict[str, str]]:
    """The step's folder name, and build name → output stem (a key of ``fmt.build``'s result), derived from every
    field of ``cfg`` that is not its default (given the label fields), so two configs that make different weights
    never share a name:
    ``gptq-w4g128-act``, ``gguf-q4_k_m``, ``onnx-int4-cuda``."""
    step = "-".join([fmt.name, *fmt.label(cfg), *_suffix(fmt, cfg, ())])
    names = {}
    for stem in fmt.outputs(cfg):
        parts = [fmt.name, *([stem] if stem else fmt.label(cfg)), *_suffix(fmt, cfg, fmt.name_ignores(cfg, stem))]
        names["-".join(p for p in parts if p)] = stem
    return step, names
