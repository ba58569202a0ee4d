"""Build formats, each one registered unit: the reading side of a format (the backend that opens its builds, its
header checks, its model-card text and bundle files) lives here, and names its building side (typed config, build
verb, build names), which sits next to the converters in ``kizami.builders``.

Opening or checking a build reaches no converter by construction: nothing here imports ``kizami.builders``,
``kizami.quantize`` or ``kizami.export``; a format names its builder as a ``"module:attr"`` string that only a build
resolves (``kizami.builders.get_builder``). Adding a format is one ``Format`` subclass and its ``Builder`` (one file
for a plugin, which may hold both) plus one ``formats.register`` line below, or an entry point in the
``kizami.formats`` group; ``kizami run``, ``kizami eval``, the report and the bundles then handle it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kizami.core.manifest import Manifest
from kizami.core.registry import Registry

__all__ = ["Format", "formats", "get_format"]


class Format:
    """The reading side of one build format. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    backend: ClassVar[str]  # the runtime backend that opens this format's builds
    library_name: ClassVar[str] = "transformers"  # the Hub's library_name in model cards
    # The building side: a ``kizami.builders.Builder``, or its "module:attr" (imported only when a build is made);
    # None for a source format (the bf16 checkpoint), measured but never made.
    builder: ClassVar[Any] = None

    @property
    def buildable(self) -> bool:
        return self.builder is not None

    def check(self, path: Path, *, allow_pickle: bool = False) -> None:
        """The cheap header checks a build must pass before long work; raise with the problem and the fix."""

    def tags(self, m: Manifest) -> list[str]:
        return [self.name]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        """Model-card markdown; runnable snippets are fenced ``<lang> kizami:<name>`` (``kizami.formats.snippets``)."""
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
