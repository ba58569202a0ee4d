"""Build formats, each one registered unit in one file: its typed config, its one build verb, the backend that opens
its builds, its damage check, its model-card text and its build names.

Adding a format is one new file (a ``Format`` subclass) plus one ``formats.register`` line below, or an entry point
in the ``kizami.formats`` group; ``kizami run``, ``kizami eval``, the report and the bundles then handle it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from kizami.errors import KizamiError
from kizami.manifest import Manifest
from kizami.progress import Progress, no_progress
from kizami.registry import Registry

__all__ = ["Format", "Progress", "converter_side", "formats", "get_format", "build_names", "default_of"]

NameTag = Callable[[Any], str] | str | None


class _ConverterSide:
    """A class attribute that lives beside the format's converter (``"module:attr"``), imported on first access.

    A format's config class sits in its converter's module (quantize/ or export/), where the converter reads it. The
    reading side of a format (backend name, header check, card text) never touches it, so opening a build imports no
    converter; parsing a recipe or making a build does."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


def converter_side(target: str) -> Any:
    """``config = converter_side("kizami.export.gguf:GGUFConfig")``: the class, imported when first read."""
    return _ConverterSide(target)


class Format:
    """One build format. Subclasses set the class attributes and implement ``build`` (and override what differs)."""

    name: ClassVar[str]
    config: ClassVar[type]  # a frozen dataclass; its fields are the recipe keys of a [[build]] table
    backend: ClassVar[str]  # the runtime backend that opens this format's builds
    buildable: ClassVar[bool] = True  # False: a source format (the bf16 checkpoint), measured but never made
    library_name: ClassVar[str] = "transformers"  # the Hub's library_name in model cards
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
        raise KizamiError(f"{self.name} builds are not made by kizami (it is a source format)")

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        """The cheap header checks a build must pass before long work; raise with the problem and the fix."""

    def tags(self, m: Manifest) -> list[str]:
        return [self.name]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        """Model-card markdown; runnable snippets are fenced ``<lang> kizami:<name>`` (``kizami.snippets``)."""
        return ""

    def bundle_files(self, build: Path, m: Manifest, repo: str) -> dict[str, str]:
        """Extra text files a bundle of this format carries (name → content), e.g. an Ollama ``Modelfile``."""
        return {}


formats: Registry[Format] = Registry("format", entry_points="kizami.formats")
formats.register("hf", "kizami.formats.hf:HF")
formats.register("gptq", "kizami.formats.gptq:GPTQ")
formats.register("awq", "kizami.formats.awq:AWQ")
formats.register("gguf", "kizami.formats.gguf:GGUF")
formats.register("onnx", "kizami.formats.onnx:ONNX")


def get_format(name: str) -> Format:
    return formats.get(name)


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


def _suffix(fmt: Format, cfg: Any, ignore: tuple[str, ...]) -> list[str]:
    base = type(cfg)(**{f: getattr(cfg, f) for f in fmt.label_fields})  # defaults as they resolve for this label
    skip = {*fmt.label_fields, "version", *ignore}
    return [_tag(f.name, getattr(cfg, f.name), fmt.name_tags.get(f.name, "") or None)
            for f in dataclasses.fields(cfg) if f.name not in skip and fmt.name_tags.get(f.name, "") is not None
            and getattr(cfg, f.name) != getattr(base, f.name)]


def build_names(fmt: Format, cfg: Any) -> tuple[str, dict[str, str]]:
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
